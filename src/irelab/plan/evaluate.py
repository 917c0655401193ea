"""Evaluate a probe layout with the field solver: lethal zone, coverage, healthy volume, currents.

The lethal zone is where the maximum over all pairs (and pullback positions) of |E| reaches the
local tissue's irreversible threshold ``e_irr`` (the same rule as ``irelab simulate``). One
:class:`~irelab.field.FieldSolver` is kept per probe geometry, so changing the voltages reuses
its grid hierarchy and starts from the previous solution of the same pair.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from irelab.field.problem import FieldProblem, PairSolution
from irelab.field.solver import FieldSolver, SolverOptions
from irelab.plan.layout import ProbeLayout, track_mask
from irelab.plan.targets import PlanTarget

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

    @property
    def max_current_A(self) -> float:
        return max(max(c) for c in self.currents_A)

    def pair_currents_A(self) -> np.ndarray:
        """Largest current of each pair over the positions."""
        return np.max(np.asarray(self.currents_A), axis=0)


class Evaluator:
    """Solves layouts on one anatomy grid, caching solvers and solutions per geometry."""

    def __init__(self, anatomy: FieldProblem, target: PlanTarget,
                 options: SolverOptions | None = None, keep_power: bool = False,
                 keep_fields: bool = False, progress: Callable[[str], None] | None = None) -> None:
        self.anatomy = anatomy
        self.target = target
        self.options = options or SolverOptions()
        self.keep_power = keep_power
        self.keep_fields = keep_fields
        self.progress = progress
        self._solvers: dict[tuple, FieldSolver] = {}
        self._last: dict[tuple, PairSolution] = {}
        self.solves = 0
        self.healthy_mask = ~target.target & ~target.tumour & ~target.critical_any

    def _solver(self, layout: ProbeLayout, position: int) -> FieldSolver:
        key = (layout.points_m, layout.exposed_m, layout.tips_m[position])
        solver = self._solvers.get(key)
        if solver is None:
            if len(self._solvers) > 8:  # bound memory: forget the oldest geometries
                oldest = next(iter(self._solvers))
                del self._solvers[oldest]
            solver = FieldSolver(layout.problem(self.anatomy, self.target, position),
                                 self.options)
            self._solvers[key] = solver
        return solver

    def evaluate(self, layout: ProbeLayout) -> LayoutEvaluation:
        grid = self.target.grid
        max_e = np.zeros(grid.shape)
        currents: list[tuple[float, ...]] = []
        power: list[np.ndarray] = []
        fields: list[np.ndarray] = []
        converged = True
        for position in range(layout.n_positions):
            solver = self._solver(layout, position)
            row = []
            for (anode, cathode), v in zip(layout.pair_names(position), layout.voltages_V,
                                           strict=True):
                key = (layout.points_m, layout.exposed_m, layout.tips_m[position], anode,
                       cathode)
                if self.progress is not None:
                    self.progress(f"{anode}-{cathode} {v:.0f} V")
                sol = solver.solve_pair(anode, cathode, v, initial=self._last.get(key))
                self.solves += 1
                self._last[key] = sol
                converged &= sol.converged
                row.append(abs(sol.current_A))
                np.maximum(max_e, sol.e_field_V_per_m, out=max_e)
                if self.keep_power:
                    power.append(sol.sigma_S_per_m * sol.e_field_V_per_m**2)
                if self.keep_fields:
                    fields.append(sol.e_field_V_per_m)
            currents.append(tuple(row))
        counted = self.target.target & ~track_mask(layout, self.target)
        lethal = max_e >= self.target.lethal_threshold_V_per_m
        cov, healthy = self.score_lethal(lethal, counted)
        return LayoutEvaluation(layout=layout, coverage=cov, healthy_m3=healthy,
                                lethal=lethal, max_e_V_per_m=max_e, currents_A=tuple(currents),
                                converged=converged, power=tuple(power), fields=tuple(fields),
                                counted=counted)

    def score_lethal(self, lethal: np.ndarray, counted: np.ndarray) -> tuple[float, float]:
        """Coverage of ``counted`` and healthy volume (m^3) of a lethal mask."""
        n = int(counted.sum())
        coverage = float((lethal & counted).sum() / n) if n else 1.0
        healthy = float((lethal & self.healthy_mask).sum() * self.target.grid.voxel_volume_m3)
        return coverage, healthy

    def predict(self, ev: LayoutEvaluation, voltages) -> LayoutEvaluation:
        """Evaluation at other voltages by scaling each pair's |E| linearly (no solve).

        For the smoothed-step tissue a higher voltage enlarges the zone more than linearly
        (conductivity rises with the field), so predicted gains are conservative; the fine
        grid re-solves whatever is chosen.
        """
        volts = np.asarray(voltages, dtype=float)
        factors = np.tile(volts / np.asarray(ev.layout.voltages_V), ev.layout.n_positions)
        max_e = np.zeros(self.target.grid.shape)
        for f, e in zip(factors, ev.fields, strict=True):
            np.maximum(max_e, f * e, out=max_e)
        lethal = max_e >= self.target.lethal_threshold_V_per_m
        cov, healthy = self.score_lethal(lethal, ev.counted)
        scale = (volts / np.asarray(ev.layout.voltages_V)) ** 1.15
        currents = tuple(tuple(c * s for c, s in zip(row, scale, strict=True))
                         for row in ev.currents_A)
        return LayoutEvaluation(layout=ev.layout.with_voltages(volts), coverage=cov,
                                healthy_m3=healthy, lethal=lethal, max_e_V_per_m=max_e,
                                currents_A=currents, converged=ev.converged, fields=(),
                                counted=ev.counted)
