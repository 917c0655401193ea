"""Geometric multigrid on nested voxel grids: the preconditioner of the field solver.

Why our own cycle and not pyamg end to end: on the 2-million-voxel example a pyamg
smoothed-aggregation setup alone takes about 8 s on our 2-core machine (measured with
``pyamg.smoothed_aggregation_solver`` on the 160x160x80 7-point matrix), and the conductivity
changes at every nonlinear step. The voxel grids nest exactly (a coarse cell is 2x2x2 fine cells),
so each coarser level is simply the same finite-volume operator *rediscretised* on the coarser
grid (:class:`~irelab.field.operators.FieldOperator`, with the cut-cell electrodes recomputed
there and the conductivity averaged over the 8 children). Assembling it costs a few vectorised
passes, so the whole hierarchy is refreshed at every nonlinear step for the price of one or two
fine-grid matrix-vector products. Only the coarsest level (a few ten thousand cells) uses pyamg's
smoothed aggregation (built at the first step of a solve and reused for its later steps), and
pyamg's compiled Gauss-Seidel is the smoother.

Transfers are cell-centred trilinear prolongation ``P`` (weights 3/4, 1/4 per axis, Kronecker
product of 1-D matrices) and restriction ``P^T``; electrode potentials map one to one. Forward
Gauss-Seidel before and backward after the coarse correction make the V-cycle a symmetric
positive definite operator, as conjugate gradients requires. ``P^T A_h P`` and the rediscretised
``A_2h`` approximate the same energy, so no coarse scaling factor is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyamg
import scipy.sparse as sp
from pyamg.relaxation.relaxation import gauss_seidel
from scipy.sparse.linalg import LinearOperator

from irelab.field.operators import FieldOperator
from irelab.field.problem import FieldProblem, Grid

__all__: list[str] = []

COARSEST_CELLS = 40_000
"""Stop coarsening below this many cells: pyamg builds its hierarchy there in a few 10 ms.
(Coarsening further geometrically loses the needles: measured 5-7 instead of 2 CG iterations.)"""


MAX_COARSE_SPACING_RADII = 4.0
"""No coarse grid wider than this many needle radii: a coarser one no longer sees the needles
and its correction is useless (measured at 1.5 mm: 45 instead of ~20 CG iterations)."""


def _prolong_1d(n_fine: int, n_coarse: int) -> sp.csr_matrix:
    i = np.arange(n_fine)
    c = i // 2
    other = np.where(i % 2 == 0, c - 1, c + 1)
    ok = (other >= 0) & (other < n_coarse)
    rows = np.concatenate([i, i[ok]])
    cols = np.concatenate([c, other[ok]])
    vals = np.concatenate([np.where(ok, 0.75, 1.0), np.full(int(ok.sum()), 0.25)])
    return sp.csr_matrix((vals, (rows, cols)), shape=(n_fine, n_coarse))


def _aggregate_1d(n_fine: int, n_coarse: int) -> sp.csr_matrix:
    i = np.arange(n_fine)
    return sp.csr_matrix((np.ones(n_fine), (i, i // 2)), shape=(n_fine, n_coarse))


def _kron3(mats) -> sp.csr_matrix:
    return sp.kron(sp.kron(mats[0], mats[1]), mats[2], format="csr")


def coarser_grid(grid: Grid) -> Grid:
    """The grid of 2x2x2 blocks: coarse cell ``i`` covers fine cells ``2i`` and ``2i + 1``."""
    shape = tuple((n + 1) // 2 for n in grid.shape)
    origin = tuple(o + grid.spacing_m / 2 for o in grid.origin_m)
    return Grid(shape=shape, spacing_m=2 * grid.spacing_m, origin_m=origin)  # type: ignore[arg-type]


@dataclass(eq=False)
class Level:
    """One grid of the hierarchy; ``prolong`` and ``aggregate`` map from ``coarser`` to it,
    ``restrict`` (``prolong`` transposed) back."""

    op: FieldOperator
    coarser: Level | None = None
    prolong: sp.csr_matrix | None = None
    restrict: sp.csr_matrix | None = None
    aggregate: sp.csr_matrix | None = None
    aggregate_count: np.ndarray | None = None


def build_levels(problem: FieldProblem, coarsest_cells: int = COARSEST_CELLS) -> Level:
    """The finest level of the hierarchy for ``problem`` (coarser levels linked from it)."""
    op = FieldOperator(problem.grid, problem.labels, problem.tissues, problem.electrodes,
                       problem.insulators)
    top = Level(op)
    level = top
    n_tissues = len(problem.tissues)
    radius = min((e.radius_m for e in problem.electrodes), default=np.inf)
    while (level.op.grid.size > coarsest_cells and min(level.op.grid.shape) >= 2
           and 2 * level.op.grid.spacing_m <= MAX_COARSE_SPACING_RADII * radius):
        fine = level.op.grid
        grid = coarser_grid(fine)
        agg = _kron3([_aggregate_1d(nf, nc) for nf, nc in zip(fine.shape, grid.shape,
                                                               strict=True)])
        labels_f = level.op.labels.ravel()
        counts = np.stack([agg.T @ (labels_f == k).astype(float) for k in range(n_tissues)])
        labels_c = counts.argmax(axis=0).reshape(grid.shape)
        coarse_op = FieldOperator(grid, labels_c, problem.tissues, problem.electrodes,
                                  problem.insulators)
        p_cells = _kron3([_prolong_1d(nf, nc) for nf, nc in zip(fine.shape, grid.shape,
                                                                strict=True)])
        m = len(problem.electrodes)
        level.prolong = sp.block_diag([p_cells, sp.identity(m)], format="csr") if m else p_cells
        level.restrict = level.prolong.T.tocsr()
        level.aggregate = agg
        level.aggregate_count = np.asarray(agg.sum(axis=0)).ravel()
        level.coarser = Level(coarse_op)
        level = level.coarser
    return top


def _amg_cycle(ml):
    """One V-cycle of a pyamg hierarchy as a function (pyamg's own preconditioner wrapper
    computes residual norms at every call, which costs more than the cycle here)."""
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
    """A symmetric V-cycle for ``matrix``, the operator of ``level`` at conductivity ``sigma``.

    ``sigma`` is one array per cell or one per axis, as for ``FieldOperator.assemble``; the coarse
    levels get the 2x2x2 block averages. ``coarse`` reuses the coarsest level's pyamg cycle
    of an earlier step (its hierarchy is then only approximately that of the current matrix, which
    conjugate gradients tolerates); by default it is built here.
    """

    def __init__(self, level: Level, matrix: sp.csr_matrix, sigma,
                 driven: Mapping[int, float], smoothing_steps: int = 1,
                 coarse=None) -> None:
        self.steps = smoothing_steps
        self.matrices = [matrix]
        self.prolongs, self.restricts = [], []
        current = level
        s = [sigma] * 3 if isinstance(sigma, np.ndarray) else list(sigma)
        while current.coarser is not None:
            s = [(current.aggregate.T @ si) / current.aggregate_count for si in s]
            a, _ = current.coarser.op.assemble(s, driven)
            self.matrices.append(a.copy())
            self.prolongs.append(current.prolong)
            self.restricts.append(current.restrict)
            current = current.coarser
        if coarse is None:
            ml = pyamg.smoothed_aggregation_solver(
                self.matrices[-1], max_coarse=500, coarse_solver="splu",
                improve_candidates=None, smooth=("jacobi", {"weighting": "local"}))
            coarse = _amg_cycle(ml)
        self.coarse = coarse
        n = matrix.shape[0]
        self.operator = LinearOperator((n, n), matvec=self._apply, dtype=float)

    def _cycle(self, k: int, b: np.ndarray) -> np.ndarray:
        if k == len(self.matrices) - 1:
            return self.coarse(b)
        a = self.matrices[k]
        x = np.zeros_like(b)
        gauss_seidel(a, x, b, iterations=self.steps, sweep="forward")
        r = b - a @ x
        x += self.prolongs[k] @ self._cycle(k + 1, self.restricts[k] @ r)
        gauss_seidel(a, x, b, iterations=self.steps, sweep="backward")
        return x

    def _apply(self, b: np.ndarray) -> np.ndarray:
        return self._cycle(0, np.asarray(b, dtype=float).ravel())
