"""Time converged nonlinear pair solves of the two-needle example at 1 mm and 0.5 mm.

The problem: ``examples/two-needles.yaml`` (an 80 x 80 x 40 mm liver box, a 20 mm tumour, a
6 mm vessel, two 1.1 mm needles 15 mm apart with 20 mm exposed and insulated shafts,
1500 V).

Each spacing runs in a fresh process (its own peak memory). Printed per spacing: the set-up for
a new geometry (cut cells, near-field calibration, grid hierarchy) and the first converged pair
solve, wall-clock and CPU seconds; then the median of ``--repeats`` further solves of the same
pair (set-up reused); nonlinear and CG iterations, peak resident memory, current and lethal
volume. The one-off cost of a process - loading the compiled kernels from numba's cache (or
compiling them on the very first run) and the scale-free end reference solutions - is paid by
a warm-up solve of the example with its needles moved by a fraction of a voxel (another
geometry; the calibration caches are cleared after it) and printed separately. The warm-up
leaves the anatomy's sub-voxel ray fractions in their cache, as the first placement of a case
does for every later one (they depend on the shapes and the grid, not on the probes): a new
geometry here is a new probe placement on a known anatomy, the planner's and the robustness
study's case. The ray fractions' own cost, paid once per case and grid, is measured apart
(computed afresh) and printed at the end of the line. The peer in the
same run is the pure-NumPy path of the same solver (``--numpy``), which needs no compiler.

``--profile SPACING`` prints the CPU time of the solver's stages (inclusive times of the named
functions, from cProfile) for one set-up and first solve.

The last line says why no GPU solve is timed (no CuPy, no CUDA device, or no CuPy path in the
solver). On a shared machine the CPU time is the steadier figure; the 1-minute load average is
printed at the start and the end. Run:

    .venv/bin/python benchmarks/field_solve.py [--repeats N] [--numpy] [--profile 0.5]
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import os
import pstats
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from irelab.case import load_case
from irelab.field import FieldProblem, FieldSolver, SolverOptions, lethal_volume_m3

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "examples" / "two-needles.yaml"
PAIR = ("P1", "P2", 1500.0)
E_IRR_LIVER = 637e2  # V/m, the liver preset's lethal threshold (Sel et al. 2005)

def _stages():
    """(label, function) of the solver's stages whose inclusive CPU time is profiled."""
    from irelab.field import calibration, geometry, multigrid, operators, solver

    return (
        ("set-up: cut cells (ray casting)", geometry.cut_cells),
        ("set-up: near-field calibration", calibration.near_field_factors),
        ("set-up: grid hierarchy (all levels)", multigrid.build_levels),
        ("solve: |E| by axis", operators.FieldOperator.e2_axes),
        ("solve: sigma(E) and d sigma/dE", operators.FieldOperator.sigma_and_derivative),
        ("solve: operator products", operators.FieldOperator.apply),
        ("solve: preconditioner set-up", multigrid.MultigridPreconditioner.__init__),
        ("solve: V-cycles", multigrid.MultigridPreconditioner.__call__),
        ("solve: Hessian products", operators.FieldOperator.hessian_apply),
        ("solve: conjugate gradients (all)", solver._pcg),
        ("solve: line search", solver.FieldSolver._line_search),
        ("solve: start smoothing", multigrid.smoothed_correction),
        ("result: reported field and currents", solver.FieldSolver._solution),
        ("total: set-up and first solve", solver.FieldSolver.solve_pair),
    )


def example_problem(spacing_mm: float) -> FieldProblem:
    return load_case(CASE).field_problem(spacing_mm=spacing_mm)


def _moved(problem: FieldProblem, shift_m) -> FieldProblem:
    """The same problem with every conductor moved by ``shift_m`` (another geometry)."""
    def move(c):
        return replace(c, start_m=tuple(np.add(c.start_m, shift_m)),
                       end_m=tuple(np.add(c.end_m, shift_m)))

    return replace(problem, electrodes=tuple(move(e) for e in problem.electrodes),
                   insulators=tuple(move(i) for i in problem.insulators))


def _warm_up(spacing_mm: float, backend: str) -> float:
    """Solve the example with its needles moved by a fraction of a voxel: loads the compiled
    kernels and computes the scale-free end references, once per process."""
    from irelab.field import calibration

    t0 = time.perf_counter()
    problem = _moved(example_problem(spacing_mm), (0.37e-3, 0.21e-3, 0.13e-3))
    FieldSolver(problem, SolverOptions(backend=backend)).solve_pair(*PAIR)
    calibration._side_factor_at.cache_clear()  # the measured geometry starts from nothing
    calibration._end_factor_at.cache_clear()
    return time.perf_counter() - t0


def _anatomy_set_up(problem: FieldProblem) -> float:
    """CPU seconds of the shapes' ray fractions on this grid (computed afresh; the cache is
    warm again afterwards, as after the first geometry of a case)."""
    from irelab.field import interfaces

    if problem.subvoxel is None:
        return 0.0
    interfaces._anatomy_cache.clear()
    c0 = time.process_time()
    interfaces._anatomy_fractions(problem.subvoxel, problem.grid, np.asarray(problem.labels),
                                  len(problem.tissues))
    return time.process_time() - c0


def measure(spacing_mm: float, repeats: int, backend: str) -> dict:
    """One spacing in this process: warm-up, a new geometry's set-up and solve, repeats."""
    warm = _warm_up(spacing_mm, backend)
    problem = example_problem(spacing_mm)
    anatomy_cpu = _anatomy_set_up(problem)
    w0, c0 = time.perf_counter(), time.process_time()
    solver = FieldSolver(problem, SolverOptions(backend=backend))
    _ = solver.levels
    w1, c1 = time.perf_counter(), time.process_time()
    first = solver.solve_pair(*PAIR)
    w2, c2 = time.perf_counter(), time.process_time()
    walls, cpus = [], []
    for _ in range(repeats):
        a, b = time.perf_counter(), time.process_time()
        sol = solver.solve_pair(*PAIR)
        walls.append(time.perf_counter() - a)
        cpus.append(time.process_time() - b)
        assert sol.current_A == first.current_A  # reproducible
    return {
        "shape": problem.grid.shape, "voxels": problem.grid.size, "warm_up_s": warm,
        "anatomy_cpu_s": anatomy_cpu,
        "setup_wall_s": w1 - w0, "setup_cpu_s": c1 - c0,
        "first_wall_s": w2 - w1, "first_cpu_s": c2 - c1,
        "repeat_wall_s": statistics.median(walls) if walls else float("nan"),
        "repeat_cpu_s": statistics.median(cpus) if cpus else float("nan"),
        "iterations": first.iterations, "cg": first.linear_iterations,
        "converged": first.converged, "residual": first.final_change,
        "current_A": first.current_A,
        "lethal_cm3": lethal_volume_m3(problem, first.e_field_V_per_m, E_IRR_LIVER) * 1e6,
        "peak_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def profile(spacing_mm: float, backend: str) -> list[tuple[str, float]]:
    _warm_up(spacing_mm, backend)
    problem = example_problem(spacing_mm)
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    FieldSolver(problem, SolverOptions(backend=backend)).solve_pair(*PAIR)
    prof.disable()
    stats = pstats.Stats(prof).stats
    out = []
    for label, function in _stages():
        code = function.__code__
        total = sum(v[3] for (path, line, name), v in stats.items()
                    if path == code.co_filename and line == code.co_firstlineno
                    and name == code.co_name)
        out.append((label, total))
    return out


def _fresh(fn, *args):
    with ProcessPoolExecutor(max_workers=1,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def gpu_status() -> str:
    """Whether this run can time a GPU solve: CuPy must import and see a CUDA device. The solver
    has no CuPy path yet (its multigrid, conjugate gradients and geometry are NumPy/SciPy; only
    the stencil kernels are written array-module generic), so even with a device the GPU timing
    is skipped, and said so."""
    try:
        import cupy
    except ImportError:
        return "GPU path skipped: CuPy is not installed"
    try:
        devices = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as error:
        return f"GPU path skipped: CuPy finds no CUDA device ({error})"
    if devices == 0:
        return "GPU path skipped: CuPy finds no CUDA device"
    return (f"GPU path skipped: CuPy sees {devices} device(s), but the solver has no CuPy path "
            "(the CPU solver is the default and the reference)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per spacing")
    parser.add_argument("--numpy", action="store_true", help="also time the NumPy kernels")
    parser.add_argument("--profile", type=float, default=None, metavar="SPACING_MM")
    args = parser.parse_args(argv)
    print(f"1-min load average at start: {os.getloadavg()[0]:.2f} (2 shared cores)")
    if args.profile is not None:
        print(f"per-stage CPU seconds (inclusive), set-up and first solve at {args.profile} mm:")
        for label, seconds in _fresh(profile, args.profile, "auto"):
            print(f"  {label:42s} {seconds:6.2f}")
    backends = ("auto", "numpy") if args.numpy else ("auto",)
    for backend in backends:
        for spacing in (1.0, 0.5):
            r = _fresh(measure, spacing, args.repeats, backend)
            name = "numba" if backend == "auto" else "numpy"
            print(f"{name} {spacing:g} mm {r['shape']} ({r['voxels']:,} voxels): new geometry "
                  f"{r['setup_wall_s'] + r['first_wall_s']:.2f} s wall / "
                  f"{r['setup_cpu_s'] + r['first_cpu_s']:.2f} s CPU (set-up "
                  f"{r['setup_cpu_s']:.2f} + solve {r['first_cpu_s']:.2f}); same geometry "
                  f"again {r['repeat_wall_s']:.2f} s wall / {r['repeat_cpu_s']:.2f} s CPU; "
                  f"{r['iterations']} Newton / {r['cg']} CG, converged={r['converged']} "
                  f"(residual {r['residual']:.1e}); current {r['current_A']:.4f} A, lethal "
                  f"{r['lethal_cm3']:.3f} cm3; peak memory {r['peak_MiB']:.0f} MiB; "
                  f"process warm-up {r['warm_up_s']:.1f} s; the anatomy's ray fractions "
                  f"(once per case and grid) {r['anatomy_cpu_s']:.2f} s CPU", flush=True)
    print(gpu_status())
    print(f"1-min load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
