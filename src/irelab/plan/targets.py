"""What a plan must achieve and respect: the target, the critical structures and the limits.

Target = the tissues whose role is ``target`` (the tumour) dilated by the margin, measured as a
Euclidean distance with the voxel spacing (``scipy.ndimage.distance_transform_edt`` with
``sampling``; an iterated 6-neighbour structuring element would give a diamond, not a ball),
minus the tissues whose role is ``critical`` (a vessel lumen inside the margin is spared by IRE
and is not something to ablate). Roles and lethal thresholds come with the field problem's
materials (:class:`~irelab.field.Material`), whatever the tissues are called.

Limits: per-pair voltage at most 3000 V (NanoKnife generator maximum), predicted
current at most 50 A per pair (the generator's current limit), probe spacing 5-25 mm, exposed
length 5-40 mm, 2-6 probes, probes parallel to one insertion direction whose shafts do not
cross critical structures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from irelab.field.problem import FieldProblem, Grid, TissueRole

__all__ = ["PlanLimits", "PlanTarget", "Unreachable", "dilate_mm", "build_target"]


class Unreachable(Exception):
    """No probe layout within the limits can be placed to reach the target (the message says
    why): a valid case whose goal cannot be met."""


@dataclass(frozen=True)
class PlanLimits:
    """Generator and geometry limits (SI)."""

    max_voltage_V: float = 3000.0
    max_current_A: float = 50.0
    min_spacing_m: float = 5e-3
    max_spacing_m: float = 25e-3
    min_exposed_m: float = 5e-3
    max_exposed_m: float = 40e-3
    min_probes: int = 2
    max_probes: int = 6
    probe_diameter_m: float = 1.1e-3
    """19 G NanoKnife monopolar probe (1.07 mm), rounded as in the case example."""
    current_rise: float = 1.0
    """Largest over first-pulse current of a pair during its pulse train: the planner sets it
    from the delivery simulator's current model (:func:`irelab.delivery.current_rise_factor`),
    so that the predicted current times this stays within ``max_current_A`` on every pulse."""

    @property
    def initial_current_limit_A(self) -> float:
        """The largest predicted (first-pulse) current a pair may draw."""
        return self.max_current_A / self.current_rise


def dilate_mm(mask: np.ndarray, spacing_m: float, margin_m: float) -> np.ndarray:
    """Voxels within ``margin_m`` of ``mask``'s surface (Euclidean distance transform).

    The transform measures centre-to-centre distances; the mask's surface lies half a voxel
    beyond its outer centres, so a voxel is included when its centre is within
    ``margin_m + h/2`` of a mask centre. For a ball this errs by at most ~h/4 in radius, on the
    large (conservative) side; counting centres within ``margin_m`` would err as much on the
    small side and under-treat the margin.
    """
    if margin_m <= 0 or not mask.any():
        return mask.copy()
    dist = ndimage.distance_transform_edt(~mask, sampling=spacing_m)
    return dist <= margin_m + spacing_m / 2 + 1e-9


@dataclass(frozen=True, eq=False)
class PlanTarget:
    """Target, critical and tissue masks on one grid, plus the insertion frame.

    ``axis`` is the insertion direction (unit vector from the tip towards the entry, like a case
    probe's ``direction``); ``e1``, ``e2`` span the plane normal to it.
    """

    grid: Grid
    target: np.ndarray
    tumour: np.ndarray
    critical: dict[str, np.ndarray]
    keep_out: np.ndarray
    lethal_threshold_V_per_m: np.ndarray
    axis: np.ndarray
    e1: np.ndarray
    e2: np.ndarray

    @property
    def critical_any(self) -> np.ndarray:
        out = np.zeros(self.grid.shape, dtype=bool)
        for m in self.critical.values():
            out |= m
        return out

    def target_points_m(self) -> np.ndarray:
        """Centres of the target voxels, shape (N, 3)."""
        idx = np.argwhere(self.target)
        return np.asarray(self.grid.origin_m) + idx * self.grid.spacing_m

    def in_plane(self, points_m: np.ndarray) -> np.ndarray:
        """(a, b) coordinates in the plane normal to the axis."""
        return np.stack([points_m @ self.e1, points_m @ self.e2], axis=-1)

    def axial(self, points_m: np.ndarray) -> np.ndarray:
        return points_m @ self.axis

    def axial_extent_m(self) -> tuple[float, float]:
        s = self.axial(self.target_points_m())
        h = self.grid.spacing_m / 2
        return float(s.min() - h), float(s.max() + h)


def insertion_frame(direction: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u = np.asarray(direction, dtype=float)
    u = u / np.linalg.norm(u)
    ref = np.array([1.0, 0, 0]) if abs(u[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = ref - (ref @ u) * u
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(u, e1)
    return u, e1, e2


def build_target(
    problem: FieldProblem,
    margin_m: float = 5e-3,
    direction: Sequence[float] = (0.0, 0.0, 1.0),
    clearance_m: float = 0.5e-3,
    threshold_factor: float = 1.0,
    standoff_m: Mapping[str, float] | None = None,
) -> PlanTarget:
    """Target and constraints of ``problem``'s anatomy (its electrodes are ignored), with
    every tissue's lethal threshold times ``threshold_factor``.

    ``keep_out`` marks voxels within the probe radius plus ``clearance_m`` of a critical
    structure's surface: no probe axis may pass through them. ``standoff_m`` widens it around
    the critical structures it names by that much more (the planner holds probes away from a
    structure its thermal model found damaged); a name the anatomy lacks is an error.
    """
    grid = problem.grid
    labels = problem.labels
    tumour = problem.mask(TissueRole.TARGET)
    critical = {problem.materials[k].name: labels == k
                for k in problem.labels_with(TissueRole.CRITICAL)}
    crit_any = problem.mask(TissueRole.CRITICAL)
    target = dilate_mm(tumour, grid.spacing_m, margin_m) & ~crit_any
    reach = PlanLimits().probe_diameter_m / 2 + clearance_m
    keep_out = dilate_mm(crit_any, grid.spacing_m, reach)
    for name, extra in (standoff_m or {}).items():
        if name not in critical:
            raise ValueError(f"standoff: {name!r} is not a critical structure of the anatomy "
                             f"(critical: {', '.join(critical) or 'none'})")
        if not (math.isfinite(extra) and extra >= 0):
            raise ValueError(f"standoff from {name}: expected a distance >= 0 m, got {extra}")
        keep_out |= dilate_mm(critical[name], grid.spacing_m, reach + extra)
    u, e1, e2 = insertion_frame(direction)
    return PlanTarget(grid=grid, target=target, tumour=tumour, critical=critical,
                      keep_out=keep_out,
                      lethal_threshold_V_per_m=(problem.lethal_threshold_V_per_m()
                                                * threshold_factor),
                      axis=u, e1=e1, e2=e2)
