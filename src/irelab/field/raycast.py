"""The first conductor each cut-cell ray meets: the inner loop of :func:`geometry.cut_cells`.

For every candidate cell, every ray of its cross-section (``RAYS_PER_SIDE**2`` of them) and every
conductor near the cell, the distance at which the ray enters the flat-ended cylinder
(:func:`irelab.field.geometry.ray_entry` is the specification: the line-cylinder quadratic
clipped by the two end planes, with the same round-off tolerances), keeping the nearest and
its conductor (the first one listed on a tie).

Written as one compiled loop because the whole-array version creates a dozen temporaries the
size of (cells x rays) for every conductor and direction, and those dominated the set-up of a
new geometry (measured on the two-needle example at 1 mm: 0.2 s of 0.6 s, most of it inside
the near-field calibration's small local grids). :func:`first_hits` falls back to the
whole-array version when numba is not installed; both follow the same formulas in the same
order, so they agree to the last bit in all but round-off ties.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

__all__: list[str] = []


@cache
def _compiled():
    """The compiled loop, or None without numba (compiled once per machine: numba caches the
    machine code on disk, each process loads it). The helper it calls is a module global: in a
    closure cell, a compiled function is identified anew in every process, and numba, which
    keys its cache by the closure's contents, compiled the loop again in every process."""
    global entry
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(cache=True, fastmath=False, nogil=True)
    def entry(ox, oy, oz, dx, dy, dz, sx, sy, sz, ux, uy, uz, length, radius, tol):
        wx, wy, wz = ox - sx, oy - sy, oz - sz
        ws = wx * ux + wy * uy + wz * uz
        if abs(ws) <= tol:
            ws = 0.0
        if abs(ws - length) <= tol:
            ws = length
        ds = dx * ux + dy * uy + dz * uz
        px, py, pz = wx - ws * ux, wy - ws * uy, wz - ws * uz
        qx, qy, qz = dx - ds * ux, dy - ds * uy, dz - ds * uz
        a2 = qx * qx + qy * qy + qz * qz
        b = px * qx + py * qy + pz * qz
        c = (px * px + py * py + pz * pz) - radius * radius
        if abs(c) <= 2 * tol * radius:
            c = 0.0
        if a2 > 1e-24:
            disc = b * b - a2 * c
            if disc >= 0:
                root = np.sqrt(disc)
                r_lo = (-b - root) / a2
                r_hi = (-b + root) / a2
            else:
                r_lo, r_hi = np.inf, -np.inf
        elif c <= 0:
            r_lo, r_hi = -np.inf, np.inf
        else:
            r_lo, r_hi = np.inf, -np.inf
        if abs(ds) > 1e-12:
            t0 = (0.0 - ws) / ds
            t1 = (length - ws) / ds
            s_lo, s_hi = min(t0, t1), max(t0, t1)
        elif 0 <= ws <= length:
            s_lo, s_hi = -np.inf, np.inf
        else:
            s_lo, s_hi = np.inf, -np.inf
        lo = max(r_lo, s_lo)
        hi = min(r_hi, s_hi)
        if lo <= hi and hi >= 0:
            return max(lo, 0.0)
        return np.inf

    @numba.njit(cache=True, fastmath=False, nogil=True)
    def first_hits(centres, offsets, direction, starts, axes, lengths, radii, near, tol,
                   best, owner):
        n, n_rays = best.shape
        dx, dy, dz = direction[0], direction[1], direction[2]
        for c in range(n):
            for r in range(n_rays):
                ox = centres[c, 0] + offsets[r, 0]
                oy = centres[c, 1] + offsets[r, 1]
                oz = centres[c, 2] + offsets[r, 2]
                t_best = np.inf
                o_best = -1
                for ci in range(len(lengths)):
                    if not near[c, ci]:
                        continue
                    t = entry(ox, oy, oz, dx, dy, dz, starts[ci, 0], starts[ci, 1],
                              starts[ci, 2], axes[ci, 0], axes[ci, 1], axes[ci, 2],
                              lengths[ci], radii[ci], tol)
                    if t < t_best:
                        t_best = t
                        o_best = ci
                best[c, r] = t_best
                owner[c, r] = o_best

    return first_hits


def first_hits(centres: np.ndarray, offsets: np.ndarray, direction: np.ndarray,
               cylinders: Sequence, near: np.ndarray, tol: float, compile: bool = True
               ) -> tuple[np.ndarray, np.ndarray]:
    """Entry distance (m, +inf: none) and index into ``cylinders`` (-1: none) of the nearest
    conductor met by each ray ``centres[c] + offsets[r]`` along the unit ``direction``, shape
    ``(len(centres), len(offsets))``; ``near[c, ci]`` says which conductors to test. With
    ``compile=False`` (or without numba) the whole-array version runs."""
    n, n_rays = len(centres), len(offsets)
    best = np.full((n, n_rays), np.inf)
    owner = np.full((n, n_rays), -1, dtype=np.int64)
    compiled = _compiled() if compile else None
    if compiled is not None:
        compiled(np.ascontiguousarray(centres, dtype=float), np.ascontiguousarray(offsets),
                 np.asarray(direction, dtype=float),
                 np.array([c.start for c in cylinders], dtype=float).reshape(-1, 3),
                 np.array([c.axis for c in cylinders], dtype=float).reshape(-1, 3),
                 np.array([c.length for c in cylinders], dtype=float),
                 np.array([c.radius for c in cylinders], dtype=float),
                 np.ascontiguousarray(near), float(tol), best, owner)
        return best, owner
    from irelab.field.geometry import ray_entry

    origins = centres[:, None, :] + offsets[None]
    for ci, cyl in enumerate(cylinders):
        rows = np.flatnonzero(near[:, ci])
        t = ray_entry(origins[rows].reshape(-1, 3), direction, cyl, tol).reshape(-1, n_rays)
        closer = t < best[rows]
        best[rows] = np.where(closer, t, best[rows])
        owner[rows] = np.where(closer, ci, owner[rows])
    return best, owner
