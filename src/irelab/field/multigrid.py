"""Geometric multigrid on nested voxel grids: the preconditioner of the field solver.

Why our own cycle and not an algebraic one: on the 2-million-voxel example a pyamg
smoothed-aggregation setup alone takes about 8 s on our 2-core machine (measured with
``pyamg.smoothed_aggregation_solver`` on the 160x160x80 7-point matrix), and the conductivity
changes at every nonlinear step. The voxel grids nest exactly (a coarse cell is 2x2x2 fine cells),
so each coarser level is simply the same finite-volume operator *rediscretised* on the coarser
grid (:class:`~irelab.field.operators.FieldOperator`, with the cut-cell electrodes recomputed
there and the conductivity averaged over the 8 children; sub-voxel tissue interfaces,
:mod:`irelab.field.interfaces`, only on the finest level: the coarser ones only precondition it
and provide its start). Its face conductances cost one sweep, so the whole hierarchy is
refreshed at every nonlinear step for less than one fine-grid operator application. The
ray-cast cut cells keep a needle thinner than the spacing on the coarse grids (as partly open
faces and links of small aperture), so coarsening continues down to
``COARSEST_CELLS``, where a sparse LU factorisation (SuperLU through SciPy) solves exactly.

Smoother: red-black Gauss-Seidel in single precision (a preconditioner needs no more), floating
electrodes relaxed after the cells; transfers: cell-centred trilinear prolongation ``P``
(weights 3/4, 1/4 per axis) and restriction ``P^T``. Red then black before the coarse
correction and black then red after it make the V-cycle a symmetric positive definite operator,
as conjugate gradients requires. ``P^T A_h P`` and the rediscretised ``A_2h`` approximate the same
energy, so no coarse scaling factor is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pyamg
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from irelab.field.kernels import ArrayKernels, transfer_maps
from irelab.field.operators import FieldOperator
from irelab.field.problem import FieldProblem, Grid

__all__: list[str] = []

CoarsestSolve = Callable[[np.ndarray], np.ndarray]

COARSEST_CELLS = 1_500
"""Coarsen until a level has at most this many cells; it is factorised exactly (a few ms)."""

DIRECT_CELLS = 8_000
"""A coarsest level larger than this (a grid one voxel thick stops coarsening early) is solved
approximately by algebraic multigrid (pyamg) instead of a sparse LU, whose fill grows fast."""

CALIBRATED_SPACING_RADII = 4.0
"""Coarse grids wider than this many needle radii only precondition (the solver starts no
nonlinear iteration on them): their links get no window calibration (it would not fit)."""

COARSEST_ORDERING = "MMD_AT_PLUS_A"
"""SuperLU's fill-reducing column ordering for the coarsest level: minimum degree on the
pattern of ``A^T + A`` (the matrix is symmetric). Measured on the 206 coarsest matrices (733
unknowns) of one evaluation of the 30 mm demo plan at 1 mm: 39 k nonzeros in the factors
against 77 k with SciPy's default COLAMD, 2.62 ms per factorisation against 3.62 ms, 0.046 ms
per solve against 0.074 ms."""

SMOOTHER_DTYPE = np.float32
"""Precision of the V-cycle's arrays: halves its memory traffic; the outer iteration is float64."""


def coarser_grid(grid: Grid) -> Grid:
    """The grid of 2x2x2 blocks: coarse cell ``i`` covers fine cells ``2i`` and ``2i + 1``."""
    shape = tuple((n + 1) // 2 for n in grid.shape)
    origin = tuple(o + grid.spacing_m / 2 for o in grid.origin_m)
    return Grid(shape=shape, spacing_m=2 * grid.spacing_m, origin_m=origin)  # type: ignore[arg-type]


def build_levels(problem: FieldProblem, kernels: ArrayKernels,
                 coarsest_cells: int = COARSEST_CELLS) -> list[FieldOperator]:
    """The operators of the hierarchy for ``problem``, finest first."""
    op = FieldOperator(problem.grid, problem.labels, problem.tissues, problem.electrodes,
                       problem.insulators, kernels, interfaces=problem.subvoxel)
    levels = [op]
    n_tissues = len(problem.tissues)
    radius = min((e.radius_m for e in problem.electrodes), default=np.inf)
    while op.grid.size > coarsest_cells and min(op.grid.shape) >= 2:
        grid = coarser_grid(op.grid)
        counts = np.stack([kernels.block_mean((op.labels == k).astype(float), grid.shape)
                           for k in range(n_tissues)])
        labels = counts.argmax(axis=0).astype(op.labels.dtype)
        op = FieldOperator(grid, labels, problem.tissues, problem.electrodes,
                           problem.insulators, kernels,
                           calibrate=grid.spacing_m <= CALIBRATED_SPACING_RADII * radius)
        levels.append(op)
    return levels


class _Stage:
    """One level's operator at the current conductivity, in the smoother's precision."""

    def __init__(self, op: FieldOperator, metric: Sequence[np.ndarray],
                 driven: Mapping[int, float]) -> None:
        self.op = op
        k = op.kernels
        dt = SMOOTHER_DTYPE
        self.G = op.face_conductances(list(metric), [np.empty(op.shape, dt) for _ in range(3)])
        diag = k.stencil_diag(self.G, np.empty(op.shape))
        g_links = op.link_conductances(list(metric))
        group = np.bincount(op.link_group, weights=g_links, minlength=len(op.group_cell))
        np.add.at(diag.ravel(), op.group_cell, group)
        floating = np.ones(op.n_electrodes + 1, dtype=bool)
        floating[list(driven)] = False
        floating[-1] = False
        on = floating[op.group_electrode]
        self.link_cell = op.group_cell[on]
        self.link_electrode = op.group_electrode[on]
        self.link_g = group[on]
        # the cells with a floating electrode's link, each once, and each link's slot among them
        self.link_cells, self.link_slot = np.unique(self.link_cell, return_inverse=True)
        self.b_links = np.empty(op.shape, dt)  # b plus the links' sources (one per stage and
        # Newton step: at 1 mm a fresh grid-sized array per sweep was fresh memory each time)
        self.floating = np.flatnonzero(floating[:-1])
        self.electrode_diag = np.bincount(self.link_electrode, weights=self.link_g,
                                          minlength=op.n_electrodes)
        diag.ravel()[op.inactive] = 1.0
        diag[diag <= 0] = 1.0
        self.diag = diag.astype(dt)
        self.kernels = k

    def residual(self, x: np.ndarray, xe: np.ndarray, b: np.ndarray,
                 be: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``b - A x`` for the cells and the floating electrodes."""
        op = self.op
        r = self.kernels.residual(self.G, self.diag, x, b, np.empty(op.shape, dtype=x.dtype))
        if len(self.link_cell):
            r.ravel()[self.link_cells] += self._link_sources(xe)
        re = be - (self.electrode_diag * xe - np.bincount(
            self.link_electrode, weights=self.link_g * x.ravel()[self.link_cell],
            minlength=op.n_electrodes))
        return r, re

    def smooth(self, x, xe, b, be, colours, zero=False) -> None:
        """One red-black sweep over the cells; the floating electrodes before (post-smoothing)
        or after (pre-smoothing) it, so that pre and post are each other's transposes.
        ``zero``: ``x`` and ``xe`` are 0 on entry (a shortcut, same result)."""
        if colours == (1, 0):
            self._electrodes(x, xe, be)
        beff = b
        if len(self.link_cell):
            beff = self.b_links
            np.copyto(beff, b)
            beff.ravel()[self.link_cells] += self._link_sources(xe)
        self.kernels.gauss_seidel(self.G, self.diag, x, beff, colours, zero)
        if colours == (0, 1):
            self._electrodes(x, xe, be)

    def _link_sources(self, xe: np.ndarray) -> np.ndarray:
        """The current the floating electrodes at ``xe`` drive into each of ``link_cells``."""
        return np.bincount(self.link_slot, weights=self.link_g * xe[self.link_electrode],
                           minlength=len(self.link_cells))

    def _electrodes(self, x, xe, be) -> None:
        if len(self.floating) == 0:
            return
        pull = np.bincount(self.link_electrode, weights=self.link_g * x.ravel()[self.link_cell],
                           minlength=self.op.n_electrodes)
        f = self.floating
        xe[f] = (be[f] + pull[f]) / np.where(self.electrode_diag[f] > 0,
                                             self.electrode_diag[f], 1.0)

    def factorise(self) -> CoarsestSolve:
        """The exact solve of this level's operator (cells, then floating electrodes) by its
        sparse LU, or an approximate one by algebraic multigrid on a large level."""
        op = self.op
        n = op.n_cells
        flat = np.arange(n).reshape(op.shape)
        rows, cols, vals = [], [], []
        for axis in range(3):
            lo, hi = [slice(None)] * 3, [slice(None)] * 3
            lo[axis], hi[axis] = slice(0, -1), slice(1, None)
            a, b = flat[tuple(lo)].ravel(), flat[tuple(hi)].ravel()
            g = self.G[axis][tuple(lo)].ravel().astype(float)
            keep = g != 0
            rows += [a[keep], b[keep]]
            cols += [b[keep], a[keep]]
            vals += [-g[keep], -g[keep]]
        m = len(self.floating)
        index = np.full(op.n_electrodes, -1)
        index[self.floating] = n + np.arange(m)
        e_rows = index[self.link_electrode]
        rows += [self.link_cell, e_rows, np.arange(n), n + np.arange(m)]
        cols += [e_rows, self.link_cell, np.arange(n), n + np.arange(m)]
        e_diag = self.electrode_diag[self.floating]
        vals += [-self.link_g, -self.link_g, self.diag.ravel().astype(float),
                 np.where(e_diag > 0, e_diag, 1.0)]
        matrix = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                       np.concatenate(cols))),
                               shape=(n + m, n + m))
        if n <= DIRECT_CELLS:
            return splu(matrix.tocsc(), permc_spec=COARSEST_ORDERING).solve
        # a thin grid that cannot be coarsened further (one voxel layer): one V-cycle of
        # pyamg's smoothed aggregation, a fixed linear operator as conjugate gradients needs
        ml = pyamg.smoothed_aggregation_solver(
            matrix, max_coarse=500, coarse_solver="splu", improve_candidates=None,
            smooth=("jacobi", {"weighting": "local"}))  # no spectral estimates: fast set-up
        return _amg_cycle(ml)


def _amg_cycle(ml):
    """One V-cycle of a pyamg hierarchy as a function (pyamg's own wrapper computes residual
    norms at every call, which costs more than the cycle here)."""
    levels = ml.levels

    def cycle(k: int, b: np.ndarray) -> np.ndarray:
        level = levels[k]
        if k == len(levels) - 1:
            return np.asarray(ml.coarse_solver(level.A, b)).ravel()
        x = np.zeros_like(b)
        level.presmoother(level.A, x, b)
        x += level.P @ cycle(k + 1, level.R @ (b - level.A @ x))
        level.postsmoother(level.A, x, b)
        return x

    return lambda b: cycle(0, b)


class MultigridPreconditioner:
    """A symmetric V-cycle for the operator of ``levels[0]`` at the conductivity ``metric``.

    ``metric`` is one array per cell or one per axis (the diagonal of a conductivity tensor);
    the coarse levels get the block means. Driven electrodes are fixed (their correction is 0).
    ``coarsest``: the :attr:`coarsest` solve of an earlier cycle on the same levels with the
    same driven electrodes, used instead of factorising this metric's coarsest operator.
    """

    def __init__(self, levels: Sequence[FieldOperator], metric,
                 driven: Mapping[int, float], smoothing_steps: int = 1,
                 coarsest: CoarsestSolve | None = None) -> None:
        self.steps = smoothing_steps
        m = [metric] * 3 if isinstance(metric, np.ndarray) else list(metric)
        self.stages = []
        self.kernels = levels[0].kernels
        for k, op in enumerate(levels):
            if k:
                m = [self.kernels.block_mean(mi, op.shape) for mi in m]
            self.stages.append(_Stage(op, m, driven))
        self.maps = [transfer_maps(fine.shape, coarse.shape)
                     for fine, coarse in zip(levels[:-1], levels[1:], strict=False)]
        self.coarsest = self.stages[-1].factorise() if coarsest is None else coarsest
        """The coarsest level's solve (a function of the right-hand side: cells, then floating
        electrodes), reusable by later cycles as ``coarsest``."""

    def _cycle(self, k: int, b: np.ndarray, be: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        stage = self.stages[k]
        if k == len(self.stages) - 1:
            n = stage.op.n_cells
            rhs = np.concatenate([b.ravel().astype(float), be[stage.floating]])
            sol = self.coarsest(rhs)
            x = sol[:n].reshape(stage.op.shape).astype(b.dtype)
            x.ravel()[stage.op.inactive] = 0
            xe = np.zeros_like(be)
            xe[stage.floating] = sol[n:]
            return x, xe
        x = np.zeros_like(b)
        xe = np.zeros_like(be)
        for step in range(self.steps):
            stage.smooth(x, xe, b, be, (0, 1), zero=step == 0)
        r, re = stage.residual(x, xe, b, be)
        coarse = self.stages[k + 1].op
        cx, cxe = self._cycle(k + 1, self.kernels.restrict(r, coarse.shape, self.maps[k]), re)
        x += self.kernels.prolong(cx, stage.op.shape, self.maps[k])
        x.ravel()[stage.op.inactive] = 0
        xe += cxe
        for _ in range(self.steps):
            stage.smooth(x, xe, b, be, (1, 0))
        return x, xe

    def __call__(self, r: np.ndarray) -> np.ndarray:
        op = self.stages[0].op
        b = r[: op.n_cells].reshape(op.shape).astype(SMOOTHER_DTYPE)
        be = np.asarray(r[op.n_cells:], dtype=float)
        be_in = np.zeros(op.n_electrodes)
        be_in[self.stages[0].floating] = be[self.stages[0].floating]
        x, xe = self._cycle(0, b, be_in)
        out = np.empty(op.size)
        out[: op.n_cells] = x.ravel()
        out[op.n_cells:] = xe
        return out


def smoothed_correction(op: FieldOperator, sigma: np.ndarray, driven: Mapping[int, float],
                        residual: np.ndarray, sweeps: int) -> np.ndarray:
    """``sweeps`` symmetric Gauss-Seidel sweeps on ``A(sigma) c = residual`` from ``c = 0``."""
    stage = _Stage(op, [sigma] * 3, driven)
    b = residual[: op.n_cells].reshape(op.shape).astype(SMOOTHER_DTYPE)
    be = np.zeros(op.n_electrodes)
    be[stage.floating] = residual[op.n_cells:][stage.floating]
    x = np.zeros_like(b)
    xe = np.zeros(op.n_electrodes)
    for sweep in range(sweeps):
        stage.smooth(x, xe, b, be, (0, 1), zero=sweep == 0)
        stage.smooth(x, xe, b, be, (1, 0))
    out = np.empty(op.size)
    out[: op.n_cells] = x.ravel()
    out[op.n_cells:] = xe
    return out
