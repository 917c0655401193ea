"""Near-field corrections of the electrode links: a numerical well index.

With a needle radius of 0.5-2 spacings, the discrete near field of the needle is not resolved:
the potential falls like ``ln(r / a)`` within the first voxel, which the linear profile of a
Shortley-Weller link misrepresents. Each electrode's links are therefore scaled by one factor
``alpha``. For an electrode parallel to a grid axis (the usual probe), ``alpha`` is computed
numerically: in the voxel layer through its middle, the discrete operator is solved with the
exact infinite-cylinder potential ``psi = ln(r / a)`` imposed on a ring of cells
``CALIBRATION_RADIUS`` spacings out, and ``alpha`` makes the discrete current equal the exact
``2 pi`` per unit length. This is Peaceman's well-index idea (Peaceman D W. Interpretation of
well-block pressures in numerical reservoir simulation. SPE J 18(3):183-194, 1978) done by a
local solve instead of his formula, whose equivalent radius ``0.208 h`` is smaller than the
needle here and so does not apply. For other directions, ``alpha`` makes the sum of the cut
cells' equations (their total flux) exact for ``psi``, with ``r = a + d`` and ``d`` the
distance to the surface. ``alpha`` is clipped to ``[ALPHA_MIN, ALPHA_MAX]``.

The electrode's ends (a free tip, or the junction with its insulated shaft) get a second
factor ``beta`` on the links within a few spacings of the end plane: the discrete operator is
solved in a window around the end with the axisymmetric reference potential of
:mod:`irelab.field.axisymmetric` imposed around it, and ``beta`` makes the window's current
equal the reference current over the same stretch of electrode (:func:`_end_correction`).

The module is longer than most (about 600 lines): the side factor and the end correction of
the tips and junctions share the local lattice windows, their caches and the root finding, and
splitting them would expose those internals across modules.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import cache

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import MatrixRankWarning, splu, spsolve

from irelab.field.geometry import centres, cut_cells, cylinder_sdf, sub_grid
from irelab.field.problem import Electrode, Grid, Insulator

__all__: list[str] = []

ALPHA_MIN = 0.25
ALPHA_MAX = 4.0
"""Bounds of the near-field correction factor (a safeguard; the validation cases calibrate
to 0.9-1.1)."""

CALIBRATION_RADIUS = 4
"""Cross-section calibration: cells closer than this many spacings to the surface are solved."""


def near_field_factors(geometry, electrodes: Sequence[Electrode],
                       insulators: Sequence[Insulator] = (), calibrate: bool = True
                       ) -> np.ndarray:
    """Per-link factor: the well index of each link's electrode times its end correction.

    With ``calibrate=False`` only the cut-cell flux correction (:func:`_log_correction`) is
    applied (the coarse grids that only precondition).

    Both are computed on small grids of the same lattice around the place concerned, cut by an
    idealised electrode (extended beyond that grid: infinitely long, or ending only in the end
    concerned, with its insulator continuing it for a junction), so they depend only on how
    the needle sits in the lattice, not on the electrode's length, other conductors or walls.
    """
    g = geometry
    grid = g.grid
    h = grid.spacing_m
    alpha = _log_correction(g, electrodes)
    if not calibrate:
        return alpha
    factors = np.ones(len(g.link_cell))
    centre = centres(grid, g.link_cell)
    for e_index, electrode in enumerate(electrodes):
        mine = g.link_electrode == e_index
        side = _side_factor(grid, electrode)
        if side is None:
            continue
        alpha[mine] = side
        for which in (0, 1):
            kind = _end_kind(electrode, which, electrodes, insulators, 1e-6 * h)
            point = np.asarray(electrode.end_m if which else electrode.start_m, dtype=float)
            if kind is None or np.any(point < grid.lower_m) or np.any(point > grid.upper_m):
                continue  # an electrode joining another, or leaving the grid
            beta = _end_factor(grid, electrode, which, kind, side)
            if beta is None:
                continue
            start, end, u, _ = _axis(electrode)
            outward = u if which else -u
            zeta = (centre[mine] - point) @ outward
            taper = np.clip((END_ZONE[1] - np.abs(zeta) / h) / (END_ZONE[1] - END_ZONE[0]),
                            0.0, 1.0)
            factors[mine] *= 1.0 + (beta - 1.0) * taper
    return alpha * factors


def _axis(electrode) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    start = np.asarray(electrode.start_m, dtype=float)
    end = np.asarray(electrode.end_m, dtype=float)
    u = (end - start) / np.linalg.norm(end - start)
    return start, end, u, abs(float(np.max(np.abs(u))) - 1) < 1e-9


def _local(grid, electrode, point, u, half_length, radius, electrode_span,
           insulator_span=None):
    """The uncorrected cut cells of a grid of ``grid``'s lattice around ``point`` (a box
    holding the axis segment ``+-half_length`` along ``u`` and ``radius`` around it, plus two
    cells), cut by one electrode along ``u`` over ``electrode_span`` (distances from
    ``point``) and optionally an insulator of the same radius over ``insulator_span``."""
    h = grid.spacing_m
    extent = np.abs(u) * half_length + radius * np.sqrt(np.maximum(1 - u * u, 0)) + 2 * h
    sub = sub_grid(grid, point - extent, point + extent)
    r = electrode.radius_m
    el = Electrode("local", tuple(point + electrode_span[0] * u),
                   tuple(point + electrode_span[1] * u), r)
    ins = () if insulator_span is None else (Insulator(
        "local-insulator", tuple(point + insulator_span[0] * u),
        tuple(point + insulator_span[1] * u), r),)
    return cut_cells(sub, [el], ins), el


def _lattice_key(grid, point: np.ndarray, u: np.ndarray) -> tuple:
    """Where ``point`` sits in the lattice of ``grid`` (its offset from the nearest cell centre,
    rounded to 1e-9 spacings) and the axis direction (rounded): what the local calibrations
    depend on, besides the spacing and the radius."""
    h = grid.spacing_m
    origin = np.asarray(grid.origin_m)
    rel = (point - origin) / h
    offset = np.round((rel - np.round(rel)) * 1e9) / 1e9
    return tuple(float(v) for v in offset), tuple(float(v) for v in np.round(u * 1e12) / 1e12)


def _side_factor(grid, electrode) -> float | None:
    start, end, u, _ = _axis(electrode)
    offset, direction = _lattice_key(grid, (start + end) / 2, u)
    return _side_factor_at(grid.spacing_m, electrode.radius_m, offset, direction)


@cache
def _side_factor_at(h: float, radius: float, offset: tuple, direction: tuple) -> float | None:
    """The well index of an electrode's side: on a local grid cut by the electrode's
    infinite extension through the point ``offset`` (spacings from a cell centre), the
    cross-section calibration (grid-aligned) or the window calibration (any other direction).
    Computed in a frame where that cell centre is the origin, so the result depends only on the
    arguments (and is cached by them)."""
    grid = Grid((1, 1, 1), h, (0.0, 0.0, 0.0))
    u = np.asarray(direction)
    u = u / np.linalg.norm(u)
    aligned = abs(float(np.max(np.abs(u))) - 1) < 1e-9
    point = np.asarray(offset) * h
    electrode = Electrode("local", tuple(point - u), tuple(point + u), radius)
    reach = 1.0 + 20 * (radius + 10 * h)
    if aligned:
        local, el = _local(grid, electrode, point, u, h, radius + (CALIBRATION_RADIUS + 3) * h,
                           (-reach, reach))
        return _cross_section_calibration(local, el, 0)
    half = (SIDE_WINDOW[0] + 1) * h
    local, el = _local(grid, electrode, point, u, half, radius + (CALIBRATION_RADIUS + 1) * h,
                       (-reach, reach))
    return _side_window_calibration(local, el, 0)


def _end_factor(grid, electrode, which: int, kind, side: float) -> float | None:
    start, end, u, aligned = _axis(electrode)
    point, outward = (end, u) if which else (start, -u)
    offset, direction = _lattice_key(grid, point, outward)
    return _end_factor_at(grid.spacing_m, electrode.radius_m, offset, direction, kind, side,
                          aligned)


@cache
def _end_factor_at(h: float, radius: float, offset: tuple, direction: tuple, kind, side: float,
                   aligned: bool) -> float | None:
    """The end correction (see :func:`_end_correction`) of an end at ``offset`` (spacings from a
    cell centre) facing ``direction``, on a local grid cut by the electrode extended away from
    the end, and continued by its insulator for a junction (cached as the side factor)."""
    from irelab.field.axisymmetric import EndKind, end_solution

    grid = Grid((1, 1, 1), h, (0.0, 0.0, 0.0))
    outward = np.asarray(direction)
    outward = outward / np.linalg.norm(outward)
    point = np.asarray(offset) * h
    electrode = Electrode("local", tuple(point - outward), tuple(point), radius)
    reach = 1.0 + 20 * (radius + 10 * h)
    half = (END_WINDOW_DEPTH + 1) * h
    local, el = _local(grid, electrode, point, outward, half,
                       radius + (END_WINDOW_RADIUS + 1) * h, (-reach, 0.0),
                       (0.0, reach) if kind is EndKind.JUNCTION else None)
    return _end_correction(local, el, point, outward, aligned, end_solution(kind), side)


def _face_weight(geometry, axis: int, idx: np.ndarray, sign: int) -> np.ndarray:
    """Aperture of the face from cells ``idx`` towards ``sign`` along ``axis`` (0 outside)."""
    shape = geometry.grid.shape
    nb = idx[:, axis] + sign
    valid = (nb >= 0) & (nb < shape[axis])
    face = idx.copy()
    face[:, axis] = np.clip(np.where(sign < 0, nb, idx[:, axis]), 0, max(shape[axis] - 2, 0))
    if shape[axis] < 2:
        return np.zeros(len(idx))
    ap = geometry.apertures[axis][face[:, 0], face[:, 1], face[:, 2]]
    return np.where(valid, ap, 0.0)


def _log_correction(geometry, electrodes) -> np.ndarray:
    """Per-link factor alpha making each cut cell's equation exact for ``ln(r / a)``."""
    g = geometry
    cells, elec = g.link_cell, g.link_electrode
    if len(cells) == 0:
        return np.ones(0)
    grid = g.grid
    h = grid.spacing_m
    n_e = len(electrodes) + 1
    key = cells * n_e + elec
    groups, group_of = np.unique(key, return_inverse=True)
    g_cell = groups // n_e
    g_elec = groups % n_e
    idx = np.stack(np.unravel_index(g_cell, grid.shape), axis=-1)
    centre = centres(grid, g_cell)
    psi_c = np.empty(len(groups))
    regular = np.zeros(len(groups))
    for e_index, electrode in enumerate(electrodes):
        sel = g_elec == e_index
        if not sel.any():
            continue
        a = electrode.radius_m

        def psi(p, el=electrode, a=a):
            d = np.maximum(cylinder_sdf(p, el.start_m, el.end_m, el.radius_m), 0)
            return np.log((a + d) / a)

        psi_c[sel] = psi(centre[sel])
        for axis in range(3):
            for sign in (-1, 1):
                weight = _face_weight(g, axis, idx[sel], sign)
                step = np.zeros(3)
                step[axis] = sign * h
                regular[sel] += h * weight * (psi(centre[sel] + step) - psi_c[sel])
    link_sum = np.bincount(group_of, weights=g.link_weight, minlength=len(groups)) * psi_c
    regular_e = np.bincount(g_elec, weights=regular, minlength=n_e)
    link_e = np.bincount(g_elec, weights=link_sum, minlength=n_e)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(link_e > 0, regular_e / link_e, 1.0)
    alpha = np.clip(np.nan_to_num(alpha, nan=1.0), ALPHA_MIN, ALPHA_MAX)
    return alpha[g_elec][group_of]


def _cross_section_calibration(geometry, electrode, e_index):
    """Numerical well index of a grid-aligned electrode: one factor for all its links.

    In the voxel layer through the electrode's middle, solve the discrete operator (sigma = 1)
    for the exact infinite-cylinder potential ``psi = ln(r / a)`` imposed on a ring of cells at
    ``CALIBRATION_RADIUS`` spacings from the surface, the electrode at 0 and its links scaled by
    ``alpha``. The exact current into the electrode is ``2 pi`` per unit length; ``alpha`` is
    chosen so the discrete current matches it (the links are in series with the rest of the
    discrete medium, so ``1/F`` is affine in ``1/alpha``: two solves and one check suffice).
    This removes the discretisation error of the whole near field, not only of the cut cells.
    Returns None when the electrode is not parallel to a grid axis or the layer is unusable.
    """
    g = geometry
    grid = g.grid
    h = grid.spacing_m
    a = electrode.radius_m
    start = np.asarray(electrode.start_m, dtype=float)
    end = np.asarray(electrode.end_m, dtype=float)
    u = (end - start) / np.linalg.norm(end - start)
    axis = int(np.argmax(np.abs(u)))
    if abs(abs(u[axis]) - 1) > 1e-9:
        return None
    mid = (start + end) / 2
    layer = int(round((mid[axis] - grid.origin_m[axis]) / h))
    if not 0 <= layer < grid.shape[axis]:
        return None
    sel = (g.link_electrode == e_index) & (g.link_axis != axis)
    cell_idx = np.stack(np.unravel_index(g.link_cell[sel], grid.shape), axis=-1)
    in_layer = cell_idx[:, axis] == layer
    if not in_layer.any():
        return None
    link_cells = g.link_cell[sel][in_layer]
    link_g = g.link_weight[sel][in_layer]
    plane = [ax for ax in range(3) if ax != axis]
    reach = a + (CALIBRATION_RADIUS + 2) * h
    ranges = []
    for ax in plane:
        x = grid.axis_m(ax)
        ranges.append(np.flatnonzero(np.abs(x - mid[ax]) <= reach))
    ii, jj = np.meshgrid(ranges[0], ranges[1], indexing="ij")
    idx = np.zeros((ii.size, 3), dtype=np.int64)
    idx[:, plane[0]] = ii.ravel()
    idx[:, plane[1]] = jj.ravel()
    idx[:, axis] = layer
    flat = np.ravel_multi_index(idx.T, grid.shape)
    centre = centres(grid, flat)
    centre[:, axis] = mid[axis]
    d = cylinder_sdf(centre, start - 10 * reach * u, end + 10 * reach * u, a)  # infinite
    psi = np.log((a + np.maximum(d, 0)) / a)
    unknown = (d > 0) & (d < CALIBRATION_RADIUS * h) & g.active[flat]
    number = np.full(grid.size, -1, dtype=np.int64)
    number[flat[unknown]] = np.arange(int(unknown.sum()))
    value = np.zeros(grid.size)
    value[flat] = psi
    known = np.zeros(grid.size, dtype=bool)
    known[flat[~unknown & (d > 0)]] = True
    n = int(unknown.sum())
    rows, cols, vals = [], [], []
    diag_faces = np.zeros(n)
    rhs = np.zeros(n)
    for ax in plane:
        for sign in (-1, 1):
            weight = h * _face_weight(g, ax, idx[unknown], sign)
            nb = idx[unknown].copy()
            nb[:, ax] += sign
            me = np.flatnonzero(weight > 0)
            nflat = np.ravel_multi_index(nb[me].T, grid.shape)
            w = weight[me]
            diag_faces[me] += w
            inner = number[nflat] >= 0
            rows.append(me[inner])
            cols.append(number[nflat[inner]])
            vals.append(-w[inner])
            outer = ~inner
            rhs[me[outer]] += w[outer] * np.where(known[nflat[outer]], value[nflat[outer]], 0.0)
    link_rows = number[link_cells]
    if np.any(link_rows < 0):
        return None
    link_diag = np.bincount(link_rows, weights=link_g, minlength=n)
    off = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                        shape=(n, n))

    def flux(alpha: float) -> float:
        diag = diag_faces + alpha * link_diag
        diag[diag == 0] = 1.0  # a cell with every face closed (wedged against a shaft) and no
        # link is decoupled from the rest: a unit row keeps the matrix regular, phi = 0 there
        m = off + sp.diags(diag)
        with warnings.catch_warnings():
            warnings.simplefilter("error", MatrixRankWarning)
            try:
                phi = spsolve(m.tocsc(), rhs)
            except MatrixRankWarning:  # an isolated group of cells: no calibration
                return float("nan")
        return float(alpha * np.sum(link_g * phi[link_rows]))

    target = 2 * np.pi * h
    f1, f2 = flux(1.0), flux(2.0)
    if not (f1 > 0 and f2 > f1):
        return None
    r_in = 2 * (1 / f1 - 1 / f2)
    r_out = 1 / f1 - r_in
    if 1 / target - r_out <= 0:
        return None
    alpha = r_in / (1 / target - r_out)
    for _ in range(3):  # refine: secant on 1/F against 1/alpha
        f = flux(alpha)
        if not np.isfinite(f):
            return None
        if abs(f / target - 1) < 1e-4:
            break
        alpha *= (1 / f - r_out) / (1 / target - r_out) if 1 / f > r_out else 1.0
    return float(np.clip(alpha, ALPHA_MIN, ALPHA_MAX))



SIDE_WINDOW = (5.0, 3.5)
"""Side calibration of an oblique electrode: window half-length and the half-width of its
cos^2 weight along the axis (spacings)."""

END_WINDOW_RADIUS = 4
"""End correction window: cells within this many spacings of the needle's surface ..."""
END_WINDOW_DEPTH = 4
"""... and within this many spacings of the end plane along the axis (both sides)."""
END_ZONE = (0.5, 2.0)
"""Links of cells within the first distance (spacings) of the end plane get the full end
factor, tapering linearly to none at the second (so the correction moves smoothly with the
needle)."""
END_TAPER = (1.5, 3.0)
"""Oblique electrodes: the end window's links count fully up to the first depth (spacings
behind the end) and with a cos^2 taper to none at the second."""


class _Window:
    """The discrete operator (sigma = 1) on the active cells within ``radius`` of an
    electrode's axis and axial positions ``zeta`` in ``[zeta_lo, zeta_hi]`` from ``point``
    (along ``u``), with ``data(rho, zeta)`` imposed on the active cells around the window and
    the electrode at potential ``v_e``. ``links`` are the indices of the window's links (all to
    this electrode) and ``link_zeta`` their axial positions (mean ray hit points)."""

    @classmethod
    def build(cls, g, e_index, point, u, radius, zeta_lo, zeta_hi, data, v_e):
        grid = g.grid
        h = grid.spacing_m
        shape = np.array(grid.shape)
        ends = np.stack([point + zeta_lo * u, point + zeta_hi * u])
        lateral = radius * np.sqrt(np.maximum(1 - u * u, 0)) + 1.01 * h
        lo = ends.min(axis=0) - lateral
        hi = ends.max(axis=0) + lateral
        ranges = []
        for ax in range(3):
            x = grid.axis_m(ax)
            sel = np.flatnonzero((x >= lo[ax]) & (x <= hi[ax]))
            if len(sel) == 0 or sel[0] == 0 or sel[-1] == shape[ax] - 1:
                return None  # the window would touch the grid's wall
            ranges.append(sel)
        ii, jj, kk = np.meshgrid(*ranges, indexing="ij")
        idx = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=-1)
        flat = np.ravel_multi_index(idx.T, grid.shape)
        rel = centres(grid, flat) - point
        zeta = rel @ u
        rho = np.linalg.norm(rel - zeta[:, None] * u, axis=-1)
        active = g.active[flat]
        window = active & (rho <= radius) & (zeta >= zeta_lo - 1e-9 * h) & (
            zeta <= zeta_hi + 1e-9 * h)
        n = int(window.sum())
        if n == 0:
            return None
        number = np.full(grid.size, -1, dtype=np.int64)
        number[flat[window]] = np.arange(n)
        value = np.zeros(grid.size)
        value[flat] = data(rho, zeta)
        known = np.zeros(grid.size, dtype=bool)
        known[flat[active & ~window]] = True
        diag = np.zeros(n)
        rhs = np.zeros(n)
        rows, cols, vals = [], [], []
        widx = idx[window]
        for ax in range(3):
            for sign in (-1, 1):
                weight = h * _face_weight(g, ax, widx, sign)
                me = np.flatnonzero(weight > 0)
                nb = widx[me].copy()
                nb[:, ax] += sign
                nflat = np.ravel_multi_index(nb.T, grid.shape)
                w = weight[me]
                inner = number[nflat] >= 0
                if not np.all(inner | known[nflat]):
                    return None
                diag[me] += w
                rows.append(me[inner])
                cols.append(number[nflat[inner]])
                vals.append(-w[inner])
                rhs[me[~inner]] += w[~inner] * value[nflat[~inner]]
        in_window = number[g.link_cell] >= 0
        if np.any(in_window & (g.link_electrode != e_index)):
            return None  # another electrode inside the window: not the reference's geometry
        self = cls()
        self.links = np.flatnonzero(in_window)
        self.rows = number[g.link_cell[self.links]]
        self.base = g.link_weight[self.links]
        self.link_zeta = (g.link_point[self.links] - point) @ u
        self.cell_zeta = (centres(grid, g.link_cell[self.links]) - point) @ u
        self.deepest = float(zeta[window].min())
        self.off = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                         np.concatenate(cols))), shape=(n, n))
        self.diag, self.rhs, self.n, self.v_e = diag, rhs, n, v_e
        return self

    def currents(self, fixed: np.ndarray, varying: np.ndarray):
        """A function of ``f``: the current into the electrode through each window link when
        the links' conductances are their uncorrected ones times ``fixed + f varying``.

        The operator at ``f = 1`` is factorised once; other values of ``f`` change only the
        diagonal of the rows of the varying links, a low-rank update solved through the
        Sherman-Morrison-Woodbury identity on those rows (a few dozen), so that the root finder
        costs no further factorisations.
        """
        n, v_e = self.n, self.v_e
        fixed, varying = self.base * fixed, self.base * varying
        w1 = fixed + varying
        d = self.diag + np.bincount(self.rows, weights=w1, minlength=n)
        b = self.rhs + v_e * np.bincount(self.rows, weights=w1, minlength=n)
        d[d == 0] = 1.0
        lu = splu((self.off + sp.diags(d)).tocsc())
        y1 = lu.solve(b)
        change = np.bincount(self.rows, weights=varying, minlength=n)
        k_rows = np.flatnonzero(change != 0)
        if len(k_rows) == 0:
            return lambda f: w1 * (y1[self.rows] - v_e)
        unit = np.zeros((n, len(k_rows)))
        unit[k_rows, np.arange(len(k_rows))] = 1.0
        z = lu.solve(unit)
        z_k, z_links = z[k_rows], z[self.rows]
        y1_k, y1_links = y1[k_rows], y1[self.rows]
        v_k = change[k_rows]

        def currents(f: float) -> np.ndarray:
            delta = (f - 1.0) * v_k
            y_k = y1_k + z_k @ (delta * v_e)
            y_links = y1_links + z_links @ (delta * v_e)
            coupling = np.eye(len(k_rows)) + delta[:, None] * z_k
            phi_links = y_links - z_links @ np.linalg.solve(coupling, delta * y_k)
            return (fixed + f * varying) * (phi_links - v_e)

        return currents


def _solve_factor(measure, target: float) -> float | None:
    """The factor f with ``measure(f) == target`` (increasing in f): secant steps from 1, 2."""
    b0, b1 = 1.0, 2.0
    f0, f1 = measure(b0) - target, measure(b1) - target
    if not (np.isfinite(f0) and np.isfinite(f1)):
        return None
    for _ in range(10):
        if f1 == f0 or abs(f1) < 1e-7 * abs(target):
            break
        b2 = float(np.clip(b1 - f1 * (b1 - b0) / (f1 - f0), ALPHA_MIN, ALPHA_MAX))
        b0, f0 = b1, f1
        b1, f1 = b2, measure(b2) - target
    return float(np.clip(b1, ALPHA_MIN, ALPHA_MAX))


def _side_window_calibration(g, electrode, e_index):
    """Well index of an electrode that is not parallel to a grid axis.

    As the cross-section calibration, with a 3-D window around the electrode's middle: the exact
    infinite-cylinder potential ``ln(r / a)`` (electrode at 0) is imposed around the window, and the
    links' currents, weighted by ``cos^2`` of their axial position (zero at the window's ends,
    where its cut through the needle is ragged), must add up to the exact ``2 pi`` per unit
    length times the weight's integral.
    """
    h = g.grid.spacing_m
    a = electrode.radius_m
    start = np.asarray(electrode.start_m, dtype=float)
    end = np.asarray(electrode.end_m, dtype=float)
    length = float(np.linalg.norm(end - start))
    half, width = SIDE_WINDOW
    if length < 2 * (half + 1) * h:
        return None
    u = (end - start) / length
    window = _Window.build(g, e_index, (start + end) / 2, u, a + CALIBRATION_RADIUS * h,
                           -half * h, half * h,
                           lambda rho, zeta: np.log(np.maximum(rho, a) / a), 0.0)
    if window is None:
        return None
    omega = np.cos(np.pi * np.clip(window.link_zeta / (2 * width * h), -0.5, 0.5)) ** 2
    currents = window.currents(np.zeros(len(window.links)), np.ones(len(window.links)))
    return _solve_factor(lambda f: float(np.sum(omega * currents(f))), 2 * np.pi * width * h)


def _end_kind(electrode, which: int, electrodes, insulators, tol: float):
    """The kind of the electrode's ``start`` (which=0) or ``end`` (1): a tip, a junction with
    a collinear insulator of the same radius, or None (another electrode adjoins)."""
    from irelab.field.axisymmetric import EndKind

    point = np.asarray(electrode.end_m if which else electrode.start_m, dtype=float)
    others = [(s, EndKind.JUNCTION) for s in insulators] + [(e, None) for e in electrodes
                                                            if e is not electrode]
    for other, kind in others:
        for q in (other.start_m, other.end_m):
            if np.linalg.norm(np.asarray(q, float) - point) < tol:
                if kind is not None and abs(other.radius_m - electrode.radius_m) > tol:
                    return None
                return kind
    return EndKind.TIP


def _end_correction(g, electrode, point, outward, aligned, reference, side: float):
    """The factor ``beta`` of the links near one end of electrode 0 of the local cut cells
    ``g``, or None where the window does not fit.

    The discrete operator (sigma = 1, the links scaled by the side factor ``side``) is solved
    in a window of cells around the end, with the reference potential of
    :func:`irelab.field.axisymmetric.end_solution` imposed on the cells around the window and
    the electrode at 1. The links of cells within ``END_ZONE`` spacings of the end plane are
    scaled by ``beta`` (tapered) so that the discrete current into the electrode equals the
    reference current over the same stretch of electrode: for an electrode parallel to a grid
    axis the window is whole voxel layers and the stretch ends at the deepest layer's face;
    otherwise the links are weighted by their axial position (``END_TAPER``) and so is the
    reference current.
    """
    h = g.grid.spacing_m
    a = electrode.radius_m
    depth = END_WINDOW_DEPTH * h
    window = _Window.build(g, 0, point, outward, a + END_WINDOW_RADIUS * h, -depth, depth,
                           lambda rho, zeta: reference.potential(rho / a, zeta / a), 1.0)
    if window is None:
        return None
    taper = np.clip((END_ZONE[1] - np.abs(window.cell_zeta) / h)
                    / (END_ZONE[1] - END_ZONE[0]), 0.0, 1.0)
    if not np.any(taper > 0):
        return None
    if aligned:
        omega = np.ones(len(window.links))
        deepest = window.deepest - 0.5 * h  # the lower face of the deepest layer
        target = a * reference.current_beyond(deepest / a)
    else:
        d1, d2 = END_TAPER[0] * h, END_TAPER[1] * h
        omega = _taper(window.link_zeta, d1, d2)
        z, cumulative = reference.current_profile()
        mid = (z[:-1] + z[1:]) * a / 2
        target = a * (float(cumulative[-1]) + float(np.sum(
            _taper(mid, d1, d2) * (cumulative[:-1] - cumulative[1:]))))
    currents = window.currents(side * (1.0 - taper), side * taper)
    return _solve_factor(lambda f: -float(np.sum(omega * currents(f))), target)


def _taper(zeta: np.ndarray, d1: float, d2: float) -> np.ndarray:
    """1 for zeta >= -d1, cos^2 down to 0 at -d2, 0 beyond."""
    t = np.clip((-zeta - d1) / (d2 - d1), 0.0, 1.0)
    return np.cos(np.pi * t / 2) ** 2
