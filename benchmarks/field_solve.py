"""Time one converged nonlinear pair solve of the issue's two-needle example at 1 mm and 0.5 mm.

The problem: an 80 x 80 x 40 mm liver box, a 10 mm tumour sphere at the origin, a 3 mm blood
vessel along x at y = 12 mm, two 1.1 mm needles 15 mm apart with 20 mm exposed from z = -10 mm
(insulated shafts to the top face), 1500 V. If ``irelab.case.load_case`` and
``examples/two-needles.yaml`` exist, that case is used instead (``--case`` to pick another file).

Tissues when built here: liver sigma0 0.067 S/m, sigma1 0.241 S/m, e_rev 362 V/cm, e_irr 637 V/cm
(Sel D et al., IEEE Trans Biomed Eng 52(5):816-827, 2005, liver model). Tumour and blood get the
same liver parameters here (a stated simplification: the timing depends on the nonlinearity,
not on the exact values).

Prints wall-clock and CPU seconds per converged pair solve (median of the repeats; the first
solve of a new FieldSolver, which builds the geometry and grid hierarchy, is reported
separately), nonlinear and CG iterations, peak resident memory (max RSS), the current and the
lethal volume (|E| >= liver e_irr). On a shared machine the CPU time is the steadier figure.
Run:

    .venv/bin/python benchmarks/field_solve.py [--json] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from irelab.field import (
    Electrode,
    FieldProblem,
    FieldSolver,
    Grid,
    Insulator,
    Material,
    SmoothStepConductivity,
)

ROOT = Path(__file__).resolve().parents[1]

LIVER = SmoothStepConductivity(  # Sel et al. 2005 (see module docstring); V/cm -> V/m
    sigma0_S_per_m=0.067, sigma1_S_per_m=0.241, e_rev_V_per_m=362e2, e_irr_V_per_m=637e2
)


def example_problem(spacing_mm: float) -> FieldProblem:
    """The issue's two-needle example built directly from the field dataclasses."""
    mm = 1e-3
    grid = Grid.centred((80 * mm, 80 * mm, 40 * mm), spacing_mm * mm)
    x, y, z = grid.centres_m()
    labels = np.zeros(grid.shape, dtype=np.int8)  # 0 liver
    labels[(x**2 + y**2 + z**2 <= (10 * mm) ** 2) & np.ones(grid.shape, bool)] = 1  # tumour
    labels[((y - 12 * mm) ** 2 + z**2 <= (3 * mm) ** 2) & np.ones(grid.shape, bool)] = 2  # blood
    top = grid.upper_m[2] + grid.spacing_m
    electrodes, insulators = [], []
    for name, x0 in (("P1", -7.5 * mm), ("P2", 7.5 * mm)):
        electrodes.append(Electrode(name, (x0, 0, -10 * mm), (x0, 0, 10 * mm), 0.55 * mm))
        insulators.append(Insulator(f"{name}-shaft", (x0, 0, 10 * mm), (x0, 0, top), 0.55 * mm))
    materials = tuple(Material(name, LIVER) for name in ("liver", "tumour", "blood"))
    return FieldProblem(grid, labels, materials, tuple(electrodes), tuple(insulators))


def case_problem(path: Path, spacing_mm: float) -> FieldProblem | None:
    try:
        from irelab.case import load_case
    except ImportError:
        return None
    if not path.exists():
        return None
    return load_case(path).field_problem(spacing_mm=spacing_mm)


def measure(problem: FieldProblem, repeats: int) -> dict:
    t0 = time.perf_counter()
    solver = FieldSolver(problem)
    first = solver.solve_pair("P1", "P2", 1500.0)
    first_s = time.perf_counter() - t0
    times, cpu, sol = [], [], first
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        sol = solver.solve_pair("P1", "P2", 1500.0)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    e_irr = LIVER.e_irr_V_per_m
    return {
        "shape": list(problem.grid.shape),
        "voxels": problem.grid.size,
        "first_solve_s": first_s,
        "seconds_per_pair": statistics.median(times) if times else first_s,
        "cpu_seconds_per_pair": statistics.median(cpu) if cpu else None,
        "repeats": len(times),
        "converged": sol.converged,
        "nonlinear_iterations": sol.iterations,
        "linear_iterations": sol.linear_iterations,
        "final_residual": sol.final_change,
        "current_A": sol.current_A,
        "lethal_volume_cm3": float((sol.e_field_V_per_m >= e_irr).sum()
                                   * problem.grid.voxel_volume_m3 * 1e6),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats at 1 mm")
    parser.add_argument("--case", type=Path, default=ROOT / "examples" / "two-needles.yaml")
    args = parser.parse_args(argv)
    results = {}
    for spacing, repeats in ((1.0, args.repeats), (0.5, max(1, args.repeats // 2))):
        problem = case_problem(args.case, spacing) or example_problem(spacing)
        results[f"{spacing:g}mm"] = measure(problem, repeats)
    results["peak_rss_MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["load_average_1min"] = __import__("os").getloadavg()[0]
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
        return 0
    for key, r in results.items():
        if not isinstance(r, dict):
            continue
        print(f"{key}: {r['shape']} ({r['voxels']:,} voxels): {r['seconds_per_pair']:.2f} s per "
              f"converged pair ({r['cpu_seconds_per_pair']:.2f} s CPU; "
              f"median of {r['repeats']}; first solve incl. setup "
              f"{r['first_solve_s']:.2f} s), {r['nonlinear_iterations']} nonlinear / "
              f"{r['linear_iterations']} CG iterations, converged={r['converged']} "
              f"(residual {r['final_residual']:.1e}), current {r['current_A']:.3f} A, "
              f"lethal {r['lethal_volume_cm3']:.2f} cm3")
    print(f"peak memory (max RSS): {results['peak_rss_MiB']:.0f} MiB; "
          f"1-min load average {results['load_average_1min']:.2f} (2 shared cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
