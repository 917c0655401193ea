"""Where electrodes and insulated shafts cut the voxel grid: ray-cast cut-cell links.

A needle of 1.1 mm is one or two voxels wide on the 0.5-1 mm grids the planner uses. Drawn as
voxels (a staircase), its current misses the exact value by 5-12 % and the error jumps around
with the spacing, because which voxel centres fall inside the needle changes discontinuously.
The same happens along the needle: if only the voxel layers whose centres lie within the exposed
length are coupled to the electrode, the electrode's length is rounded to whole voxels, and the
current of a 20 mm electrode jumps by +-1.5 % at 1 mm as the needle slides along its axis.
We instead treat each conductor as an exact flat-ended cylinder cutting the faces of the grid:

* A cell whose centre lies inside a conductor is *inactive* (it is part of the conductor).
* The flux from an active cell towards a neighbour passes through the square face between them.
  We cast ``RAYS_PER_SIDE**2`` parallel rays from the cell's cross-section (a regular grid of
  points on the square through the cell centre) along the edge, one spacing long. A ray that
  meets nothing keeps the face open; the fraction of such rays is the face's *aperture*. Rays
  that first meet an electrode (its side or its exposed end cap) form a *link* from the cell
  to that electrode: aperture ``f`` = their fraction, distance ``theta h`` = their mean
  distance, conductance ``f h^2 / (theta h)`` per unit sigma, the symmetric Shortley-Weller
  (ghost-fluid) Dirichlet condition (Gibou F, Fedkiw R, Cheng L, Kang M. A second-order-accurate
  symmetric discretization of the Poisson equation on irregular domains. J Comput Phys
  176:205-227, 2002) applied per partial face, as in cut-cell (embedded boundary) finite
  volumes, which weight each face by its open fraction. Rays that meet an insulator carry no
  current. A ray that reaches an inactive neighbour unobstructed ends in the conductor holding
  that neighbour's centre (a link of distance h, or nothing for an insulator).
  Because the apertures vary continuously with the position of the needle, so do the current
  and the field: the electrode's length, its end cap and the exposed/insulated junction are
  resolved below the voxel size instead of being rounded to whole voxels.
* Near-field correction (a numerical well index): :mod:`irelab.field.calibration` scales the
  side links of each electrode so that the discrete operator carries the exact current of the
  logarithmic near field of a cylinder, and corrects the links near its ends.

Everything here is geometry: conductances are in units of length (multiply by sigma in S/m).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from irelab.field.problem import Electrode, Grid, Insulator

__all__: list[str] = []

RAYS_PER_SIDE = 6
"""Rays per face side (36 per face). A design choice: with 6, the aperture of a face partly
covered by a needle is resolved to a few per cent of the face, finer than the grid error."""

_ON_SURFACE = 1e-9
"""A cell centre this close to a conductor's surface (fraction of h) counts as inside it, so
that round-off in the centres' coordinates cannot flip it (tips often sit on voxel centres)."""

_RAY_REACH = 1.25
"""Cells whose centre is further than this (fraction of h) from a conductor cannot touch it:
their rays start within ``h / sqrt(2)`` of the centre across the face and run ``h`` along the
edge, so every ray point lies within ``sqrt(3 / 2) h = 1.2247 h`` of it. Only the cells within
reach are ray-cast (the bounding box of a long oblique or calibration-window conductor holds
far more), which leaves every aperture and link as the whole box would give them."""

THETA_MIN = 1e-3
"""Shortest link distance (fraction of h): a ray starting on a conductor's surface."""

_INTERIOR = -3  # owner code of a ray that starts inside a conductor
_DIRECTIONS = tuple((axis, sign) for axis in range(3) for sign in (-1, 1))


@dataclass(frozen=True)
class Cylinder:
    """A flat-ended cylinder ``start``-``end`` of ``radius`` (m): an electrode or an insulator.

    ``index`` is the electrode's index in the problem, or -1 for an insulator.
    """

    start: np.ndarray
    end: np.ndarray
    radius: float
    index: int

    @property
    def axis(self) -> np.ndarray:
        v = self.end - self.start
        return v / np.linalg.norm(v)

    @property
    def length(self) -> float:
        return float(np.linalg.norm(self.end - self.start))


def cylinder_sdf(points: np.ndarray, start, end, radius: float) -> np.ndarray:
    """Signed distance (m, negative inside) from ``points[..., 3]`` to a flat-ended cylinder."""
    p0 = np.asarray(start, dtype=float)
    axis = np.asarray(end, dtype=float) - p0
    length = float(np.linalg.norm(axis))
    if length == 0:
        raise ValueError("a cylinder needs distinct start and end points")
    u = axis / length
    rel = points - p0
    s = rel @ u
    radial = np.linalg.norm(rel - s[..., None] * u, axis=-1)
    qx = radial - radius
    qy = np.abs(s - length / 2) - length / 2
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    return outside + np.minimum(np.maximum(qx, qy), 0)


def ray_entry(origins: np.ndarray, direction: np.ndarray, cyl: Cylinder,
              tol: float = 0.0) -> np.ndarray:
    """Distance along the unit ``direction`` at which each ray enters ``cyl`` (0 if it starts
    inside, +inf if it never does): the line-cylinder quadratic clipped by the two end planes.
    Origins within ``tol`` of an end plane are moved onto it (and count as inside it), so that
    round-off cannot decide whether a ray along an end plane meets the electrode."""
    u = cyl.axis
    w = origins - cyl.start
    ws = w @ u
    ws = np.where(np.abs(ws) <= tol, 0.0, ws)
    ws = np.where(np.abs(ws - cyl.length) <= tol, cyl.length, ws)
    ds = float(direction @ u)
    w_perp = w - ws[:, None] * u
    d_perp = direction - ds * u
    a2 = float(d_perp @ d_perp)
    b = w_perp @ d_perp
    c = np.einsum("ij,ij->i", w_perp, w_perp) - cyl.radius**2
    c = np.where(np.abs(c) <= 2 * tol * cyl.radius, 0.0, c)
    # radial interval (t_lo, t_hi) where the line is inside the infinite cylinder
    if a2 > 1e-24:
        disc = b * b - a2 * c
        root = np.sqrt(np.maximum(disc, 0.0))
        r_lo = np.where(disc >= 0, (-b - root) / a2, np.inf)
        r_hi = np.where(disc >= 0, (-b + root) / a2, -np.inf)
    else:  # parallel to the axis: inside for all t or for none
        r_lo = np.where(c <= 0, -np.inf, np.inf)
        r_hi = np.where(c <= 0, np.inf, -np.inf)
    # axial interval where 0 <= s <= L
    if abs(ds) > 1e-12:
        t0 = (0.0 - ws) / ds
        t1 = (cyl.length - ws) / ds
        s_lo, s_hi = np.minimum(t0, t1), np.maximum(t0, t1)
    else:
        inside = (ws >= 0) & (ws <= cyl.length)
        s_lo = np.where(inside, -np.inf, np.inf)
        s_hi = np.where(inside, np.inf, -np.inf)
    lo = np.maximum(r_lo, s_lo)
    hi = np.minimum(r_hi, s_hi)
    hit = (lo <= hi) & (hi >= 0)
    return np.where(hit, np.maximum(lo, 0.0), np.inf)


@dataclass(frozen=True, eq=False)
class CutGeometry:
    """Conductors on one grid.

    ``active`` is the boolean mask of cells that carry tissue unknowns; ``inside_electrode`` the
    index of the electrode holding each cell centre (-1: none). ``apertures[axis]`` is the open
    fraction (0-1) of each interior face between cells ``i`` and ``i + 1`` along ``axis`` (zero
    unless both cells are active). Links: ``link_cell`` (flat cell index), ``link_electrode``
    (index into the problem's electrodes), ``link_weight`` (conductance per unit sigma, m,
    including the near-field correction), ``link_aperture`` (covered fraction of the face),
    ``link_theta`` (mean distance to the surface as a fraction of the edge), ``link_axis`` (the
    edge's grid axis), ``link_sign`` (+1 or -1: its direction on that axis) and ``link_point``
    (the mean point where its rays meet the electrode, m).
    """

    grid: Grid
    active: np.ndarray
    inside_electrode: np.ndarray
    apertures: tuple[np.ndarray, np.ndarray, np.ndarray]
    link_cell: np.ndarray
    link_electrode: np.ndarray
    link_weight: np.ndarray
    link_aperture: np.ndarray
    link_theta: np.ndarray
    link_axis: np.ndarray
    link_sign: np.ndarray
    link_point: np.ndarray

    @property
    def open_faces(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(a > 0 for a in self.apertures)  # type: ignore[return-value]


def _candidate_cells(grid: Grid, cyl: Cylinder) -> np.ndarray:
    """Flat indices of cells within one spacing of the cylinder's bounding box."""
    lo = np.minimum(cyl.start, cyl.end) - cyl.radius - 1.01 * grid.spacing_m
    hi = np.maximum(cyl.start, cyl.end) + cyl.radius + 1.01 * grid.spacing_m
    ranges = []
    for axis in range(3):
        x = grid.axis_m(axis)
        ranges.append(np.flatnonzero((x >= lo[axis]) & (x <= hi[axis])))
    if any(len(r) == 0 for r in ranges):
        return np.zeros(0, dtype=np.int64)
    ii, jj, kk = np.meshgrid(*ranges, indexing="ij")
    return np.ravel_multi_index((ii.ravel(), jj.ravel(), kk.ravel()), grid.shape)


def centres(grid: Grid, flat: np.ndarray) -> np.ndarray:
    """Centres (m) of the cells with flat indices ``flat``, shape ``(len(flat), 3)``."""
    idx = np.unravel_index(flat, grid.shape)
    return np.stack([grid.origin_m[a] + grid.spacing_m * idx[a] for a in range(3)], axis=-1)


def conductor_cylinders(electrodes: Sequence[Electrode],
                        insulators: Sequence[Insulator]) -> list[Cylinder]:
    cyls = [Cylinder(np.asarray(e.start_m, float), np.asarray(e.end_m, float), e.radius_m, i)
            for i, e in enumerate(electrodes)]
    cyls += [Cylinder(np.asarray(s.start_m, float), np.asarray(s.end_m, float), s.radius_m, -1)
             for s in insulators]
    for c in cyls:
        if c.length == 0:
            raise ValueError("a cylinder needs distinct start and end points")
    return cyls


def _ray_offsets(axis: int, h: float) -> np.ndarray:
    """Ray origins relative to the cell centre: a regular grid on the cell's cross-section."""
    k = RAYS_PER_SIDE
    t = (np.arange(k) + 0.5) / k - 0.5
    a, b = np.meshgrid(t * h, t * h, indexing="ij")
    out = np.zeros((k * k, 3))
    plane = [ax for ax in range(3) if ax != axis]
    out[:, plane[0]] = a.ravel()
    out[:, plane[1]] = b.ravel()
    return out


def cut_geometry(
    grid: Grid, electrodes: Sequence[Electrode], insulators: Sequence[Insulator] = (),
    calibrate: bool = True,
) -> CutGeometry:
    """Cut the grid by the conductors: inactive cells, face apertures and electrode links, the
    links scaled by the near-field corrections of :mod:`irelab.field.calibration` (only the
    simplest one without ``calibrate``)."""
    from irelab.field.calibration import near_field_factors

    base = cut_cells(grid, electrodes, insulators)
    factors = near_field_factors(base, electrodes, insulators, calibrate)
    return replace(base, link_weight=base.link_weight * factors)


def cut_cells(
    grid: Grid, electrodes: Sequence[Electrode], insulators: Sequence[Insulator] = ()
) -> CutGeometry:
    """Inactive cells, face apertures and links (uncorrected Shortley-Weller conductances)."""
    from irelab.field.raycast import first_hits

    h = grid.spacing_m
    n = grid.size
    shape = grid.shape
    cyls = conductor_cylinders(electrodes, insulators)
    inactive = np.zeros(n, dtype=bool)
    holder = np.full(n, -2, dtype=np.int32)  # conductor index holding the centre (-2: none)
    candidates = []
    for ci, cyl in enumerate(cyls):
        flat = _candidate_cells(grid, cyl)
        sdf = cylinder_sdf(centres(grid, flat), cyl.start, cyl.end, cyl.radius)
        inside = sdf <= _ON_SURFACE * h
        inactive[flat[inside]] = True
        holder[flat[inside]] = ci
        candidates.append(flat[sdf <= _RAY_REACH * h])
    cand = np.unique(np.concatenate(candidates)) if candidates else np.zeros(0, np.int64)
    cand = cand[~inactive[cand]]
    near = np.stack([np.isin(cand, flat, assume_unique=True) for flat in candidates], axis=-1
                    ) if candidates else np.zeros((0, 0), dtype=bool)
    idx = np.stack(np.unravel_index(cand, shape), axis=-1)
    x = centres(grid, cand)
    n_rays = RAYS_PER_SIDE**2

    apertures = []
    for axis in range(3):
        a = np.ones(tuple(s - (1 if ax == axis else 0) for ax, s in enumerate(shape)),
                    dtype=np.float32)  # resolved to 1/36 by the rays: single precision is ample
        apertures.append(a)
    link_rows: list[tuple] = []
    for d, (axis, sign) in enumerate(_DIRECTIONS):
        direction = np.zeros(3)
        direction[axis] = sign
        offsets = _ray_offsets(axis, h)
        best, owner = first_hits(x, offsets, direction, cyls, near, _ON_SURFACE * h)
        best = best.ravel()
        owner = owner.ravel()
        hit = best <= h
        # a ray starting inside a conductor is part of the cell's section that is conductor,
        # not a face: it neither conducts nor links
        interior = best <= 0
        best = best.reshape(-1, n_rays)
        owner = np.where(hit, np.where(interior, _INTERIOR, owner), -1).reshape(-1, n_rays)
        # neighbour: rays reaching an inactive neighbour end in its conductor at distance h
        nb = idx.copy()
        nb[:, axis] += sign
        inside_grid = (nb[:, axis] >= 0) & (nb[:, axis] < shape[axis])
        nb_flat = np.where(inside_grid, np.ravel_multi_index(
            np.clip(nb, 0, np.array(shape) - 1).T, shape), 0)
        nb_holder = np.where(inside_grid, holder[nb_flat], -2)
        free_ray = owner == -1
        to_holder = free_ray & (nb_holder >= 0)[:, None]
        owner = np.where(to_holder, nb_holder[:, None], owner)
        best = np.where(to_holder, h, best)
        blocked_fraction = (owner != -1).mean(axis=1)
        # face apertures (stored once per face, from the lower cell's + direction)
        face = idx.copy()
        if sign < 0:
            face[:, axis] -= 1
        ok = inside_grid
        fidx = tuple(face[ok].T)
        apertures[axis][fidx] = np.minimum(apertures[axis][fidx], 1.0 - blocked_fraction[ok])
        # links: per (cell, electrode) among the rays that met an electrode first
        for ci, cyl in enumerate(cyls):
            if cyl.index < 0:
                continue
            mine = owner == ci
            count = mine.sum(axis=1)
            sel = count > 0
            if not sel.any():
                continue
            mean_t = np.where(mine, best, 0.0).sum(axis=1)[sel] / count[sel]
            mean_offset = (mine[sel].astype(float) @ offsets) / count[sel][:, None]
            point = x[sel] + mean_offset + mean_t[:, None] * direction
            link_rows.append((cand[sel], np.full(int(sel.sum()), cyl.index),
                              count[sel] / n_rays, np.maximum(mean_t / h, THETA_MIN),
                              np.full(int(sel.sum()), d), point))

    active = ~inactive
    # close every face of an inactive cell (the conductors hold few cells: index them)
    held = np.flatnonzero(inactive)
    held_idx = np.stack(np.unravel_index(held, shape), axis=-1)
    for axis in range(3):
        for below in (0, 1):  # the face above the cell, then the one below it
            face = held_idx.copy()
            face[:, axis] -= below
            ok = (face[:, axis] >= 0) & (face[:, axis] < shape[axis] - 1)
            apertures[axis][tuple(face[ok].T)] = 0.0
    if link_rows:
        cells, elec, aperture, theta, dirs, points = (
            np.concatenate(c) for c in zip(*link_rows, strict=True))
    else:
        cells = elec = dirs = np.zeros(0, dtype=np.int64)
        aperture = theta = np.zeros(0)
        points = np.zeros((0, 3))
    order = np.lexsort((elec, dirs, cells))
    cells, elec, aperture, theta, dirs, points = (
        v[order] for v in (cells, elec, aperture, theta, dirs, points))
    index_of = np.array([c.index for c in cyls], dtype=np.int32)
    inside_electrode = np.full(n, -1, dtype=np.int32)
    inside_electrode[held] = index_of[holder[held]]
    return CutGeometry(
        grid=grid, active=active, inside_electrode=inside_electrode,
        apertures=tuple(apertures),  # type: ignore[arg-type]
        link_cell=cells, link_electrode=elec, link_weight=h * aperture / theta,
        link_aperture=aperture, link_theta=theta, link_axis=dirs // 2,
        link_sign=np.where(dirs % 2 == 1, 1.0, -1.0), link_point=points)


def sub_grid(grid: Grid, lower_m: np.ndarray, upper_m: np.ndarray) -> Grid:
    """The grid of ``grid``'s lattice (same spacing and cell centres) covering the box
    ``lower_m``-``upper_m``, which may reach beyond ``grid``."""
    h = grid.spacing_m
    origin = np.asarray(grid.origin_m)
    i0 = np.floor((np.asarray(lower_m) - origin) / h).astype(int)
    i1 = np.ceil((np.asarray(upper_m) - origin) / h).astype(int)
    return Grid(shape=tuple(int(n) for n in i1 - i0 + 1), spacing_m=h,  # type: ignore[arg-type]
                origin_m=tuple(float(o) for o in origin + i0 * h))  # type: ignore[arg-type]
