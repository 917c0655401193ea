"""What "covered" means: the whole tumour, and the ablative margin achieved around it.

The tumour (the tissues whose role is ``target``) must lie entirely in the lethal zone. The
margin is then measured, not counted in voxels: the *minimal ablative margin* is the smallest
distance from the tumour's surface to the lethal zone's surface, i.e. from the tumour's voxels
to the nearest voxel of tissue left alive (critical structures, which the target leaves out,
and needle tracks, which are conductor, are not such tissue). On the voxel grid it is the
least centre-to-centre distance between a tumour voxel and a live voxel, less half a voxel for
the tumour's surface (the rule the target's dilation uses, :func:`irelab.plan.targets.dilate_mm`:
a margin ``m`` holds exactly when every voxel within ``m + h/2`` of a tumour centre is lethal).

A plan meets its margin when the minimal margin is at least the requested one less one grid
spacing (a single voxel cannot be placed more finely than the grid); where the margin falls
short, the report says where (clusters of live target voxels, their centre, the margin
there and the nearest critical structure), so a plan is never failed for a voxel of margin
without saying which.

The same measure as CT-based ablation confirmation uses (Laimer G et al., Minimal ablative margin
(MAM) assessment with image fusion: an independent predictor for local tumor progression in
hepatocellular carcinoma after stereotactic radiofrequency ablation, Eur Radiol
30(5):2463-2472, 2020: no local progression was seen with a MAM above 5 mm), here computed on
the plan's own voxels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from irelab.field.problem import Grid

__all__ = ["MarginGap", "MarginReport", "measure_margin"]

GAPS_REPORTED = 3
"""Clusters of live target voxels described, largest first (design choice: enough to say where
a plan falls short without a table nobody reads)."""

NEAR_CRITICAL_M = 3e-3
"""A gap is said to lie beside a critical structure when one is within this distance (design
choice: the vessel's heat-sink and field shadow reach about this far at 1 mm voxels)."""


@dataclass(frozen=True)
class MarginGap:
    """A cluster of target voxels the lethal zone misses."""

    voxels: int
    centre_mm: tuple[float, float, float]
    margin_mm: float
    """Margin achieved there: distance from the tumour's surface to the nearest missed voxel."""
    beside: str | None
    """The nearest critical structure within ``NEAR_CRITICAL_M``, if any."""

    def text(self) -> str:
        where = ", ".join(f"{c:.0f}" for c in self.centre_mm)
        beside = f" beside {self.beside}" if self.beside else ""
        return (f"{self.voxels} voxel{'' if self.voxels == 1 else 's'} around ({where}) mm"
                f"{beside}, margin there {self.margin_mm:.1f} mm")


@dataclass(frozen=True)
class MarginReport:
    """Tumour coverage and the minimal ablative margin of a lethal zone."""

    requested_mm: float
    spacing_mm: float
    tumour_voxels: int
    tumour_short: int
    """Tumour voxels (outside the needle tracks) below their lethal threshold."""
    tumour_worst_ratio: float
    """Largest ``e_irr / |E|`` over the tumour's voxels (at most 1 when covered)."""
    achieved_mm: float | None
    """The minimal ablative margin; None when the tumour itself is not covered."""
    target_short: int
    """Voxels of tumour plus requested margin (without critical structures) left alive."""
    gaps: tuple[MarginGap, ...]

    @property
    def tumour_covered(self) -> bool:
        return self.tumour_short == 0

    @property
    def margin_met(self) -> bool:
        """The requested margin, within one grid spacing."""
        return bool(self.achieved_mm is not None
                    and self.achieved_mm >= self.requested_mm - self.spacing_mm - 1e-6)

    @property
    def acceptable(self) -> bool:
        return self.tumour_covered and self.margin_met


def measure_margin(max_e: np.ndarray, threshold: np.ndarray, slack: float, tumour: np.ndarray,
                   track: np.ndarray, critical: dict[str, np.ndarray], grid: Grid,
                   requested_m: float) -> MarginReport:
    """Tumour coverage and minimal ablative margin of the lethal zone ``max_e >= slack *
    threshold`` (module doc). ``track``: needle-track voxels; ``critical``: masks by name."""
    h = grid.spacing_m
    covered = max_e >= slack * threshold
    excused = track.copy()
    for mask in critical.values():
        excused |= mask
    alive = ~covered & ~excused
    tumour_counted = tumour & ~track
    short = tumour_counted & ~covered
    ratio = threshold[tumour_counted] / np.maximum(max_e[tumour_counted], 1e-30)
    worst = float(ratio.max()) if ratio.size else 0.0
    to_tumour = ndimage.distance_transform_edt(~tumour, sampling=h)
    target = (to_tumour <= requested_m + h / 2 + 1e-9) & ~excused
    missed = target & alive
    achieved = None
    if not short.any():
        reach = float(to_tumour[alive].min()) if alive.any() else math.inf
        achieved = round(float(1e3 * (min(reach, float(np.linalg.norm(grid.upper_m
                                                                        - grid.lower_m)))
                                      - h / 2)), 3)
    return MarginReport(requested_mm=round(requested_m * 1e3, 6),
                        spacing_mm=round(h * 1e3, 6), tumour_voxels=int(tumour_counted.sum()),
                        tumour_short=int(short.sum()), tumour_worst_ratio=worst,
                        achieved_mm=achieved, target_short=int(missed.sum()),
                        gaps=_gaps(missed, to_tumour, critical, grid))


def _gaps(missed: np.ndarray, to_tumour: np.ndarray, critical: dict[str, np.ndarray],
          grid: Grid) -> tuple[MarginGap, ...]:
    """The largest clusters of missed target voxels (26-connected), described."""
    labels, n = ndimage.label(missed, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return ()
    index = np.arange(1, n + 1)
    sizes = ndimage.sum_labels(missed, labels, index)
    order = np.argsort(-sizes, kind="stable")[:GAPS_REPORTED]
    h = grid.spacing_m
    centres = ndimage.center_of_mass(missed, labels, index[order])
    nearest = ndimage.minimum(to_tumour, labels, index[order])
    near = {name: ndimage.distance_transform_edt(~mask, sampling=h)
            for name, mask in critical.items() if mask.any()}
    out = []
    for k, centre, reach in zip(index[order], centres, nearest, strict=True):
        cluster = labels == k
        distances = {name: float(d[cluster].min()) for name, d in near.items()}
        beside = min(distances, key=distances.get) if distances else None
        if beside is not None and distances[beside] > NEAR_CRITICAL_M:
            beside = None
        world = np.asarray(grid.origin_m) + np.asarray(centre) * h
        out.append(MarginGap(int(sizes[k - 1]), tuple(round(float(c) * 1e3, 1) for c in world),
                             round(1e3 * (float(reach) - h / 2), 2), beside))
    return tuple(out)
