"""Evaluate a probe layout with the field solver: lethal zone, coverage, healthy volume, currents.

The lethal zone is where the maximum over all pairs (and pullback positions) of |E| reaches the
local tissue's irreversible threshold ``e_irr`` (the same rule as ``irelab simulate``). One
:class:`~irelab.field.FieldSolver` is kept per probe geometry, so changing the voltages reuses
its grid hierarchy; every solve starts from the previous solution of the same pair (same
probes, same position), also after probes moved: a good start saves about half the Newton steps.

Local search moves one probe at a time. ``Evaluator.evaluate(layout, base=...)`` then re-solves
only the pairs that involve a moved probe (or changed voltage) and keeps the other pairs'
fields from ``base``: those pairs see the moved probe only as a floating conductor, a local
disturbance. Such an evaluation is marked ``exact=False``; whatever the planner reports comes
from an exact one (every pair solved in the final geometry).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from irelab.field.problem import FieldProblem, PairSolution
from irelab.field.solver import FieldSolver, SolverOptions
from irelab.plan.layout import ProbeLayout, track_mask
from irelab.plan.targets import PlanTarget
from irelab.plan.workers import SolveJob, SolverPool
from irelab.simulation.lethal import lethal_zone

__all__ = ["LayoutEvaluation", "Evaluator"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class LayoutEvaluation:
    """Field results of one layout on one grid.

    ``currents_A[position][pair]``; ``max_e_V_per_m`` over all pairs and positions; ``power``
    holds the Joule power ``sigma |E|^2`` (W/m^3) of every pair in delivery order (positions
    deepest first), for the thermal model.
    """

    layout: ProbeLayout
    coverage: float
    healthy_m3: float
    lethal: np.ndarray
    max_e_V_per_m: np.ndarray
    currents_A: tuple[tuple[float, ...], ...]
    converged: bool
    power: tuple[np.ndarray, ...] = ()
    fields: tuple[np.ndarray, ...] = ()
    """|E| of every pair (positions deepest first), kept on the coarse grid for predictions."""
    counted: np.ndarray | None = None
    """Target voxels counted for coverage (the target minus the needle track)."""
    exact: bool = True
    """False when some pairs' fields were kept from another geometry (see the module doc)."""

    @property
    def max_current_A(self) -> float:
        return max(max(c) for c in self.currents_A)

    def pair_currents_A(self) -> np.ndarray:
        """Largest current of each pair over the positions."""
        return np.max(np.asarray(self.currents_A), axis=0)

    def ratios(self, threshold_V_per_m: np.ndarray) -> np.ndarray:
        """``e_irr / |E|`` on the counted voxels (flat, in ``np.argwhere`` order): a voxel is
        in the lethal zone when its ratio is at most 1."""
        counted = self.counted
        return threshold_V_per_m[counted] / np.maximum(self.max_e_V_per_m[counted], 1e-30)


def _placement(layout: ProbeLayout, position: int) -> tuple[float, tuple[float, float]]:
    """What identifies a placement of the array: its tip (axial) and in-plane shift."""
    return layout.tips_m[position], layout.shift_m(position)


def translated(array: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """``array`` moved by whole voxels ``steps`` (per axis), edges repeated."""
    out = array
    for axis, n in enumerate(int(v) for v in steps):
        if n == 0:
            continue
        pad = [(0, 0)] * array.ndim
        pad[axis] = (n, 0) if n > 0 else (0, -n)
        padded = np.pad(out, pad, mode="edge")
        index = [slice(None)] * array.ndim
        index[axis] = slice(0, array.shape[axis]) if n > 0 else slice(-n, None)
        out = padded[tuple(index)]
    return out


class Evaluator:
    """Solves layouts on one anatomy grid, caching solvers per geometry and the last solution
    of each pair (for warm starts).

    ``solves`` counts pair solves and ``solve_s`` the seconds they took. A target voxel counts
    as covered when its |E| reaches ``coverage_margin`` times its threshold (the lethal zone
    itself, and the healthy volume, use the threshold): with a margin above the solver's
    tolerance, re-solving the plan from scratch (``irelab simulate``) finds at least the
    coverage reported."""

    def __init__(self, anatomy: FieldProblem, target: PlanTarget,
                 options: SolverOptions | None = None, keep_power: bool = False,
                 keep_fields: bool = True, progress: Callable[[str], None] | None = None,
                 max_solvers: int = 4, warm: dict | None = None,
                 coverage_margin: float = 1.0, pool: SolverPool | None = None) -> None:
        self.anatomy = anatomy
        self.target = target
        self.options = options or SolverOptions()
        self.keep_power = keep_power
        self.keep_fields = keep_fields
        self.progress = progress
        self.max_solvers = max_solvers
        self.pool = pool
        # per geometry: its FieldSolver (one process) or its problem (the pool's workers hold
        # the solvers); least recently used first, at most max_solvers
        self._solvers: dict[tuple, FieldSolver | FieldProblem] = {}
        # last solution per (tip, shift, anode index, cathode index): the start of the next
        # solve of that pair at that placement; ``warm`` shares it with another evaluator on
        # the same grid
        self._last: dict[tuple, PairSolution] = {} if warm is None else warm
        self.coverage_margin = coverage_margin
        self.solves = 0
        self.solve_s = 0.0
        self.healthy_mask = ~target.target & ~target.tumour & ~target.critical_any
        self._tracks: dict[tuple, np.ndarray] = {}

    @property
    def warm_starts(self) -> dict[tuple, PairSolution]:
        """The last solution of each pair, by (tip, shift, anode index, cathode index) of its
        placement: pass it as ``warm`` to another evaluator on the same grid to share them."""
        return self._last

    def track(self, layout: ProbeLayout) -> np.ndarray:
        """The needle tracks of ``layout`` (cached by its geometry; the last few kept)."""
        key = (layout.points_m, layout.exposed_m, layout.tips_m, layout.shifts_m)
        track = self._tracks.pop(key, None)
        if track is None:
            while len(self._tracks) >= 8:
                del self._tracks[next(iter(self._tracks))]
            track = track_mask(layout, self.target)
        self._tracks[key] = track
        return track

    def conductor(self, layout: ProbeLayout, max_e: np.ndarray) -> np.ndarray:
        """Voxels that are not tissue: the needle tracks, and any voxel where no pair has any
        field at all. The second are the solver's conductor cells that the track (voxel centres
        strictly inside a probe) leaves out: a centre exactly on a probe's end (its tip, or the
        end of its electrode) lies on the boundary, and the solver's cut cells count it as
        inside; a voxel of tissue always carries some field."""
        return self.track(layout) | (max_e == 0)

    def _geometry(self, layout: ProbeLayout, position: int) -> tuple:
        """The cache key of ``layout``'s geometry at ``position``, marked most recently used;
        the least recently used geometry beyond ``max_solvers`` is forgotten (by the pool's
        workers too)."""
        key = (layout.points_m, layout.exposed_m, layout.tips_m[position],
               layout.shift_m(position))
        entry = self._solvers.pop(key, None)
        if entry is None:
            while len(self._solvers) >= self.max_solvers:  # bound memory: forget the oldest
                old = next(iter(self._solvers))
                del self._solvers[old]
                if self.pool is not None:
                    self.pool.forget((id(self), old))
            problem = layout.problem(self.anatomy, self.target, position)
            entry = problem if self.pool is not None else FieldSolver(problem, self.options)
        self._solvers[key] = entry
        return key

    def forget(self) -> None:
        """Drop every cached solver (here and in the pool's workers)."""
        if self.pool is not None:
            for key in self._solvers:
                self.pool.forget((id(self), key))
        self._solvers.clear()

    def _solve(self, layout: ProbeLayout, position: int,
               jobs: list[tuple[int, int, str, str, float]]) -> list[PairSolution]:
        """Solve ``jobs`` ((i, j, anode, cathode, voltage) at ``position``), each from its warm
        start: one after the other here, or on the pool's workers (the same results)."""
        if not jobs:
            return []
        starts = [self._start(layout, position, (i, j)) for i, j, *_ in jobs]
        if self.progress is not None:
            self.progress(", ".join(f"{a}-{c} {v:.0f} V" for _i, _j, a, c, v in jobs))
        t0 = time.perf_counter()
        if self.pool is None:
            out = []
            for (_i, _j, anode, cathode, volts), start in zip(jobs, starts, strict=True):
                solver = self._solvers[self._geometry(layout, position)]
                out.append(solver.solve_pair(anode, cathode, volts, initial=start))
        else:
            key = self._geometry(layout, position)
            problem = self._solvers[key]
            out = self.pool.solve([SolveJob((id(self), key), problem, self.options, (i, j),
                                            anode, cathode, volts, start)
                                   for (i, j, anode, cathode, volts), start
                                   in zip(jobs, starts, strict=True)])
        self.solve_s += time.perf_counter() - t0
        self.solves += len(jobs)
        for (i, j, *_), sol in zip(jobs, out, strict=True):
            self._last[(*_placement(layout, position), i, j)] = sol
        return out

    def _reusable(self, layout: ProbeLayout, base: LayoutEvaluation | None
                  ) -> tuple[dict[int, tuple[int, int, int]], bool]:
        """Fields of ``base`` that ``layout`` can keep: {index in delivery order: (position in
        base, pair index in base, index in base's delivery order)}, and whether a probe moved.
        A field is kept when base has the same placement (tip and shift), neither probe of the
        pair moved and the pair's voltage is the same."""
        if (base is None or not base.fields
                or base.fields[0].shape != self.target.grid.shape
                or base.layout.exposed_m != layout.exposed_m
                or base.layout.n_probes != layout.n_probes
                or (self.keep_power and not base.power)):
            return {}, False
        moved = {k for k in range(layout.n_probes)
                 if layout.points_m[k] != base.layout.points_m[k]}
        old = {pair: (p, v) for p, (pair, v) in enumerate(zip(base.layout.pairs,
                                                               base.layout.voltages_V,
                                                               strict=True))}
        placed = {_placement(base.layout, q): q for q in range(base.layout.n_positions)}
        keep = {}
        n_pairs, n_old = len(layout.pairs), len(base.layout.pairs)
        for pos in range(layout.n_positions):
            q = placed.get(_placement(layout, pos))
            if q is None:
                continue
            for p, ((i, j), v) in enumerate(zip(layout.pairs, layout.voltages_V, strict=True)):
                if i in moved or j in moved or (i, j) not in old or old[(i, j)][1] != v:
                    continue
                keep[pos * n_pairs + p] = (q, old[(i, j)][0], q * n_old + old[(i, j)][0])
        return keep, bool(moved)

    def _start(self, layout: ProbeLayout, position: int, pair: tuple[int, int]
               ) -> PairSolution | None:
        """Warm start of ``pair`` at ``position``: its last solution at this placement, else
        (a new sideways placement) its solution at a placement with the same tip moved by the
        shift between the two, when that is a whole number of voxels along the grid's axes."""
        tip, shift = _placement(layout, position)
        last = self._last.get((tip, shift, *pair))
        if last is not None:
            return last
        target = self.target
        for (tip_o, shift_o, i, j), sol in self._last.items():
            if tip_o != tip or (i, j) != pair:
                continue
            d = (np.subtract(shift, shift_o) @ np.stack([target.e1, target.e2])
                 ) / target.grid.spacing_m
            steps = np.round(d).astype(int)
            if np.abs(d - steps).max() > 1e-6:
                continue
            if len(sol.electrode_potentials_V) != layout.n_probes:
                continue
            return replace(sol, potential_V=translated(sol.potential_V, steps))
        return None

    def evaluate(self, layout: ProbeLayout,
                 base: LayoutEvaluation | None = None) -> LayoutEvaluation:
        """Solve every pair at every position (or, with ``base``, only the pairs that changed)."""
        grid = self.target.grid
        keep, moved = self._reusable(layout, base)
        max_e = np.zeros(grid.shape)
        currents: list[tuple[float, ...]] = []
        power: list[np.ndarray] = []
        fields: list[np.ndarray] = []
        converged = True if not keep else base.converged
        n_pairs = len(layout.pairs)
        for position in range(layout.n_positions):
            jobs = [(i, j, anode, cathode, v) for p, ((anode, cathode), (i, j), v) in enumerate(
                zip(layout.pair_names(), layout.pairs, layout.voltages_V, strict=True))
                if position * n_pairs + p not in keep]
            solved = iter(self._solve(layout, position, jobs))
            row = []
            for p in range(n_pairs):
                index = position * n_pairs + p
                if index in keep:
                    q_old, p_old, i_old = keep[index]
                    e = base.fields[i_old]
                    row.append(base.currents_A[q_old][p_old])
                    if self.keep_power:
                        power.append(base.power[i_old])
                else:
                    sol = next(solved)
                    converged &= sol.converged
                    e = sol.e_field_V_per_m
                    row.append(abs(sol.current_A))
                    if self.keep_power:
                        power.append(sol.sigma_S_per_m * e**2)
                np.maximum(max_e, e, out=max_e)
                if self.keep_fields:
                    fields.append(e)
            currents.append(tuple(row))
        track = self.conductor(layout, max_e)
        counted = self.target.target & ~track
        lethal = lethal_zone(max_e, self.target.lethal_threshold_V_per_m, track)
        cov, healthy = self.score_lethal(lethal, counted, max_e)
        return LayoutEvaluation(layout=layout, coverage=cov, healthy_m3=healthy,
                                lethal=lethal, max_e_V_per_m=max_e, currents_A=tuple(currents),
                                converged=converged, power=tuple(power), fields=tuple(fields),
                                counted=counted,
                                exact=not keep or (base.exact and not moved))

    def score_lethal(self, lethal: np.ndarray, counted: np.ndarray,
                     max_e: np.ndarray | None = None) -> tuple[float, float]:
        """Coverage of ``counted`` and healthy volume (m^3) of a lethal mask; with ``max_e``,
        coverage counts the voxels that reach the threshold times ``coverage_margin``."""
        n = int(counted.sum())
        covered = lethal
        if max_e is not None and self.coverage_margin != 1.0:
            covered = lethal_zone(max_e, self.target.lethal_threshold_V_per_m,
                                  factor=self.coverage_margin)
        coverage = float((covered & counted).sum() / n) if n else 1.0
        healthy = float((lethal & self.healthy_mask).sum() * self.target.grid.voxel_volume_m3)
        return coverage, healthy

    def predict(self, ev: LayoutEvaluation, voltages) -> LayoutEvaluation:
        """Evaluation at other voltages by scaling each pair's |E| linearly (no solve).

        Near the lethal threshold |E| varies about as V**0.8 for the smoothed-step tissue
        (measured, see :data:`irelab.plan.voltages.FIELD_EXPONENT`), so linear scaling
        overstates what a lower voltage loses (conservative: the planner uses it only to turn
        pairs down to the current limit) and would overstate what a higher one gains. Whatever
        is reported is solved.
        """
        volts = np.asarray(voltages, dtype=float)
        factors = np.tile(volts / np.asarray(ev.layout.voltages_V), ev.layout.n_positions)
        max_e = np.zeros(self.target.grid.shape)
        for f, e in zip(factors, ev.fields, strict=True):
            np.maximum(max_e, f * e, out=max_e)
        lethal = lethal_zone(max_e, self.target.lethal_threshold_V_per_m,
                             self.conductor(ev.layout, ev.max_e_V_per_m))
        cov, healthy = self.score_lethal(lethal, ev.counted, max_e)
        scale = (volts / np.asarray(ev.layout.voltages_V)) ** 1.15
        currents = tuple(tuple(c * s for c, s in zip(row, scale, strict=True))
                         for row in ev.currents_A)
        return LayoutEvaluation(layout=ev.layout.with_voltages(volts), coverage=cov,
                                healthy_m3=healthy, lethal=lethal, max_e_V_per_m=max_e,
                                currents_A=currents, converged=ev.converged, fields=(),
                                counted=ev.counted, exact=False)
