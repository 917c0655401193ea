"""Solve one electrode pair: div(sigma(|E|) grad phi) = 0 with driven and floating electrodes.

Nonlinear iteration and why it settles
--------------------------------------
For each tissue, ``d(sigma(E) E)/dE = sigma + E dsigma/dE > 0``, so the potential minimises the
strictly convex energy ``J(phi) = sum_c h^3 W_c(|E_c|)`` with ``W_c'(E) = sigma_c(E) E`` (the
discrete ``|E_c|`` is defined in :mod:`irelab.field.operators`). For frozen
``sigma = sigma(E(phi_k))`` the finite-volume matrix ``A_k`` is symmetric positive definite and
``A_k phi_k - b_k`` is exactly ``grad J(phi_k)``. Each step solves ``M_k d = -grad J(phi_k)`` with
an SPD matrix ``M_k``, so ``d`` is a descent direction (``grad J . d = -d^T M_k d < 0``; also for
any conjugate-gradient iterate started at 0, since CG lowers the quadratic model). ``M_k = A_k``
is the Picard (Kacanov) step. By default ``M_k`` is the exact Hessian of ``J`` (applied
matrix-free: ``A_k`` plus one rank-one term per cell, see :class:`_Hessian`), i.e. Newton's
method, SPD because ``J`` is strictly convex; its CG solve is preconditioned by the multigrid
cycle of the same operator with the *differential* conductivity per axis,
``sigma + (dsigma/dE / E) E_axis^2`` (the diagonal of the Hessian's conductivity tensor
``sigma I + (dsigma/dE / E) E E^T``). Newton steps are usually taken in full.
Along ``phi_k + t d``, ``j(t) = J`` is convex and
``j'(t) = sum_c h^3 sigma_c(E_c(t)) dE_c^2/dt / 2`` needs only ``sigma``; we take ``t = 1`` if
``j'(1) <= 0``, otherwise a safeguarded secant step to a ``t`` with
``LINE_SEARCH_SLOPE * j'(0) <= j'(t) <= 0``. ``J`` then decreases strictly at every step, and
because ``j'`` is Lipschitz (``sigma`` and ``dsigma/dE`` bounded) and the ``M_k`` are uniformly
equivalent to the Laplacian (``sigma0 <= sigma <= sigma1``), the steps satisfy the Wolfe
conditions and Zoutendijk's theorem gives convergence to the unique minimiser from any start
(Nocedal & Wright, Numerical Optimization, 2nd ed., Sec. 3.1-3.2). Undamped Picard (``M_k = A_k``,
``t = 1``) has no such guarantee and oscillates on the liver model:
``SolverOptions(newton=False, line_search=False)`` reproduces it for the tests.

Stated tolerance: the iteration stops when the relative nonlinear residual
``sum |b(sigma(phi)) - A(sigma(phi)) phi| / |I|`` is at most ``SolverOptions.nonlinear_rtol``:
the residual of each free cell and floating electrode is the current (A) its conservation law
misses, so this is the total unbalanced current as a fraction of the driven electrodes' current
``I``, a measure that does not drift with the grid spacing (a 2-norm residual relative to the
right-hand side does: at 0.25 mm it let a 2 % current error through).
The default 2e-3 leaves the current of the two-needle example within 4e-6 (1 mm) and 2e-5
(0.5 mm) of the solution at 1e-6 (relative), with the same lethal voxels; on the 30 pair solves
of the 30 mm demo plan at 1 mm the currents within 1.9e-5 (median 3.8e-6) and 2 of 82001 lethal
voxels differ.
``PairSolution.history`` holds this residual before each step and after the last one;
``final_change`` is its last value.

Speed: each step is solved only approximately (conjugate gradients stopped at
``forcing`` times the step's initial residual: inexact Newton-Krylov practice, Eisenstat &
Walker, SIAM J Sci Comput 17:16-32, 1996), preconditioned by the geometric V-cycle of
:mod:`irelab.field.multigrid`, and the iteration starts from the solution on the 2x coarser grid
(grid sequencing, recursively), smoothed by a few Gauss-Seidel sweeps. The V-cycle's coarsest
level is factorised at the first step of each grid's iteration (also at the second after a start
at rest, where the first conductivity is the resting one everywhere) and that LU is kept for
the later steps: an LU of an earlier SPD coarsest operator is still SPD, so the cycle stays a
symmetric positive definite preconditioner, only a slightly less exact one. Measured on one
evaluation of the 30 mm demo plan at 1 mm (30 pair solves): 90 factorisations instead of 206,
with 282 and 397 CG iterations on the 2 mm and 1 mm grids against 282 and 398 when every step
refactorises (keeping the resting-conductivity LU for all steps of a start at rest instead
cost 330 against 282). Geometry, sparsity patterns and transfer operators are built once per
:class:`FieldSolver` and reused for every pair and voltage; the coarsest pyamg hierarchy is kept
per pair for later solves of that pair. Measured with ``benchmarks/field_solve.py`` on the
two-needle example (2 shared cores, load 5.5-6.3, CPU seconds, 2 runs): a new geometry
0.45-0.55 s at 1 mm (set-up 0.09, solve 0.36-0.46) and 2.00-2.42 s at 0.5 mm (2 million voxels;
set-up 0.17-0.19, solve 1.81-2.25); the runs spread by +-20 % with the load. One evaluation of
the 30 mm demo plan (``irelab.robust.evaluate_plan``, 30 pair solves at 1 mm): 12.5-13.9 s CPU,
against 14.8-18.8 s before the coarsest LU was kept, the coarse start loosened, the forcing
adapted and the smoothing doubled (alternating runs, load 4.4-5.7; 543 CG iterations in all
and 63 Newton steps on the 1 mm grid against 768 and 86).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from irelab.field.blas import single_threaded_blas
from irelab.field.kernels import BACKENDS, select_kernels, transfer_maps
from irelab.field.multigrid import (
    CALIBRATED_SPACING_RADII,
    MultigridPreconditioner,
    build_levels,
    smoothed_correction,
)
from irelab.field.operators import FieldOperator
from irelab.field.problem import FieldProblem, PairSolution

__all__ = ["SolverOptions", "FieldSolver", "solve_pair"]

log = logging.getLogger(__name__)

LINE_SEARCH_SLOPE = 0.1
"""Accept a step once |j'(t)| has fallen to this fraction of |j'(0)| (j' <= 0 kept)."""

PRESMOOTHING_SWEEPS = 2
"""Symmetric Gauss-Seidel sweeps applied to a start prolonged from the coarser grid: it is rough
next to the needles, whose cut cells differ between the grids (measured on the two-needle
example at 0.5 mm: one Newton step fewer)."""

FORCING_GAMMA = 0.9
"""Eisenstat-Walker forcing ("choice 2", Eisenstat & Walker 1996, Sec. 2, with their
gamma = 0.9 and alpha = 2): after the first step the CG of a step stops at
``min(forcing, FORCING_GAMMA (r_k / r_{k-1})^2)`` times its initial residual, so the steps close
to the solution, where Newton converges quadratically, are solved as accurately as that
convergence can use. With the fixed forcing 0.05 the second step on the fine grid stopped at a
linear residual above the tolerance and a third step was needed; measured on one evaluation of
the 30 mm demo plan at 1 mm (30 pair solves): 86 Newton steps on the fine grid with 397 CG
iterations before, 63 with 414 after."""

MAX_VOLTAGE_V = 10_000.0
"""Sanity bound on a pair's voltage; clinical generators deliver at most 3000 V (NanoKnife)."""


@dataclass(frozen=True)
class SolverOptions:
    """Tolerances and strategy of :class:`FieldSolver` (defaults suit the planner and reports).

    nonlinear_rtol: relative nonlinear residual at which the iteration stops (see module doc).
    max_iterations: Newton steps on the finest grid before giving up (``converged=False``).
    forcing: each step's CG stops at ``forcing`` times its initial residual (inexact steps),
        or less once Newton converges fast (:data:`FORCING_GAMMA`); a linear medium is solved
        to ``nonlinear_rtol`` in one step instead.
    max_linear_iterations: CG iterations per step.
    newton: Newton steps with the exact (matrix-free) Hessian (else Picard steps).
    line_search: damp every step by the energy line search (off only to show undamped Picard).
    grid_sequencing: start from the solution on the 2x coarser grid (recursively).
    coarse_rtol: nonlinear tolerance of the coarse-grid solves that only provide the start:
        the start's residual on the finer grid is set by the needles' cut cells, which differ
        between the grids (0.77-0.97 on the 30 mm demo plan at 1 mm whether the 2 mm solve
        stopped at 0.1 or at 0.01), not by the coarse solve's last digits; 0.1 saves a coarse
        step per pair (120 coarse Newton steps with 367 CG iterations per evaluation of that
        plan at 0.01, 94 with 282 at 0.1; the same fine-grid steps).
    smoothing_steps: Gauss-Seidel sweeps before and after each coarse correction. Two: on one
        evaluation of the 30 mm demo plan at 1 mm (30 pair solves, load 5-6 on 2 cores) one
        sweep took 414 CG iterations on the 1 mm grid and 10.4-10.7 s CPU, two 288 and
        9.5-9.9 s, three 245 and 9.3-9.7 s (the same Newton steps).
    record_energy: also compute the energy J after each step (costly; for tests).
    backend: grid kernels: ``"auto"`` (numba if available, else NumPy), ``"numba"`` or
        ``"numpy"`` (see :mod:`irelab.field.kernels`); all give the same solution to rounding.
    """

    nonlinear_rtol: float = 2e-3
    max_iterations: int = 60
    forcing: float = 0.05
    max_linear_iterations: int = 200
    newton: bool = True
    line_search: bool = True
    grid_sequencing: bool = True
    coarse_rtol: float = 0.1
    smoothing_steps: int = 2
    record_energy: bool = False
    backend: str = "auto"

    def __post_init__(self) -> None:
        if not 0 < self.nonlinear_rtol < 1:
            raise ValueError("nonlinear_rtol must be in (0, 1)")
        if self.max_iterations < 1 or self.max_linear_iterations < 1:
            raise ValueError("iteration limits must be positive")
        if not 0 <= self.forcing < 1:
            raise ValueError("forcing must be in [0, 1)")
        if self.smoothing_steps < 1:
            raise ValueError("smoothing_steps must be at least 1")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}: expected one of "
                             f"{', '.join(BACKENDS)}")


@dataclass(eq=False)
class _State:
    x: np.ndarray
    iterations: int = 0
    converged: bool = False
    history: list[float] = field(default_factory=list)
    energy: list[float] = field(default_factory=list)
    linear_iterations: int = 0
    sigma: np.ndarray | None = None  # the conductivity at x, once evaluated there


def _energy(op: FieldOperator, x: np.ndarray) -> float:
    """J = sum_c h^3 W_c(E_c), W(E) = E^2 int_0^1 sigma(nu u E) u du (16-point Gauss-Legendre)."""
    e = np.sqrt(op.e2_axes(x).sum(axis=0))
    nodes, weights = np.polynomial.legendre.leggauss(16)
    u = (nodes + 1) / 2
    w = weights / 2
    integral = sum(wi * ui * op.sigma(ui * e) for ui, wi in zip(u, w, strict=True))
    return float(np.sum(op.h3 * e**2 * integral))


def _pcg(apply, rhs: np.ndarray, pre, target_l1: float, max_iterations: int,
         kernels) -> tuple[np.ndarray, int]:
    """Preconditioned CG from zero, stopped when the residual's 1-norm (A) is below target."""
    x = np.zeros_like(rhs)
    r = rhs.copy()
    if np.abs(r).sum() <= target_l1:
        return x, 0
    z = pre(r)
    p = z.copy()
    rz = kernels.dot(r, z)
    for k in range(1, max_iterations + 1):
        ap = apply(p)
        if kernels.cg_step(x, r, p, ap, rz / kernels.dot(p, ap)) <= target_l1:
            return x, k
        z = pre(r)
        rz_new = kernels.dot(r, z)
        kernels.cg_direction(p, z, rz_new / rz)
        rz = rz_new
    return x, max_iterations


def _filled(op: FieldOperator, x: np.ndarray) -> np.ndarray:
    """The cell potentials of ``x`` with the conductors' cells filled in (an electrode's cells
    at its potential, an insulator's with the mean of their active neighbours), so that
    interpolating them to a finer grid does not drag the cells next to a needle towards 0."""
    cells = op.cells(x).copy()
    inside = op.geometry.inside_electrode.reshape(op.shape)
    electrode = inside >= 0
    cells[electrode] = x[op.n_cells + inside[electrode]]
    hole = ~op.active & ~electrode
    if hole.any():
        known = (~hole).astype(float)
        total = np.zeros(op.shape)
        count = np.zeros(op.shape)
        for axis in range(3):
            for shift in (-1, 1):
                total += np.roll(cells * known, shift, axis=axis)
                count += np.roll(known, shift, axis=axis)
        cells[hole] = np.where(count[hole] > 0, total[hole] / np.maximum(count[hole], 1), 0.0)
    return cells


class FieldSolver:
    """Solves electrode pairs of one :class:`FieldProblem`, reusing geometry across pairs."""

    def __init__(self, problem: FieldProblem, options: SolverOptions | None = None) -> None:
        self.problem = problem
        self.options = options or SolverOptions()
        self.kernels = select_kernels(self.options.backend)
        self._levels: list[FieldOperator] | None = None
        self.last_linear_iterations = 0

    @property
    def levels(self) -> list[FieldOperator]:
        if self._levels is None:
            with single_threaded_blas():
                self._levels = build_levels(self.problem, self.kernels)
        return self._levels

    def _electrode_index(self, name: str, role: str) -> int:
        names = [e.name for e in self.problem.electrodes]
        if name not in names:
            raise KeyError(f"{role} {name!r} is not an electrode of this problem "
                           f"(electrodes: {', '.join(names) or 'none'})")
        return names.index(name)

    def solve_pair(self, anode: str, cathode: str, voltage_V: float,
                   initial: PairSolution | None = None) -> PairSolution:
        """Anode at ``voltage_V``, cathode at 0 V, other electrodes floating."""
        ia = self._electrode_index(anode, "anode")
        ic = self._electrode_index(cathode, "cathode")
        if ia == ic:
            raise ValueError(f"anode and cathode are the same electrode {anode!r}")
        voltage = float(voltage_V)
        if not (np.isfinite(voltage) and 0 < voltage <= MAX_VOLTAGE_V):
            raise ValueError(f"voltage_V must be in (0, {MAX_VOLTAGE_V:g}] V, got {voltage_V!r}")
        driven = {ia: voltage, ic: 0.0}
        x0 = None
        if initial is not None and initial.potential_V.shape == self.problem.grid.shape:
            x0 = np.concatenate([initial.potential_V.ravel(),
                                 [initial.electrode_potentials_V.get(e.name, 0.0)
                                  for e in self.problem.electrodes]])
            x0 = np.nan_to_num(x0)
        with single_threaded_blas():
            state = self._solve_level(0, driven, x0, self.options.nonlinear_rtol,
                                      self.options.max_iterations)
        self.last_linear_iterations = state.linear_iterations
        return self._solution(self.levels[0], state, anode, cathode, voltage, ia)

    def _sequencing_level(self, k: int) -> bool:
        """Whether level ``k`` is fine enough to provide a start for the level above it: a coarser
        one renders the needles as sub-voxel slivers and its solution is a poor start."""
        if not self.options.grid_sequencing or k >= len(self.levels):
            return False
        radius = min((e.radius_m for e in self.problem.electrodes), default=np.inf)
        return self.levels[k].grid.spacing_m <= CALIBRATED_SPACING_RADII * radius

    # -- the nonlinear iteration on one level ---------------------------------------------
    def _solve_level(self, k: int, driven, x0, rtol, max_iterations) -> _State:
        op = self.levels[k]
        opts = self.options
        linear_iters = 0
        prolonged = False
        if x0 is None:
            x0 = op.new()
            if self._sequencing_level(k + 1):
                prolonged = True
                coarse = self._solve_level(k + 1, driven, None, opts.coarse_rtol,
                                           max_iterations)
                coarse_op = self.levels[k + 1]
                maps = transfer_maps(op.shape, coarse_op.shape)
                op.cells(x0)[...] = op.kernels.prolong(_filled(coarse_op, coarse.x), op.shape,
                                                       maps)
                x0[op.n_cells:] = coarse.x[coarse_op.n_cells:]
                linear_iters = coarse.linear_iterations
        x = np.array(x0, dtype=float)
        x[op.inactive] = 0.0
        for e, v in driven.items():
            x[op.n_cells + e] = v
        free = op.free_mask(driven)
        fixed = np.flatnonzero(~free)  # conductor cells and driven electrodes (few)
        if prolonged:  # smooth the prolonged start at its own conductivity
            sigma = op.sigma(np.sqrt(op.e2_axes(x).sum(axis=0)))
            residual = -op.apply(sigma, x)
            residual[fixed] = 0.0
            x += smoothed_correction(op, sigma, driven, residual, PRESMOOTHING_SWEEPS)
        state = _State(x=x, linear_iterations=linear_iters)
        # |E|^2 per axis, refilled at every step (and then turned into the step's metric):
        # allocated once, as at 0.5 mm the three axes exceed the size above which every
        # allocation is fresh memory from the operating system (page faults at each step)
        e2_buffer = np.empty((3, *op.shape))
        linear = op.is_linear()
        levels = self.levels[k:]
        coarsest = None
        while True:
            e2_axes = op.e2_axes(state.x, e2_buffer)
            e = op.kernels.field_norm(e2_axes, np.empty(op.shape))
            newton = opts.newton and not linear
            if newton:
                sigma, dsigma = op.sigma_and_derivative(e)
            else:
                sigma = op.sigma(e)
            g = -op.apply(sigma, state.x)  # minus the energy gradient, on the free rows
            g[fixed] = 0.0
            scale = float(np.max(np.abs(op.link_currents(state.x, sigma)[list(driven)])))
            scale = scale or 1.0
            r0 = float(np.abs(g).sum()) / scale
            state.sigma = sigma
            state.history.append(r0)
            if opts.record_energy:
                state.energy.append(_energy(op, state.x))
            if r0 <= rtol:
                state.converged = True
                break
            if state.iterations >= max_iterations:
                break
            metric = sigma
            if newton:
                coef = np.empty(op.shape)  # the metric overwrites e2_axes: no longer needed,
                # and grid-sized per axis
                metric = list(op.kernels.newton_metric(e2_axes, e, sigma, dsigma, coef))
                g_links = op.link_conductances(sigma)
                x_now = state.x

                def system(v, sigma=sigma, coef=coef, g_links=g_links, x_now=x_now):
                    out = op.hessian_apply(sigma, g_links, coef, x_now, v)
                    out[fixed] = 0.0
                    return out
            else:
                faces = op.face_conductances(sigma)

                def system(v, sigma=sigma, faces=faces):
                    out = op.apply(sigma, v, faces)
                    out[fixed] = 0.0
                    return out
            eta = opts.forcing
            if len(state.history) >= 2:
                eta = min(eta, FORCING_GAMMA * (r0 / state.history[-2]) ** 2)
            # linear: one step to the tolerance (with margin, the current itself moves)
            target = 0.1 * rtol * scale if linear else max(0.5 * rtol * scale,
                                                            eta * r0 * scale)
            # the coarsest level's LU is kept from the first step (the second after a start at
            # rest, whose first conductivity is the resting one everywhere): see the module doc
            refactorise = state.iterations == 0 or (state.iterations == 1 and not prolonged)
            pre = MultigridPreconditioner(levels, metric, driven, opts.smoothing_steps,
                                          None if refactorise else coarsest)
            coarsest = pre.coarsest
            step, count = _pcg(system, g, pre, target, opts.max_linear_iterations, op.kernels)
            state.linear_iterations += count
            damped = opts.line_search and not linear  # linear: the step is the minimiser
            # j'(0) = grad J . step = -g . step (exact: sigma is that of the current state)
            t = (self._line_search(op, e * e, state.x, step, -op.kernels.dot(g, step))
                 if damped else 1.0)
            state.x = state.x + t * step
            state.sigma = None
            state.iterations += 1
            log.debug("level %s step %d: residual %.3e, CG %d, t %.3f", op.grid.shape,
                      state.iterations, r0, count, t)
        return state

    @staticmethod
    def _line_search(op: FieldOperator, p0: np.ndarray, x: np.ndarray, step: np.ndarray,
                     g0: float) -> float:
        """Step length along ``step`` for the convex energy; ``p0`` is ``|E(x)|^2`` and ``g0``
        the slope ``j'(0)``."""
        p1 = op.cross(x, step)
        p2 = op.cross(step, step)

        def slope(t: float) -> float:
            return op.slope(p0, p1, p2, t)

        if g0 >= 0:  # already at the minimum along this line (converged to round-off)
            return 1.0
        g1 = slope(1.0)
        if g1 <= 0:
            return 1.0
        lo, g_lo, hi, g_hi = 0.0, g0, 1.0, g1
        for _ in range(30):
            t = lo - g_lo * (hi - lo) / (g_hi - g_lo)
            t = min(max(t, lo + 0.01 * (hi - lo)), hi - 0.01 * (hi - lo))
            g = slope(t)
            if g <= 0:
                lo, g_lo = t, g
                if g >= LINE_SEARCH_SLOPE * g0:
                    return t
            else:
                hi, g_hi = t, g
        return lo if lo > 0 else 0.5 * hi

    # -- results --------------------------------------------------------------------------
    def _solution(self, op: FieldOperator, state: _State, anode, cathode, voltage,
                  ia: int) -> PairSolution:
        sigma = state.sigma
        if sigma is None:  # stopped after a step, at the iteration limit
            sigma = op.sigma(np.sqrt(op.e2_axes(state.x).sum(axis=0)))
        e = op.e_field_central(state.x)
        x = state.x
        potential = x[: op.n_cells].copy()
        inside = op.geometry.inside_electrode
        potential[inside >= 0] = x[op.n_cells + inside[inside >= 0]]
        currents = op.link_currents(x, sigma)
        names = [el.name for el in self.problem.electrodes]
        shape = op.grid.shape
        return PairSolution(
            anode=anode,
            cathode=cathode,
            voltage_V=voltage,
            potential_V=potential.reshape(shape),
            e_field_V_per_m=e.reshape(shape),
            sigma_S_per_m=sigma.reshape(shape),
            current_A=float(currents[ia]),
            converged=state.converged,
            iterations=state.iterations,
            final_change=state.history[-1],
            electrode_potentials_V={n: float(v) for n, v in zip(names, x[op.n_cells:],
                                                                 strict=True)},
            history=tuple(state.history),
            energy_J=tuple(state.energy),
            electrode_currents_A={n: float(c) for n, c in zip(names, currents, strict=True)},
            linear_iterations=state.linear_iterations,
        )


def solve_pair(problem: FieldProblem, anode: str, cathode: str, voltage_V: float,
               options: SolverOptions | None = None) -> PairSolution:
    """One-off convenience: ``FieldSolver(problem, options).solve_pair(anode, cathode, V)``."""
    return FieldSolver(problem, options).solve_pair(anode, cathode, voltage_V)
