"""Volume of tissue where |E| reaches a threshold, to sub-voxel accuracy.

Counting voxel centres above the threshold makes the volume jump as the isosurface crosses the
centres: a first-order error that changes sign from grid to grid, like the staircase needle. We
instead reconstruct |E| in every voxel the isosurface passes through as a linear function (the
voxel's value and the central-difference gradient) and take the exact volume fraction of the
cube on the lethal side of that plane (the piecewise-linear interface construction of
volume-of-fluid methods: Scardovelli R, Zaleski S. Analytical relations connecting linear
interfaces and volume fractions in rectangular grids. J Comput Phys 164:228-237, 2000). The
fraction of a cube below a plane ``m . x <= alpha`` (``m >= 0``, unit cube) is their closed form,
the inclusion-exclusion sum of truncated cubes

    V = sum_{S subset {1,2,3}} (-1)^|S| (alpha - sum_{i in S} m_i)_+^3 / (6 m_1 m_2 m_3).

Voxels partly inside a conductor count only their tissue part (``tissue_fraction``, from a
``SUBSAMPLES**3`` point lattice), so the needles' own volume is not counted as lethal.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from irelab.field.geometry import conductor_cylinders, cylinder_sdf
from irelab.field.problem import Electrode, FieldProblem, Grid, Insulator

__all__ = ["lethal_volume_m3", "tissue_fraction"]

SUBSAMPLES = 6
"""Points per voxel edge for the tissue fraction near conductors (216 per voxel; the needles'
volume is then counted to about 1 %, 0.01 % of a typical lethal zone)."""

_FLAT = 1e-4  # relative floor of the plane's slope components (the closed form divides by them)


def tissue_fraction(grid: Grid, electrodes: Sequence[Electrode],
                    insulators: Sequence[Insulator] = ()) -> np.ndarray:
    """Fraction (0-1) of every voxel's volume outside all conductors."""
    out = np.ones(grid.size)
    h = grid.spacing_m
    k = SUBSAMPLES
    offsets = ((np.arange(k) + 0.5) / k - 0.5) * h
    sub = np.stack(np.meshgrid(offsets, offsets, offsets, indexing="ij"), axis=-1).reshape(-1, 3)
    for cyl in conductor_cylinders(electrodes, insulators):
        lo = np.minimum(cyl.start, cyl.end) - cyl.radius - h
        hi = np.maximum(cyl.start, cyl.end) + cyl.radius + h
        ranges = [np.flatnonzero((grid.axis_m(a) >= lo[a]) & (grid.axis_m(a) <= hi[a]))
                  for a in range(3)]
        if any(len(r) == 0 for r in ranges):
            continue
        ii, jj, kk = np.meshgrid(*ranges, indexing="ij")
        flat = np.ravel_multi_index((ii.ravel(), jj.ravel(), kk.ravel()), grid.shape)
        idx = np.unravel_index(flat, grid.shape)
        centre = np.stack([grid.origin_m[a] + h * idx[a] for a in range(3)], axis=-1)
        d = cylinder_sdf(centre, cyl.start, cyl.end, cyl.radius)
        near = np.abs(d) < 0.9 * h  # farther than half a diagonal: wholly in or out
        inside = np.where(d <= 0, 1.0, 0.0)
        pts = centre[near][:, None, :] + sub[None]
        inside[near] = (cylinder_sdf(pts, cyl.start, cyl.end, cyl.radius) <= 0).mean(axis=1)
        # conductors may overlap (a junction's caps): subtract by points would be exact, the
        # product of the outside fractions is exact for disjoint ones and close otherwise
        out[flat] *= 1.0 - inside
    return out.reshape(grid.shape)


def cube_fraction_above(value: np.ndarray, gradient: np.ndarray,
                        threshold: np.ndarray) -> np.ndarray:
    """Fraction of the unit cube centred on each voxel where ``value + gradient . y``
    (``y`` in voxel units, ``gradient`` of shape (..., 3)) is at least ``threshold``."""
    m = np.abs(gradient)
    total = m.sum(axis=-1)
    m = np.maximum(m, _FLAT * total[..., None] + 1e-300)
    total = m.sum(axis=-1)
    # with x_i in [0, 1] oriented along |g_i|: f = value - total/2 + m . x >= threshold
    beta = threshold - value + total / 2
    below = np.zeros_like(beta)
    for size in range(4):
        for subset in combinations(range(3), size):
            shift = sum((m[..., i] for i in subset), np.zeros_like(beta))
            below += (-1) ** size * np.maximum(beta - shift, 0.0) ** 3
    below /= 6 * m[..., 0] * m[..., 1] * m[..., 2]
    below = np.where(beta <= 0, 0.0, np.where(beta >= total, 1.0, below))
    return 1.0 - np.clip(below, 0.0, 1.0)


def lethal_volume_m3(problem: FieldProblem, e_field_V_per_m: np.ndarray,
                     threshold_V_per_m: float | np.ndarray) -> float:
    """Volume (m^3) of tissue where ``e_field_V_per_m`` reaches ``threshold_V_per_m`` (a number
    or one per voxel), with the isosurface placed inside the voxels (see module docstring)."""
    grid = problem.grid
    e = np.asarray(e_field_V_per_m, dtype=float)
    if e.shape != grid.shape:
        raise ValueError(f"e_field shape {e.shape} != grid shape {grid.shape}")
    t = np.broadcast_to(np.asarray(threshold_V_per_m, dtype=float), grid.shape)
    tissue = tissue_fraction(grid, problem.electrodes, problem.insulators)
    # voxels whose centre is inside a conductor carry no field: take their neighbours' largest
    hole = (tissue < 1) & (e == 0)
    ext = e.copy()
    if hole.any():
        padded = np.pad(e, 1, mode="edge")
        neighbours = np.max([padded[tuple(slice(1 + d[a], 1 + d[a] + grid.shape[a])
                                          for a in range(3))]
                             for d in _FACE_OFFSETS], axis=0)
        ext[hole] = neighbours[hole]
    padded = np.pad(ext, 1, mode="edge")
    core = tuple(slice(1, 1 + n) for n in grid.shape)
    lo_ = np.min([padded[tuple(slice(1 + d[a], 1 + d[a] + grid.shape[a]) for a in range(3))]
                  for d in _FACE_OFFSETS], axis=0)
    hi_ = np.max([padded[tuple(slice(1 + d[a], 1 + d[a] + grid.shape[a]) for a in range(3))]
                  for d in _FACE_OFFSETS], axis=0)
    lo_ = np.minimum(lo_, ext)
    hi_ = np.maximum(hi_, ext)
    fraction = (lo_ >= t).astype(float)
    cut = (lo_ < t) & (hi_ >= t)
    if cut.any():
        gradient = np.stack([np.gradient(ext, axis=a)[cut] for a in range(3)], axis=-1)
        fraction[cut] = cube_fraction_above(ext[cut], gradient, t[cut])
    del core
    return float(np.sum(tissue * fraction) * grid.voxel_volume_m3)


_FACE_OFFSETS = ((0, 0, 0), (-1, 0, 0), (1, 0, 0), (0, -1, 0), (0, 1, 0), (0, 0, -1), (0, 0, 1))
