"""Time the planner: the built-in 30 mm demo and 55 mm phantoms and the planning test set.

Each phantom is planned with the default options (2 mm search grid, 1 mm confirmation with its
repairs, the thermal model with the generator's 10 test + 90 pulses per pair and its repairs,
two worker processes) and printed with its wall time per stage (search / confirmation and
repair / thermal), its CPU time, the pair solves, what the plan achieves and the machine's load
before and after. The work budget is
counted, never timed, so on a busy machine the same plan only takes longer. The test set's
median time is printed at the end, with the ratio of each built-in phantom's time to it.

    .venv/bin/python benchmarks/plan.py [--phantom NAME ...] [--spacing-mm 1] [--json]

``--phantom``: any of the built-in phantoms (``segment8-30mm``, ``elongated-55mm``) or the test
set's names; ``all`` (default) plans them all, ``builtin`` the two built-in ones, ``set`` the
test set.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import time
from dataclasses import replace

from irelab.case import parse_case
from irelab.plan import PlanOptions, plan_treatment
from irelab.plan.phantom import PHANTOMS, phantom_mapping
from irelab.plan.testset import PLANNING_SET, case_mapping

SETS = {"builtin": list(PHANTOMS), "set": [s.name for s in PLANNING_SET]}


def _case(name: str):
    if name in PHANTOMS:
        return parse_case(phantom_mapping(name), source=f"<phantom {name}>")
    spec = next(s for s in PLANNING_SET if s.name == name)
    return parse_case(case_mapping(spec), source=f"<planning set {name}>")


class StageClock:
    """Wall seconds per stage (the text before the first ':' of each progress message)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stage: str | None = None
        self._since = time.perf_counter()

    def __call__(self, stage: str, fraction: float) -> None:
        now = time.perf_counter()
        if self._stage is not None:
            self.seconds[self._stage] = self.seconds.get(self._stage, 0.0) + now - self._since
        self._stage, self._since = stage.split(":")[0].split(" (")[0], now


def run(name: str, options: PlanOptions) -> dict:
    """Plan one phantom and return its figures."""
    case = _case(name)
    load_before = os.getloadavg()[0]
    cpu0 = time.process_time()
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    clock = StageClock()
    t0 = time.perf_counter()
    result = plan_treatment(case, options, clock)
    total = time.perf_counter() - t0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (time.process_time() - cpu0 + children.ru_utime - children0.ru_utime
           + children.ru_stime - children0.ru_stime)
    t = result.timings
    margin = result.margin
    return {
        "phantom": name,
        "feasible": result.feasible,
        "tumour_covered": margin.tumour_covered,
        "minimal_margin_mm": margin.achieved_mm,
        "coverage_percent": math.floor(result.coverage * 1e5) / 1e3,
        "probes": result.layout.n_probes,
        "placements": result.layout.n_positions,
        "pairs": len(result.layout.pairs),
        "voltages_V": [round(v) for v in result.layout.voltages_V],
        "max_current_A": round(result.fine.max_current_A, 1),
        "thermal_peak_C": {} if result.thermal is None else {
            n: round(r.peak_temperature_C, 1) for n, r in result.thermal.regions.items()
            if n in result.target.critical},
        "total_s": round(total, 1),
        "cpu_s": round(cpu, 1),
        "search_s": round(t.search_s, 1),
        "confirmation_s": round(t.confirm_s, 1),
        "thermal_s": round(t.thermal_s, 1),
        "search_solves": t.coarse_solves,
        "confirmation_solves": t.fine_solves,
        "stages_s": {k: round(v, 1) for k, v in clock.seconds.items()},
        "failures": result.failures,
        "load_1min_before": round(load_before, 2),
        "load_1min_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phantom", nargs="*", default=["all"])
    parser.add_argument("--spacing-mm", type=float, default=1.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names: list[str] = []
    for entry in args.phantom:
        names += (SETS["builtin"] + SETS["set"] if entry == "all" else SETS.get(entry, [entry]))
    options = replace(PlanOptions(), fine_spacing_m=args.spacing_mm * 1e-3)
    print(f"{os.cpu_count()} CPUs, {options.workers} worker processes, confirmation grid "
          f"{args.spacing_mm:g} mm; 1-min load {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for name in names:
        row = run(name, options)
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
            continue
        margin = ("tumour NOT covered" if not row["tumour_covered"]
                  else f"margin {row['minimal_margin_mm']:.1f} mm")
        print(f"{name:22s} {row['total_s']:7.1f} s (search {row['search_s']:.1f}, confirm "
              f"{row['confirmation_s']:.1f}, thermal {row['thermal_s']:.1f}; CPU "
              f"{row['cpu_s']:.1f} s; {row['search_solves']}+{row['confirmation_solves']} "
              f"solves) {'feasible' if row['feasible'] else 'INFEASIBLE'}, {margin}, "
              f"{row['probes']} probes x {row['placements']} placements, "
              f"{row['max_current_A']} A; load {row['load_1min_before']:.1f} -> "
              f"{row['load_1min_after']:.1f}", flush=True)
        print("    stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in row["stages_s"].items()),
              flush=True)
        for failure in row["failures"]:
            print(f"    fails: {failure}", flush=True)
    in_set = [r["total_s"] for r in rows if r["phantom"] in SETS["set"]]
    if in_set:
        median = statistics.median(in_set)
        print(f"test set: median {median:.1f} s over {len(in_set)} phantoms, "
              f"{sum(r['feasible'] for r in rows if r['phantom'] in SETS['set'])} feasible")
        for r in rows:
            if r["phantom"] in PHANTOMS:
                print(f"  {r['phantom']}: {r['total_s'] / median:.2f} x the test-set median")


if __name__ == "__main__":
    main()
