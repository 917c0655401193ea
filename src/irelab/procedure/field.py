"""The field of a plan's pairs for one set of probes: coverage of the target and the margin.

The target is the planner's (:func:`irelab.plan.build_target`): the tissues whose role is
``target`` dilated by the margin, minus the critical tissues. Coverage counts the target voxels
outside the probes (:meth:`irelab.case.Case.conductor_mask`: conductor, not tissue) whose largest
|E| over every pair at every placement reaches the lethal threshold
(:func:`irelab.simulation.lethal_zone`), the same rule as ``irelab simulate``. The minimal margin
is how far the lethal zone reaches beyond the tumour: the distance from the tumour to the nearest
tissue voxel left untreated (critical tissue, spared by design, and conductor voxels apart),
measured between voxel centres with the spacing (``scipy.ndimage.distance_transform_edt``) less
half a voxel, the convention of the planner's margin (``irelab.plan.dilate_mm``); it is below 0
when tumour voxels themselves are untreated.

:class:`PlacedField` keeps one :class:`~irelab.field.FieldSolver` per placement of the probe
array (the grid hierarchy is built once per geometry) and the last solution of every pair as the
warm start of its next solve; it counts every pair solve (the work budget of a re-plan).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from irelab.case import Case, PairKey
from irelab.field import FieldSolver, PairSolution, TissueRole
from irelab.plan import build_target
from irelab.simulation import lethal_zone

__all__ = ["FieldOutcome", "PlacedField", "TargetRegion"]


@dataclass(frozen=True, eq=False)
class TargetRegion:
    """What must be covered, on one grid, whatever the probes: the target (tumour plus margin,
    critical tissue excluded), the tumour, the critical tissue, the thresholds and the distance
    of every voxel from the tumour (mm)."""

    target: np.ndarray
    tumour: np.ndarray
    critical: np.ndarray
    threshold_V_per_m: np.ndarray
    tumour_distance_mm: np.ndarray
    spacing_mm: float
    margin_mm: float

    @classmethod
    def of(cls, case: Case, margin_mm: float, spacing_mm: float | None = None) -> TargetRegion:
        """The target of ``case``'s anatomy (its probes are ignored)."""
        anatomy = case.field_problem(spacing_mm, anatomy_only=True)
        target = build_target(anatomy, margin_mm * 1e-3)
        h_mm = anatomy.grid.spacing_m * 1e3
        tumour = anatomy.mask(TissueRole.TARGET)
        distance = ndimage.distance_transform_edt(~tumour, sampling=h_mm) if tumour.any() \
            else np.full(tumour.shape, np.inf)
        return cls(target.target, tumour, anatomy.mask(TissueRole.CRITICAL),
                   anatomy.lethal_threshold_V_per_m(), distance, h_mm, margin_mm)


@dataclass(frozen=True)
class FieldOutcome:
    """Coverage (fraction of the counted target voxels), minimal margin (mm) and the current of
    every pair at every placement, for one set of probes and voltages."""

    coverage: float
    margin_mm: float
    uncovered_voxels: int
    currents_A: dict[PairKey, float]


class PlacedField:
    """A case's pairs solved for its probes (module docstring); ``solves`` counts pair solves."""

    def __init__(self, case: Case, region: TargetRegion, spacing_mm: float | None = None) -> None:
        self.case = case
        self.region = region
        self.spacing_mm = spacing_mm
        grid = case.grid(spacing_mm)
        self.conductor = case.conductor_mask(grid)
        self.counted = region.target & ~self.conductor
        self._solvers: dict[int, FieldSolver] = {}
        self._last: dict[tuple[str, str, int], PairSolution] = {}
        self.solves = 0

    def solve(self, anode: str, cathode: str, voltage_V: float, placement: int
              ) -> tuple[np.ndarray, float]:
        """|E| (V/m, zero inside conductors) and the current (A) of one pair at one placement."""
        solver = self._solvers.get(placement)
        if solver is None:
            solver = FieldSolver(self.case.field_problem(self.spacing_mm, placement))
            self._solvers[placement] = solver
        key = (anode, cathode, placement)
        sol = solver.solve_pair(anode, cathode, voltage_V, initial=self._last.get(key))
        self._last[key] = sol
        self.solves += 1
        return np.nan_to_num(sol.e_field_V_per_m), abs(sol.current_A)

    def covered(self, e_max: np.ndarray, factor: float = 1.0) -> np.ndarray:
        """Counted target voxels whose |E| reaches ``factor`` times their threshold."""
        return self.counted & lethal_zone(e_max, self.region.threshold_V_per_m, self.conductor,
                                          factor)

    def outcome(self, e_max: np.ndarray, currents_A: dict[PairKey, float]) -> FieldOutcome:
        """Coverage and minimal margin of the largest field ``e_max`` (module docstring)."""
        n = int(self.counted.sum())
        covered = int(self.covered(e_max).sum())
        lethal = lethal_zone(e_max, self.region.threshold_V_per_m, self.conductor)
        untreated = ~lethal & ~self.conductor & ~self.region.critical
        distance = self.region.tumour_distance_mm[untreated]
        margin = float(distance.min()) - self.region.spacing_mm / 2 if distance.size else np.inf
        return FieldOutcome(covered / n if n else 1.0, margin, n - covered, dict(currents_A))
