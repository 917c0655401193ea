"""Sub-voxel tissue interfaces of analytic shapes: conduction through cells a tissue surface
cuts.

Tissue labels are painted by voxel centre: a voxel belongs to a sphere, cylinder or box when its
centre does. Seen by the conduction operator, a 3 mm blood vessel (0.68 S/m) beside liver
(0.067 S/m at rest) is then a staircase: at 1 mm the vessel of ``benchmarks/field_vs_fem.py``'s
``vessel`` scene (axis between voxel centres) is 2 x 2 voxels, 4 mm^2 of its 7.07 mm^2 cross
section, and which centres fall inside it changes discontinuously with the spacing and the
vessel's position (8 mm^2 at 0.5 mm, 6.75 mm^2 at 0.75 mm). On that scene the staircase left
the current 0.54 % low and the lethal volume 1.36 % high against a P3 finite-element reference
at 1 mm.

When the anatomy is made of analytic shapes (a case whose regions are all spheres, cylinders and
boxes), the tissues inside every voxel are known exactly, and the operator is built from them
(the labels stay painted by centre: lethal volumes, target and critical masks are unchanged):

* A cell whose cube a surface cuts is *mixed*: volume fractions ``phi_m`` of its tissues, and
  conductivity ``sigma_c(E) = sum_m phi_m sigma_m(E)``, the parallel (arithmetic) mixture that
  carries the current along an interface (the vessel's axial current through its rim voxels).
* Across an interface the tissues are in series. Each half face (the tube of cross-section
  ``h x h`` from a cell's centre to the face) is integrated along ``SUBDIVISIONS**2`` parallel
  rays: along each ray the tissues' lengths (exact, below) in series, the rays in parallel, which
  gives the half's resting conductance ``A_c``. The face conductance at rest is the series of
  its two halves, ``A_c A_n / (A_c + A_n)``: the standard treatment of a material interface in
  finite volumes (harmonic averaging weighted by the lengths on each side: Patankar SV,
  Numerical Heat Transfer and Fluid Flow, Hemisphere 1980, Sec. 4.2-3, eq. 4.9), applied per ray.
  Together with the mixture this is the anisotropic sub-cell average of Farjadpour A et al.,
  Improving accuracy by subpixel smoothing in the finite-difference time domain, Opt Lett
  31:2972-2974, 2006 (harmonic across an interface, arithmetic along it).

In the operator's terms (:mod:`irelab.field.operators`) a half face has the weight
``w_c = A_c / s0_c`` per unit conductivity (``s0_c`` the cell's resting conductivity, its
mixture's if mixed; ``2h`` for a pure half) and the share ``kappa_c = A_n / (A_c + A_n)`` of the
potential jump across the face (the face potential that makes the resting current continuous),
so that ``g_lo = w_c kappa_c^2`` and the face conductance ``sigma_c g_lo + sigma_n g_hi`` is the
exact series at rest. The weights are geometry and resting conductivity only, computed once per
grid; with a field-dependent sigma each face combines its two cells' current sigma at every
Newton step, as everywhere else in the operator, so the operator stays the exact gradient of a
convex energy (the nonlinear solver's argument). A half lies inside its own cell's cube, so its
energy is the cell's and the cells' energy fields need no correction factor (unlike the
electrodes' links). The cell's one-sided gradient across such a face is
``kappa_c j w_c / h^2`` (``j`` the potential jump): the current density over ``s0_c``, the field
in a pure cell's tissue and the cube's effective field in a mixed one. (The field at a mixed
cell's centre, in its own tissue, from the ray through the centre alone, was tried: on the
``vessel`` scene it put the 1 mm lethal volume at +1.97 % instead of +0.37 %, the same within
0.25 % at 0.75 and 0.5 mm. A mixed voxel counts whole in a lethal volume, so the cube's field
is the one that represents it.)

Exact lengths: every shape is convex, so the part of a segment ``p(s) = p0 + s d``,
``0 <= s <= 1``, inside it is one interval, the intersection of the intervals of its defining
inequalities (a quadratic one for a sphere's or cylinder's radius, linear ones for a cylinder's
end planes and a box's faces), solved in closed form for all rays at once. Shapes are painted in
order, later over earlier; between two consecutive interval ends along a ray the tissue is that
of the midpoint. Which cells to examine: those whose centre is within half a cube diagonal of
some shape's surface (signed distances).

Measured on the ``vessel`` scene against the P3 reference (see ``benchmarks/field_vs_fem.py``):
current and lethal volume -0.26 % and +0.37 % at 1 mm (staircase -0.54 %, +1.36 %), -0.21 %
and -0.08 % at 0.75 mm (-0.21 %, +0.12 %), -0.12 % and +0.11 % at 0.5 mm (+0.02 %, -0.03 %).

Not changed: the faces of the electrodes' and insulators' cut cells (their apertures and links
are :mod:`irelab.field.geometry`'s), coarser multigrid levels (they only precondition and start
the finest) and image-based anatomy (no implicit surface). Why our own code: the shapes are the
case file's own (:mod:`irelab.case`), the weights plug into our finite-volume operator, and the
computation is a few array expressions.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np

from irelab.field.geometry import cylinder_sdf
from irelab.field.problem import Grid

__all__ = ["SphereShape", "CylinderShape", "BoxShape", "ShapeRegion", "TissueInterfaces"]

_EMPTY = (np.inf, -np.inf)


def _quadratic_interval(qa: np.ndarray, qb: np.ndarray, qc: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Where ``qa s^2 + qb s + qc <= 0`` (``qa >= 0``): an interval ``[lo, hi]`` (empty when
    ``lo > hi``; unbounded for ``qa = qb = 0``, ``qc <= 0``)."""
    qa, qb, qc = np.broadcast_arrays(np.asarray(qa, float), np.asarray(qb, float),
                                     np.asarray(qc, float))
    lo = np.full(qa.shape, _EMPTY[0])
    hi = np.full(qa.shape, _EMPTY[1])
    quad = qa > 1e-300
    disc = qb * qb - 4 * qa * qc
    real = quad & (disc >= 0)
    root = np.sqrt(np.where(real, disc, 0.0))
    denom = np.where(real, 2 * qa, 1.0)
    lo = np.where(real, (-qb - root) / denom, lo)
    hi = np.where(real, (-qb + root) / denom, hi)
    lin_lo, lin_hi = _linear_interval(qb, qc)
    lo = np.where(quad, lo, lin_lo)
    hi = np.where(quad, hi, lin_hi)
    return lo, hi


def _linear_interval(qb: np.ndarray, qc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where ``qb s + qc <= 0``: a half line, everything, or nothing."""
    qb, qc = np.broadcast_arrays(np.asarray(qb, float), np.asarray(qc, float))
    flat = qb == 0
    root = -qc / np.where(flat, 1.0, qb)
    lo = np.where(flat, np.where(qc <= 0, -np.inf, np.inf), np.where(qb < 0, root, -np.inf))
    hi = np.where(flat, np.where(qc <= 0, np.inf, -np.inf), np.where(qb > 0, root, np.inf))
    return lo, hi


def _between(lo_value: float, hi_value: float, x0: np.ndarray, dx: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Where ``lo_value <= x0 + s dx <= hi_value``."""
    a1, b1 = _linear_interval(-dx, lo_value - x0)
    a2, b2 = _linear_interval(dx, x0 - hi_value)
    return np.maximum(a1, a2), np.minimum(b1, b2)


@dataclass(frozen=True)
class SphereShape:
    """A ball (m): inside where ``|p - centre| <= radius`` (the case's ``sphere``)."""

    centre_m: tuple[float, float, float]
    radius_m: float

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Inside (surface included); the same arithmetic as the case's sphere mask
        (:mod:`irelab.case.anatomy`), so both paint the same voxels to the last bit."""
        c = self.centre_m
        r = self.radius_m
        return ((points[..., 0] - c[0]) ** 2 + (points[..., 1] - c[1]) ** 2
                + (points[..., 2] - c[2]) ** 2 <= r * r)

    def distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (m, negative inside) from ``points[..., 3]`` to the surface."""
        return np.linalg.norm(points - np.asarray(self.centre_m), axis=-1) - self.radius_m

    def interval(self, p0: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The parameters ``s`` with ``p0 + s d`` inside (``p0``: ``(N, 3)``; ``d``: ``(3,)``)."""
        rel = p0 - np.asarray(self.centre_m)
        return _quadratic_interval(float(d @ d), 2 * rel @ d,
                                   np.einsum("ij,ij->i", rel, rel) - self.radius_m**2)


@dataclass(frozen=True)
class CylinderShape:
    """A flat-ended cylinder (m): within ``radius`` of the segment ``start``-``end``, between
    the planes through its ends normal to it (the case's ``cylinder``)."""

    start_m: tuple[float, float, float]
    end_m: tuple[float, float, float]
    radius_m: float

    def _frame(self) -> tuple[np.ndarray, np.ndarray, float]:
        a = np.asarray(self.start_m, float)
        axis = np.asarray(self.end_m, float) - a
        length2 = float(axis @ axis)
        if length2 == 0:
            raise ValueError("a cylinder needs distinct start and end points")
        return a, axis, length2

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Inside (surface included); the same arithmetic as the case's cylinder mask."""
        a, d, length2 = self._frame()
        rx, ry, rz = points[..., 0] - a[0], points[..., 1] - a[1], points[..., 2] - a[2]
        s = (rx * d[0] + ry * d[1] + rz * d[2]) / length2
        qx, qy, qz = rx - s * d[0], ry - s * d[1], rz - s * d[2]
        return (np.sqrt(qx * qx + qy * qy + qz * qz) <= self.radius_m) & (s >= 0) & (s <= 1)

    def distance(self, points: np.ndarray) -> np.ndarray:
        return cylinder_sdf(points, self.start_m, self.end_m, self.radius_m)

    def interval(self, p0: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, axis, length2 = self._frame()
        rel = p0 - a
        u0 = rel @ axis / length2  # axial position (fraction of the length)
        du = float(d @ axis) / length2
        q0 = rel - u0[:, None] * axis  # radial offset, and its change along the link
        qd = d - du * axis
        r_lo, r_hi = _quadratic_interval(float(qd @ qd), 2 * q0 @ qd,
                                         np.einsum("ij,ij->i", q0, q0) - self.radius_m**2)
        a_lo, a_hi = _between(0.0, 1.0, u0, np.full_like(u0, du))
        return np.maximum(r_lo, a_lo), np.minimum(r_hi, a_hi)


@dataclass(frozen=True)
class BoxShape:
    """An axis-aligned box (m), faces included (the case's ``box``)."""

    lower_m: tuple[float, float, float]
    upper_m: tuple[float, float, float]

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Inside (faces included), as the case's box mask."""
        lo, hi = self.lower_m, self.upper_m
        inside = np.ones(points.shape[:-1], dtype=bool)
        for axis in range(3):
            inside &= (points[..., axis] >= lo[axis]) & (points[..., axis] <= hi[axis])
        return inside

    def distance(self, points: np.ndarray) -> np.ndarray:
        lo, hi = np.asarray(self.lower_m), np.asarray(self.upper_m)
        q = np.abs(points - (lo + hi) / 2) - (hi - lo) / 2
        outside = np.linalg.norm(np.maximum(q, 0), axis=-1)
        return outside + np.minimum(q.max(axis=-1), 0)

    def interval(self, p0: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo = np.full(len(p0), -np.inf)
        hi = np.full(len(p0), np.inf)
        for axis in range(3):  # three planes pairs, each vectorised over the links
            a, b = _between(self.lower_m[axis], self.upper_m[axis], p0[:, axis],
                            np.full(len(p0), d[axis]))
            lo, hi = np.maximum(lo, a), np.minimum(hi, b)
        return lo, hi


Shape = SphereShape | CylinderShape | BoxShape


@dataclass(frozen=True)
class ShapeRegion:
    """One painted region: the voxels (centres) inside ``shape`` get ``label``."""

    shape: Shape
    label: int


@dataclass(frozen=True)
class FaceWeights:
    """Sub-voxel weights of the faces of one axis (see :func:`subvoxel_weights`): ``cell`` the
    flat index of each face's lower cell (the face couples it with the next cell along
    ``axis``), the half-face weights ``g_lo``, ``g_hi`` (m) and the changes ``grad_lo``,
    ``grad_hi`` of the coefficient of the potential jump over ``h`` in each cell's central
    gradient."""

    axis: int
    cell: np.ndarray
    g_lo: np.ndarray
    g_hi: np.ndarray
    grad_lo: np.ndarray
    grad_hi: np.ndarray


@dataclass(frozen=True)
class SubvoxelWeights:
    """Everything the operator changes for sub-voxel interfaces on one grid: the mixed cells
    (``mixed``: flat indices; ``fractions[i, m]``: volume fraction of material ``m`` in mixed
    cell ``i``) and the faces of each axis."""

    mixed: np.ndarray
    fractions: np.ndarray
    faces: tuple[FaceWeights, ...]


@dataclass(frozen=True)
class TissueInterfaces:
    """The anatomy as analytic shapes: ``background`` label everywhere, then ``regions`` painted
    in order (later over earlier), exactly as the case paints its labels by voxel centre."""

    regions: tuple[ShapeRegion, ...]
    background: int = 0

    def labels(self, points: np.ndarray) -> np.ndarray:
        """The label at each point (``points[..., 3]``, m)."""
        out = np.full(points.shape[:-1], self.background, dtype=np.int64)
        for region in self.regions:  # a handful of shapes, each vectorised over the points
            out[region.shape.contains(points)] = region.label
        return out

    def near_surface(self, points: np.ndarray, h: float) -> np.ndarray:
        """Whether the cube of edge ``h`` centred at each of ``points`` may be cut by a shape's
        surface: centre within half a cube diagonal (``sqrt(3) h / 2``, with a little to spare)
        of some surface."""
        near = np.zeros(points.shape[:-1], dtype=bool)
        for region in self.regions:
            near |= np.abs(region.shape.distance(points)) <= NEAR_SURFACE * h
        return near

    def path_fractions(self, p0: np.ndarray, d: np.ndarray, n_labels: int) -> np.ndarray:
        """For each segment ``p0[i] + s d``, ``0 <= s <= 1``, the fraction of its length in
        each label, shape ``(N, n_labels)``: exact, from the shapes' crossings (every change of
        label along a segment is at the end of some shape's interval, and between two such
        points the label is that of their midpoint)."""
        n = len(p0)
        ends = [np.zeros(n), np.ones(n)]
        for region in self.regions:
            a, b = region.shape.interval(p0, d)
            ends += [np.clip(np.nan_to_num(a), 0, 1), np.clip(np.nan_to_num(b), 0, 1)]
        bp = np.sort(np.stack(ends, axis=1), axis=1)
        length = np.diff(bp, axis=1)
        mid = (bp[:, :-1] + bp[:, 1:]) / 2
        label = self.labels(p0[:, None, :] + mid[..., None] * d)
        row = np.repeat(np.arange(n), length.shape[1])
        return np.bincount(row * n_labels + label.ravel(), weights=length.ravel(),
                           minlength=n * n_labels).reshape(n, n_labels)


NEAR_SURFACE = 0.87
"""Cells whose centre is within this many spacings of a shape's surface are examined for
mixture (half the cube's diagonal is 0.866)."""

SUBDIVISIONS = 4
"""Rays per side of a cell's or half face's cross-section (16 parallel rays) along which the
tissues are integrated exactly; a design choice: the cross-section is sampled by the midpoint
rule (a plane's fraction within half a ray spacing, 1/8). With 8 (64 rays) the ``vessel``
scene's current and lethal volume at 1 mm moved by 0.02 %."""

SLAB_CELLS = 1 << 20
"""Voxel centres per x-slab when painting and measuring distances over the whole grid (their
coordinates, 24 bytes each, a slab at a time instead of the grid's at once)."""


def _offsets(axis: int, h: float) -> np.ndarray:
    """The ``SUBDIVISIONS**2`` ray offsets (m) across the cross-section normal to ``axis``."""
    u = (np.arange(SUBDIVISIONS) + 0.5) / SUBDIVISIONS - 0.5
    out = np.zeros((SUBDIVISIONS**2, 3))
    others = [a for a in range(3) if a != axis]
    for k, (i, j) in enumerate(product(range(SUBDIVISIONS), repeat=2)):
        out[k, others[0]] = u[i] * h
        out[k, others[1]] = u[j] * h
    return out


def _tube_fractions(interfaces: TissueInterfaces, grid: Grid, cell: np.ndarray, axis: int,
                    start: float, n_labels: int) -> np.ndarray:
    """Mean fraction of each label along the ``SUBDIVISIONS**2`` rays parallel to ``axis``
    through the tube of cross-section ``h x h`` around the cells ``cell`` from ``start h`` to
    ``(start + 1/2) h`` (relative to the centre), shape ``(len(cell), SUBDIVISIONS**2, L)``."""
    h = grid.spacing_m
    idx = np.unravel_index(cell, grid.shape)
    centre = np.stack([grid.origin_m[a] + h * idx[a] for a in range(3)], axis=-1)
    d = np.zeros(3)
    d[axis] = h / 2
    p0 = centre[:, None, :] + _offsets(axis, h)[None] + 2 * start * d
    frac = interfaces.path_fractions(p0.reshape(-1, 3), d, n_labels)
    return frac.reshape(len(cell), SUBDIVISIONS**2, n_labels)


def cell_fractions(interfaces: TissueInterfaces, grid: Grid, cells: np.ndarray,
                   n_labels: int) -> np.ndarray:
    """Volume fraction of each label in each of ``cells``, shape ``(len(cells), L)``: exact
    along x, the midpoint rule across."""
    lower = _tube_fractions(interfaces, grid, cells, 0, -0.5, n_labels)
    upper = _tube_fractions(interfaces, grid, cells, 0, 0.0, n_labels)
    return (lower.mean(axis=1) + upper.mean(axis=1)) / 2


@dataclass(frozen=True)
class _InterfaceFace:
    """The faces of one axis that a tissue surface concerns, whatever the electrodes: ``cell``
    the lower cell of each, ``lower``/``upper`` the label fractions along the rays of its two
    halves (``(len(cell), SUBDIVISIONS**2, L)``)."""

    axis: int
    cell: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


@dataclass(frozen=True)
class _AnatomyFractions:
    """The geometry of the shapes on one grid (no conductivity, no electrode in it): the
    mixed cells with their volume fractions and the interface faces' ray fractions."""

    mixed: np.ndarray
    fractions: np.ndarray
    faces: tuple[_InterfaceFace, ...]

    @property
    def nbytes(self) -> int:
        return self.mixed.nbytes + self.fractions.nbytes + sum(
            f.cell.nbytes + f.lower.nbytes + f.upper.nbytes for f in self.faces)


ANATOMY_CACHE_BYTES = 256 << 20
"""The ray fractions of the shapes are kept per (shapes, grid, labels) for the next operator
on the same anatomy - every new probe placement of the planner and of a robustness study -
while the cached ones take at most this much memory (the 30 mm demo phantom: about 24 MB at
1 mm, 97 MB at 0.5 mm). They are the most expensive part of a new geometry's set-up (0.30 of
0.40 s at 1 mm on the two-needle example, 1.57 of 1.75 s at 0.5 mm) and depend on no
electrode and no conductivity."""

_anatomy_cache: OrderedDict[tuple, _AnatomyFractions] = OrderedDict()
_anatomy_lock = threading.Lock()


def _anatomy_fractions(interfaces: TissueInterfaces, grid: Grid, labels: np.ndarray,
                       n_labels: int) -> _AnatomyFractions:
    """:func:`_compute_anatomy_fractions`, kept for the next call with the same shapes, grid
    and labels (the labels by content)."""
    key = (interfaces, grid, n_labels, labels.shape, labels.dtype.str,
           hashlib.blake2b(np.ascontiguousarray(labels).view(np.uint8), digest_size=20)
           .digest())
    with _anatomy_lock:
        found = _anatomy_cache.get(key)
        if found is not None:
            _anatomy_cache.move_to_end(key)
            return found
    found = _compute_anatomy_fractions(interfaces, grid, labels, n_labels)
    with _anatomy_lock:
        _anatomy_cache[key] = found
        while (sum(v.nbytes for v in _anatomy_cache.values()) > ANATOMY_CACHE_BYTES
               and len(_anatomy_cache) > 1):
            _anatomy_cache.popitem(last=False)
    return found


def _compute_anatomy_fractions(interfaces: TissueInterfaces, grid: Grid, labels: np.ndarray,
                               n_labels: int) -> _AnatomyFractions:
    flat = labels.ravel()
    h = grid.spacing_m
    _, y, z = grid.centres_m()
    x = grid.axis_m(0)
    slab = max(1, SLAB_CELLS // (grid.shape[1] * grid.shape[2]))
    differ = 0
    near_parts = []
    for i in range(0, grid.shape[0], slab):  # x-slabs: a few coordinates arrays at a time
        points = np.stack(np.broadcast_arrays(x[i:i + slab, None, None], y, z), axis=-1)
        differ += int(np.count_nonzero(interfaces.labels(points) != labels[i:i + slab]))
        near_parts.append(interfaces.near_surface(points, h).ravel())
    if differ:
        raise ValueError(f"the sub-voxel shapes do not paint the problem's labels ({differ} "
                         "voxels differ): they must describe the same anatomy")
    near = np.flatnonzero(np.concatenate(near_parts))
    fractions = cell_fractions(interfaces, grid, near, n_labels)
    is_mixed = fractions.max(axis=1) < 1 - MIXED_TOLERANCE
    mixed = near[is_mixed]
    is_mixed_cell = np.zeros(grid.size, dtype=bool)
    is_mixed_cell[mixed] = True
    faces = []
    for axis in range(3):
        stride = int(np.prod(grid.shape[axis + 1:]))
        lo = [slice(None)] * 3
        lo[axis] = slice(0, -1)
        candidate = np.zeros(grid.shape, dtype=bool)
        candidate[tuple(lo)] = True
        cell = np.flatnonzero(candidate)
        upper = cell + stride
        cell = cell[is_mixed_cell[cell] | is_mixed_cell[upper] | (flat[cell] != flat[upper])]
        faces.append(_InterfaceFace(
            axis=axis, cell=cell,
            lower=_tube_fractions(interfaces, grid, cell, axis, 0.0, n_labels),
            upper=_tube_fractions(interfaces, grid, cell + stride, axis, -0.5, n_labels)))
    out = _AnatomyFractions(mixed=mixed, fractions=fractions[is_mixed], faces=tuple(faces))
    for array in (out.mixed, out.fractions, *(a for f in out.faces
                                             for a in (f.cell, f.lower, f.upper))):
        array.setflags(write=False)  # shared by every operator on this anatomy
    return out


def subvoxel_weights(interfaces: TissueInterfaces, grid: Grid, labels: np.ndarray,
                     s0: np.ndarray, usable: Sequence[np.ndarray]) -> SubvoxelWeights:
    """Mixed cells and half-face weights of the faces that a tissue surface concerns.

    ``s0``: resting conductivity of each label; ``usable[axis]`` (grid-shaped, at each face's
    lower cell): the faces that may be changed (fully open, away from the electrodes' cut
    cells). ``ValueError`` when the shapes do not paint ``labels`` (they describe another
    anatomy). The shapes' ray fractions on this grid are computed once per anatomy
    (:data:`ANATOMY_CACHE_BYTES`); the conductivities and the electrodes enter here.
    """
    labels = np.asarray(labels)
    flat = labels.ravel()
    n_labels = len(s0)
    h = grid.spacing_m
    anatomy = _anatomy_fractions(interfaces, grid, labels, n_labels)
    mixed = anatomy.mixed
    s0_cell = s0[flat].astype(float)  # resting conductivity of every cell (mixture's if mixed)
    s0_cell[mixed] = anatomy.fractions @ s0
    faces = []
    for found in anatomy.faces:
        axis = found.axis
        stride = int(np.prod(grid.shape[axis + 1:]))
        keep = np.asarray(usable[axis], dtype=bool).ravel()[found.cell]
        cell = found.cell[keep]
        upper = cell + stride
        # each half's resting conductance: rays in parallel, tissues in series along each ray
        halves = []
        for frac in (found.lower[keep], found.upper[keep]):
            resistance = (h / 2) * (frac @ (1 / s0))  # per unit cross-section, per ray
            halves.append(h * h * np.mean(1 / resistance, axis=1))
        a_lo, a_hi = halves
        kappa_lo, kappa_hi = a_hi / (a_lo + a_hi), a_lo / (a_lo + a_hi)
        w_lo, w_hi = a_lo / s0_cell[cell], a_hi / s0_cell[upper]
        # the kernel's plain central-gradient coefficients, replaced by J / sigma0 of the cell
        plain_lo = s0[flat[upper]] / (s0[flat[cell]] + s0[flat[upper]])
        plain_hi = s0[flat[cell]] / (s0[flat[cell]] + s0[flat[upper]])
        faces.append(FaceWeights(
            axis=axis, cell=cell, g_lo=w_lo * kappa_lo**2, g_hi=w_hi * kappa_hi**2,
            grad_lo=kappa_lo * w_lo / (2 * h) - plain_lo,
            grad_hi=kappa_hi * w_hi / (2 * h) - plain_hi))
    return SubvoxelWeights(mixed=mixed, fractions=anatomy.fractions, faces=tuple(faces))


MIXED_TOLERANCE = 1e-9
"""A cell with every tissue's volume fraction below ``1 - MIXED_TOLERANCE`` is mixed."""
