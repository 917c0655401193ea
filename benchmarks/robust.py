"""Speed of a robustness study: seconds per sample on 1 and 2 local Dask workers, the scaling
ratio, and the per-sample cost against one nominal fine-grid evaluation of the plan (its peer in
the same run).

    python benchmarks/robust.py [--plan plan.yaml] [--samples 200] [--workers 1,2]
                                [--solo-samples 2]

Without ``--plan`` the built-in 30 mm segment-8 phantom is planned first (what ``irelab demo``
does), on its 1 mm confirmation grid. The nominal evaluation is one cold solve of every pair at
every placement in this process (set-up included), after an untimed solve of one pair that pays
the process's one-off costs (compiled kernels, end references), wall and CPU seconds;
the thermal model's cost is printed beside it (samples run it only on the first
``--thermal-samples``, 0 here). ``--solo-samples`` samples are then evaluated one by one in this
process, each from the unperturbed plan's solution (``warm``) and from the coarse-grid solve
(``cold``, as a study's tasks start): a sample's own cost, without a cluster. Each study's wall
time includes starting its local cluster and the unperturbed plan's solve (``--workers ''``
runs none).
Each study also prints its coverage probability as delivered and how many of its pair solves
re-delivered a pair over the generator's current limit (extra work a nominal evaluation does not
do). The machine's load average is printed before and after: on a shared machine the figures are
only comparable within one run.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def _load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def _plan(path: str | None):
    from irelab.case import load_case, parse_case

    if path:
        return load_case(path)
    from irelab.plan import plan_treatment
    from irelab.plan.phantom import phantom_mapping

    case = parse_case(phantom_mapping("segment8-30mm"), source="<phantom segment8-30mm>")
    t0 = time.perf_counter()
    plan = plan_treatment(case).case
    print(f"planned the demo phantom in {time.perf_counter() - t0:.0f} s")
    return plan


def _clear_calibrations() -> None:
    """Forget the near-field calibrations of earlier geometries (cached per process)."""
    from irelab.field import calibration

    calibration._side_factor_at.cache_clear()
    calibration._end_factor_at.cache_clear()


def _warm_up(plan) -> float:
    """One pair of the plan solved untimed: loads the compiled kernels and computes the
    scale-free end references, once per process, as every Dask worker does on its first
    sample; the calibrations it cached are then forgotten."""
    from irelab.field import FieldSolver

    t0 = time.perf_counter()
    pair = plan.protocol.pairs[0]
    FieldSolver(plan.field_problem()).solve_pair(pair.anode, pair.cathode, pair.voltage_V)
    _clear_calibrations()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", help="a plan file (default: plan the 30 mm demo phantom)")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--solo-samples", type=int, default=2,
                        help="samples timed one by one in this process, warm and cold")
    parser.add_argument("--save-plan", help="write the plan used here")
    args = parser.parse_args()

    from irelab.case import case_text, write_case
    from irelab.robust import (
        ClusterSettings,
        EvaluationSettings,
        RobustOptions,
        UncertaintyModel,
        draw_samples,
        evaluate_plan,
        robust_study,
    )
    from irelab.robust.evaluate import sample_task

    print(f"load average at start: {_load()} ({os.cpu_count()} cores)")
    plan = _plan(args.plan)
    if args.save_plan:
        write_case(plan, Path(args.save_plan))
    grid = plan.grid()
    pairs = len(plan.protocol.pairs) * plan.protocol.positions
    print(f"plan {plan.name}: {len(plan.probes)} probes, {pairs} pair solves per evaluation, "
          f"grid {grid.shape} at {grid.spacing_m * 1e3:g} mm")

    print(f"process warm-up (compiled kernels, end references): {_warm_up(plan):.1f} s")
    t0, c0 = time.perf_counter(), time.process_time()
    nominal, fields = evaluate_plan(plan, EvaluationSettings(), keep_potentials=True)
    nominal_s, nominal_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"nominal fine-grid evaluation (cold, every pair): {nominal_s:.1f} s "
          f"({nominal_cpu:.1f} s CPU); coverage {100 * nominal.coverage:.2f} %, "
          f"margin {nominal.margin_mm:.1f} mm")
    t0 = time.perf_counter()
    evaluate_plan(plan, EvaluationSettings(thermal=True))
    thermal_s = time.perf_counter() - t0 - nominal_s
    print(f"thermal model of the plan: {thermal_s:.1f} s ({thermal_s / nominal_s:.1f}x the "
          "field solves)")

    model = UncertaintyModel.for_case(plan)
    solo = draw_samples(model, plan, max(args.solo_samples, 1)).perturbations[:args.solo_samples]
    for perturbation in solo:
        timings, cpu, outcomes = {}, {}, {}
        for label, start in (("warm", fields), ("cold", None)):
            _clear_calibrations()  # each start pays its own geometry's set-up
            t0, c0 = time.perf_counter(), time.process_time()
            outcomes[label] = sample_task(
                case_text(plan), plan.source, str(plan.base_dir), perturbation,
                EvaluationSettings(warm_start=start is not None),
                None if start is None else (nominal, start))
            timings[label] = time.perf_counter() - t0
            cpu[label] = time.process_time() - c0
        print(f"sample {perturbation.index} alone: " + "; ".join(
            f"{label} {timings[label]:.1f} s, {cpu[label]:.1f} s CPU "
            f"({cpu[label] / nominal_cpu:.2f}x"
            f" the nominal evaluation's CPU, {outcomes[label].linear_iterations} linear "
            "iterations)"
            for label in timings) + f"; coverage {100 * outcomes['warm'].coverage:.2f} %; "
            f"load {_load()}")
    per_sample = {}
    for workers in (int(w) for w in args.workers.split(",") if w):
        options = RobustOptions(samples=args.samples, thermal_samples=0,
                                cluster=ClusterSettings(workers=workers))
        t0 = time.perf_counter()
        result = robust_study(plan, model, options)
        wall = time.perf_counter() - t0
        per_sample[workers] = wall / args.samples
        interval = result.statistics.coverage_probability
        delivered = result.statistics.coverage_probability_as_delivered
        solves = sum(o.solves for o in result.outcomes)
        again = sum(o.redelivered_pairs for o in result.outcomes)
        print(f"{workers} worker(s): {args.samples} samples in {wall:.0f} s = "
              f"{per_sample[workers]:.2f} s per sample ({per_sample[workers] * workers:.2f} "
              f"worker-s per sample, {per_sample[workers] * workers / nominal_s:.2f}x the nominal "
              f"evaluation); P(100 %) = {interval.estimate:.3f} "
              f"({interval.low:.3f}-{interval.high:.3f}), as delivered "
              f"{delivered.estimate:.3f}; {solves} pair solves, of them at least {again} "
              f"re-deliveries of pairs over the current limit; load {_load()}")
    if 1 in per_sample and 2 in per_sample:
        print(f"scaling 1 -> 2 workers: {per_sample[1] / per_sample[2]:.2f}x "
              f"(ideal 2.00x on 2 free cores)")
    print(f"load average at end: {_load()}")


if __name__ == "__main__":
    main()
