"""Time the 30 mm segment-8 demo plan end to end (search, fine confirmation, thermal).

Builds the built-in phantom through the case layer (``irelab.case.parse_case``), plans it with
the default options (2 mm search grid, 1 mm confirmation and repair, full 90-pulse schedule for
the thermal model) and prints the total, the breakdown, the placements of the probe array
(pullbacks and sideways repositioning) and the machine's load (the search stops at
``PlanOptions.time_budget_s``, so on a busy machine it tries fewer moves rather than taking
longer). Run:

    .venv/bin/python benchmarks/plan.py [--phantom segment8-30mm|elongated-55mm] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import time

from irelab.case import parse_case
from irelab.plan import PlanOptions, plan_treatment
from irelab.plan.phantom import PHANTOMS, phantom_mapping


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantom", default="segment8-30mm", choices=sorted(PHANTOMS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    case = parse_case(phantom_mapping(args.phantom), source=f"<phantom {args.phantom}>")
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    result = plan_treatment(case, PlanOptions())
    total = time.perf_counter() - t0
    t = result.timings
    figures = {
        "phantom": args.phantom,
        "cpus": os.cpu_count(),
        "load_1min_before": round(load_before, 2),
        "load_1min_after": round(os.getloadavg()[0], 2),
        "total_s": round(total, 2),
        "search_s": round(t.search_s, 2),
        "confirmation_s": round(t.confirm_s, 2),
        "thermal_s": round(t.thermal_s, 2),
        "coarse_solves": t.coarse_solves,
        "fine_solves": t.fine_solves,
        "coverage_percent": math.floor(result.coverage * 1e5) / 1e3,
        "healthy_cm3": round(result.healthy_cm3, 3),
        "probes": result.layout.n_probes,
        "pairs": len(result.layout.pairs),
        "positions": result.layout.n_positions,
        "exposed_mm": round(result.layout.exposed_m * 1e3, 1),
        "placements": [{"back_mm": q.back_mm, "shift_mm": list(q.shift_mm)}
                       for q in result.case.protocol.placements],
        "voltages_V": [round(v) for v in result.layout.voltages_V],
        "currents_A": [round(float(c), 1) for c in result.fine.pair_currents_A()],
        "currents_per_placement_A": [[round(float(c), 1) for c in row]
                                     for row in result.fine.currents_A],
        "thermal_peak_C": {} if result.thermal is None else {
            name: round(region.peak_temperature_C, 1)
            for name, region in result.thermal.regions.items()},
        "feasible": result.feasible,
        "failures": result.failures,
        "peak_rss_MiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{args.phantom}: plan in {total:.1f} s (search {t.search_s:.1f} s with "
          f"{t.coarse_solves} coarse pair solves, fine confirmation {t.confirm_s:.1f} s with "
          f"{t.fine_solves} fine pair solves, thermal {t.thermal_s:.1f} s)")
    print(f"coverage {figures['coverage_percent']:.3f} %, "
          f"healthy ablated {result.healthy_cm3:.2f} cm3, "
          f"{result.layout.n_probes} probes, {len(result.layout.pairs)} pairs, "
          f"{result.layout.n_positions} placement(s); feasible: {result.feasible}")
    for i, q in enumerate(figures["placements"]):
        print(f"  placement {i + 1}: back {q['back_mm']:g} mm, shifted {q['shift_mm']} mm")
    for failure in result.failures:
        print(f"  fails: {failure}")
    print(f"voltages {figures['voltages_V']} V, currents {figures['currents_A']} A; "
          f"thermal peaks {figures['thermal_peak_C']} C")
    print(f"peak RSS {figures['peak_rss_MiB']} MiB; {figures['cpus']} CPUs, 1-min load "
          f"{figures['load_1min_before']} before, {figures['load_1min_after']} after")


if __name__ == "__main__":
    main()
