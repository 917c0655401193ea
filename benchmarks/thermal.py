"""Time the bioheat simulation: the compiled time loop on two threads (the default) and one.

A demo-sized case: a 64 mm cube at 1 mm with a bile duct and a vessel beside ``--pairs``
Gaussian heating columns (1 K per 90 us pulse on a column's axis; a design choice: the
segment-8 demo plan's pairs reach ~3 K per pulse in their hottest 0.1 % of voxels, more at the
needle surfaces), delivered with the planner's default schedule (10 test + 90 pulses per pair)
at ``--placements`` placements. Each form runs ``--repeat`` times and prints its best wall and
CPU time, the steps and the ratio of the two-thread time to the one-thread time (the peer, run
side by side); ``--numpy`` adds the NumPy form (slow). The results are checked equal bit for
bit. The machine's load is printed before and after: on a busy machine the two threads share
cores with others and gain nothing.

    .venv/bin/python benchmarks/thermal.py [--pairs 10] [--placements 2] [--repeat 2] [--numpy]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

import numpy as np

from irelab.field import Grid
from irelab.plan import PlanOptions
from irelab.thermal import simulate_heating


def case(pairs: int):
    """Grid, labels, tissue names and per-pair Joule power (W/m^3) of the benchmark case."""
    grid = Grid.centred((0.064,) * 3, 1e-3)
    x, y, z = np.broadcast_arrays(*grid.centres_m())
    labels = np.zeros(grid.shape, dtype=np.int8)
    labels[(np.abs(y - 0.012) < 2e-3) & (np.abs(z) < 2e-3)] = 1  # a vessel along x
    labels[(np.abs(x - 0.012) < 1.5e-3) & (np.abs(z - 0.004) < 1.5e-3)] = 2  # a duct along y
    angles = np.linspace(0.0, 2 * np.pi, pairs, endpoint=False)
    # 1 K per 90 us pulse on a column's axis: rho c dT / tau = 3.8e6 * 1 / 90e-6 W/m^3
    peak = 3.8e6 / 90e-6
    power = [peak * np.exp(-((x - 8e-3 * np.cos(a)) ** 2 + (y - 8e-3 * np.sin(a)) ** 2)
                           / (2 * 2e-3**2)) * (np.abs(z) < 0.02)
             for a in angles]
    return grid, labels, ("liver", "blood", "bile"), power


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--placements", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--numpy", action="store_true")
    args = parser.parse_args()
    grid, labels, names, power = case(args.pairs)
    schedule = PlanOptions().schedule
    starts = [p * args.pairs for p in range(1, args.placements)]
    forms = {"one thread": {"threaded": False}, "two threads": {"threaded": True}}
    if args.numpy:
        forms["NumPy"] = {"compiled": False}
    print(f"{os.cpu_count()} CPUs; 1-min load {os.getloadavg()[0]:.2f}", flush=True)
    simulate_heating(grid, labels, names, power[:1],  # compile (or load) the kernels
                     replace(schedule, pulses_per_pair=1, test_pulses=0, cooldown_s=1.0))
    best: dict[str, tuple[float, float]] = {}
    results = {}
    for _ in range(args.repeat):
        for name, kwargs in forms.items():
            t0, c0 = time.perf_counter(), time.process_time()
            results[name] = simulate_heating(grid, labels, names, power * args.placements,
                                             schedule, position_starts=starts, **kwargs)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            old = best.get(name, (np.inf, np.inf))
            best[name] = (min(old[0], wall), min(old[1], cpu))
    ref = results["one thread"]
    print(f"{args.pairs} pairs x {args.placements} placements, {ref.steps} steps; bile peak "
          f"{ref.regions['bile'].peak_temperature_C:.1f} C, damage "
          f"{ref.regions['bile'].damage_volume_cm3 * 1e3:.1f} mm^3")
    for name, (wall, cpu) in best.items():
        same = all(np.array_equal(getattr(results[name], f), getattr(ref, f))
                   for f in ("peak_temperature_C", "damage"))
        print(f"  {name:12s} {wall:7.2f} s wall {cpu:7.2f} s CPU "
              f"({'bit for bit' if same else 'to rounding'} as one thread)")
    print(f"  two threads / one thread: {best['two threads'][0] / best['one thread'][0]:.2f} "
          f"(wall); 1-min load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
