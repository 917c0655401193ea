"""Agreement between a predicted and an achieved ablation zone, and the margin around a tumour.

All masks are boolean arrays on one voxel grid of spacing ``h`` (mm); distances are Euclidean
distance transforms of the masks (:func:`scipy.ndimage.distance_transform_edt`), so they are
exact between voxel centres.

- Dice: ``2 |P & A| / (|P| + |A|)``.
- HD95 (mm): the larger of the two directed 95th-percentile surface distances, surface to
  surface (design choice: symmetric, and never below either direction; implementations that
  pool both directions before taking the percentile give a value at most this large). A
  surface voxel is a mask voxel with a face neighbour outside the mask.
- Volume ratio: achieved / predicted volume.
- Signed distance to a zone's boundary (:func:`signed_distance_mm`): positive inside, negative
  outside, with the boundary half a voxel beyond the last voxel centre inside (a voxel is in
  the zone when its centre is), so a one-voxel zone has +h/2 at its centre.
- Minimal ablative margin (mm): the smallest signed distance from the tumour to the zone
  boundary over every tumour voxel: the distance from the tumour surface to the zone surface
  where the whole tumour is inside (the minimum over the tumour is reached on its surface), and
  minus the farthest reach of tumour outside the zone where some is outside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["ZoneAgreement", "dice", "hd95_mm", "minimal_margin_mm", "signed_distance_mm",
           "zone_agreement"]


def dice(predicted: np.ndarray, achieved: np.ndarray) -> float:
    """Dice overlap (1 for identical masks; 0 when one is empty and the other is not)."""
    total = int(predicted.sum()) + int(achieved.sum())
    if total == 0:
        return 1.0
    return 2.0 * int((predicted & achieved).sum()) / total


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def hd95_mm(predicted: np.ndarray, achieved: np.ndarray, spacing_mm: float) -> float | None:
    """95th-percentile Hausdorff distance between the surfaces (None if a mask is empty)."""
    if not (predicted.any() and achieved.any()):
        return None
    sp, sa = _surface(predicted), _surface(achieved)
    to_a = ndimage.distance_transform_edt(~sa, sampling=spacing_mm)[sp]
    to_p = ndimage.distance_transform_edt(~sp, sampling=spacing_mm)[sa]
    return float(max(np.percentile(to_a, 95), np.percentile(to_p, 95)))


def signed_distance_mm(zone: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Distance to the zone boundary at every voxel centre: positive inside, negative outside."""
    if not zone.any():
        raise ValueError("the zone is empty")
    inside = ndimage.distance_transform_edt(zone, sampling=spacing_mm)
    outside = ndimage.distance_transform_edt(~zone, sampling=spacing_mm)
    return np.where(zone, inside - spacing_mm / 2, -(outside - spacing_mm / 2))


def minimal_margin_mm(zone: np.ndarray, tumour: np.ndarray, spacing_mm: float) -> float | None:
    """Minimal ablative margin of ``tumour`` in ``zone`` (None without a tumour or a zone)."""
    if not (tumour.any() and zone.any()):
        return None
    return float(signed_distance_mm(zone, spacing_mm)[tumour].min())


@dataclass(frozen=True)
class ZoneAgreement:
    """How an achieved zone compares with the predicted one, and both margins."""

    dice: float
    hd95_mm: float | None
    volume_ratio: float | None
    """Achieved / predicted volume (None when nothing is predicted)."""
    predicted_volume_cm3: float
    achieved_volume_cm3: float
    tumour_volume_cm3: float
    minimal_margin_mm: float | None
    """Of the achieved zone around the tumour (negative: tumour outside)."""
    predicted_minimal_margin_mm: float | None
    tumour_outside_cm3: float
    """Tumour volume outside the achieved zone."""

    def to_json(self) -> dict:
        def r(value, digits=4):
            return None if value is None else round(value, digits)

        return {"dice": r(self.dice), "hd95_mm": r(self.hd95_mm, 3),
                "volume_ratio": r(self.volume_ratio),
                "predicted_volume_cm3": r(self.predicted_volume_cm3),
                "achieved_volume_cm3": r(self.achieved_volume_cm3),
                "tumour_volume_cm3": r(self.tumour_volume_cm3),
                "minimal_ablative_margin_mm": r(self.minimal_margin_mm, 3),
                "predicted_minimal_ablative_margin_mm": r(self.predicted_minimal_margin_mm, 3),
                "tumour_outside_cm3": r(self.tumour_outside_cm3)}


def zone_agreement(predicted: np.ndarray, achieved: np.ndarray, tumour: np.ndarray,
                   spacing_mm: float) -> ZoneAgreement:
    """Every metric of the module docstring on one grid."""
    voxel_cm3 = spacing_mm**3 * 1e-3
    vp, va = float(predicted.sum()) * voxel_cm3, float(achieved.sum()) * voxel_cm3
    return ZoneAgreement(
        dice=dice(predicted, achieved), hd95_mm=hd95_mm(predicted, achieved, spacing_mm),
        volume_ratio=va / vp if vp > 0 else None, predicted_volume_cm3=vp,
        achieved_volume_cm3=va, tumour_volume_cm3=float(tumour.sum()) * voxel_cm3,
        minimal_margin_mm=minimal_margin_mm(achieved, tumour, spacing_mm),
        predicted_minimal_margin_mm=minimal_margin_mm(predicted, tumour, spacing_mm),
        tumour_outside_cm3=float((tumour & ~achieved).sum()) * voxel_cm3)
