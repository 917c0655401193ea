"""Probes as conductors: the one builder of electrodes, insulators and needle tracks.

A probe at a placement is its electrodes (monopolar: one, bipolar: two with an insulating gap)
and an insulated shaft from the end of the last electrode along the probe's direction past the
domain's edge. The simulation, the planner's candidate layouts and the thermal model all take
their conductors from here, so what a plan was computed with is what its case file describes.

Voxels whose centre lies inside a probe are conductor, not tissue: the lethal zone and coverage
leave them out (:func:`conductor_mask`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from irelab.field.geometry import cylinder_sdf
from irelab.field.problem import Electrode, Grid, Insulator

if TYPE_CHECKING:
    from irelab.case.model import Placement, Probe

__all__ = ["probe_conductors", "conductor_mask"]

MM = 1e-3


def probe_conductors(probes: Sequence[Probe], placement: Placement, grid: Grid
                     ) -> tuple[tuple[Electrode, ...], tuple[Insulator, ...]]:
    """Electrodes and insulators (SI) of ``probes`` moved by ``placement``, on ``grid``.

    Electrodes are named as pairs name them (the probe, or ``<probe>:distal`` and
    ``<probe>:proximal``); insulators ``<probe>:gap`` and ``<probe>:shaft``.
    """
    reach_mm = float(np.linalg.norm(grid.upper_m - grid.lower_m)) / MM + grid.spacing_m / MM
    electrodes, insulators = [], []
    for probe in probes:
        r = probe.diameter_mm / 2 * MM
        parts = probe.parts_mm(placement.tip_mm(probe))
        for kind, name, a, b in parts:
            seg = (tuple(float(c) for c in a * MM), tuple(float(c) for c in b * MM), r)
            if kind == "electrode":
                electrodes.append(Electrode(name, *seg))
            else:
                insulators.append(Insulator(name, *seg))
        end = parts[-1][3]
        far = end + reach_mm * np.asarray(probe.direction)
        insulators.append(Insulator(f"{probe.name}:shaft", tuple(float(c) for c in end * MM),
                                    tuple(float(c) for c in far * MM), r))
    return tuple(electrodes), tuple(insulators)


def _inside(grid: Grid, part: Electrode | Insulator, out: np.ndarray) -> None:
    """Mark the voxel centres inside one cylinder, looking only at its bounding box."""
    a, b = np.asarray(part.start_m), np.asarray(part.end_m)
    lo = np.minimum(a, b) - part.radius_m
    hi = np.maximum(a, b) + part.radius_m
    origin, h = np.asarray(grid.origin_m), grid.spacing_m
    first = np.clip(np.ceil((lo - origin) / h - 1e-9).astype(int), 0, np.asarray(grid.shape))
    last = np.clip(np.floor((hi - origin) / h + 1e-9).astype(int) + 1, 0, np.asarray(grid.shape))
    if np.any(last <= first):
        return
    axes = [origin[k] + h * np.arange(first[k], last[k]) for k in range(3)]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    points = np.stack([x, y, z], axis=-1)
    box = tuple(slice(f, t) for f, t in zip(first, last, strict=True))
    out[box] |= cylinder_sdf(points, part.start_m, part.end_m, part.radius_m) < 0


def conductor_mask(grid: Grid, probes: Sequence[Probe],
                   placements: Sequence[Placement]) -> np.ndarray:
    """Voxel centres inside any part of any probe (electrodes, gaps, shafts) at any placement."""
    inside = np.zeros(grid.shape, dtype=bool)
    for placement in placements:
        electrodes, insulators = probe_conductors(probes, placement, grid)
        for part in (*electrodes, *insulators):
            _inside(grid, part, inside)
    return inside
