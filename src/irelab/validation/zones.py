"""Predicted against measured zones: simulate each data point, its error in measured SDs, and
the lethal-threshold fit on the ``fit`` points.

The predicted extent along an axis is the size of the lethal zone's bounding box along that case
axis (whole voxels, as ``irelab simulate`` reports it), the quantity the studies measured with a
ruler on the cut specimen. The error is ``(predicted - measured mean) / measured SD``.

The fit (:func:`fit_lethal_threshold`) holds the conductivity fixed and moves only the lethal
threshold, so each fit point is solved once and the threshold swept over its field: the
threshold minimising the sum of squared errors over every measured axis of every fit point, on a
grid of :data:`FIT_STEP_V_PER_CM` (zone extents change in whole voxels, so the objective is a
step function and a finer step would only pick among ties).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from irelab.case import TISSUE_PRESETS, Case, load_case
from irelab.errors import InputError
from irelab.field import Grid
from irelab.simulation import SimulationResult, lethal_zone, simulate_case
from irelab.validation.dataset import AXES, DataPoint

__all__ = ["PointResult", "PointRun", "ThresholdFit", "extent_mm", "fit_lethal_threshold",
           "predict_point", "ACCEPT_SD"]

ACCEPT_SD = 1.5
"""A prediction within 1.5 measured SDs on every axis counts as agreeing (the acceptance limit
for the default liver preset on the fit point)."""

FIT_STEP_V_PER_CM = 5.0
FIT_RANGE_V_PER_CM = (300.0, 900.0)
"""Thresholds searched by the fit (design choice: spans the published liver values, 362-750
V/cm, with room on either side; a fit at an end of the range is reported as such)."""


def extent_mm(mask: np.ndarray, grid: Grid) -> tuple[float, float, float]:
    """Bounding-box size of ``mask`` along x, y, z in whole voxels (0 where empty)."""
    if not mask.any():
        return (0.0, 0.0, 0.0)
    h = grid.spacing_m * 1e3
    out = []
    for axis in range(3):
        idx = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        out.append(float((idx[-1] - idx[0] + 1) * h))
    return tuple(out)  # type: ignore[return-value]


@dataclass(frozen=True)
class PointResult:
    """A data point and what the model predicts for it."""

    point: DataPoint
    predicted_mm: tuple[float, float, float]
    current_A: float
    converged: bool
    lethal_threshold_V_per_cm: float
    """The liver's lethal threshold used."""

    def error_sd(self, axis: str) -> float:
        """(predicted - measured) / measured SD along ``axis`` (a measured axis)."""
        measure = self.point.measured[axis]
        return (self.predicted_mm[AXES.index(axis)] - measure.mean_mm) / measure.sd_mm

    @property
    def errors_sd(self) -> dict[str, float]:
        return {axis: self.error_sd(axis) for axis in self.point.measured}

    @property
    def agrees(self) -> bool:
        """Within :data:`ACCEPT_SD` on every measured axis."""
        return all(abs(e) <= ACCEPT_SD for e in self.errors_sd.values())

    def to_json(self) -> dict:
        p = self.point
        return {
            "id": p.id, "set": p.subset, "case": str(p.case_path), "source": p.source,
            "evidence": p.evidence, "notes": p.notes, "measured_by": p.measured_by,
            "measured_mm": {a: {"mean": m.mean_mm, "sd": m.sd_mm} for a, m in p.measured.items()},
            "predicted_mm": dict(zip(AXES, self.predicted_mm, strict=True)),
            "error_sd": {a: round(e, 3) for a, e in self.errors_sd.items()},
            "within_limit": self.agrees, "current_A": round(self.current_A, 3),
            "converged": self.converged,
            "lethal_threshold_V_per_cm": self.lethal_threshold_V_per_cm,
        }


def _case(point: DataPoint, liver: str | None) -> Case:
    case = load_case(point.case_path)
    if liver is None:
        return case
    if liver not in TISSUE_PRESETS:
        raise InputError("irelab validate", "--liver",
                         f"a tissue preset ({', '.join(TISSUE_PRESETS)})", liver)
    tissues = dict(case.tissues)
    tissues[case.background] = replace(TISSUE_PRESETS[liver], name=case.background)
    return replace(case, tissues=tissues, _labels={})


@dataclass(frozen=True, eq=False)
class PointRun:
    """A data point's case as simulated (its field kept for the threshold fit)."""

    point: DataPoint
    case: Case
    simulation: SimulationResult

    def result(self, threshold_V_per_cm: float | None = None) -> PointResult:
        """The prediction at the case's lethal threshold, or at ``threshold_V_per_cm`` applied
        to every tissue (the validation cases are liver only)."""
        sim = self.simulation
        lethal = sim.lethal
        if threshold_V_per_cm is not None:
            lethal = lethal_zone(sim.e_max_V_per_m, threshold_V_per_cm * 100.0, sim.conductor)
        used = threshold_V_per_cm or self.case.tissues[self.case.background].lethal_V_per_cm
        return PointResult(self.point, extent_mm(lethal, sim.grid), sim.pairs[0].current_A,
                           sim.converged, used)


def predict_point(point: DataPoint, spacing_mm: float | None = None, liver: str | None = None
                  ) -> PointRun:
    """Simulate a data point's case (its liver replaced by the preset ``liver`` if given)."""
    case = _case(point, liver)
    return PointRun(point, case, simulate_case(case, spacing_mm=spacing_mm))


@dataclass(frozen=True)
class ThresholdFit:
    """The lethal threshold that best reproduces the fit points, and the fit at it."""

    threshold_V_per_cm: float
    objective: float
    """Sum of squared errors (in SDs) over every fitted axis."""
    axes: int
    results: tuple[PointResult, ...]
    at_range_end: bool

    def to_json(self) -> dict:
        return {"lethal_threshold_V_per_cm": self.threshold_V_per_cm,
                "sum_squared_error_sd": round(self.objective, 4), "axes": self.axes,
                "at_range_end": self.at_range_end,
                "points": [r.point.id for r in self.results]}


def fit_lethal_threshold(runs: Sequence[PointRun]) -> ThresholdFit:
    """Fit the lethal threshold on the ``fit`` points among ``runs`` (conductivity fixed)."""
    fit = [run for run in runs if run.point.subset == "fit"]
    if not fit:
        raise InputError("validation set", "set", "at least one point marked fit")
    lo, hi = FIT_RANGE_V_PER_CM
    grid = np.arange(lo, hi + FIT_STEP_V_PER_CM / 2, FIT_STEP_V_PER_CM)
    objective = np.zeros(grid.size)
    for run in fit:
        for k, threshold in enumerate(grid):
            objective[k] += sum(e * e for e in run.result(float(threshold)).errors_sd.values())
    best = int(np.argmin(objective))
    threshold = float(grid[best])
    return ThresholdFit(threshold, float(objective[best]),
                        sum(len(run.point.measured) for run in fit),
                        tuple(run.result(threshold) for run in fit),
                        at_range_end=best in (0, grid.size - 1))
