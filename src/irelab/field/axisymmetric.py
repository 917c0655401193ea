"""Reference solutions near the end of a needle electrode, computed on a graded (rho, z) mesh.

The end of an electrode - its free tip, or the junction with its insulated shaft - has a field
singularity that the voxel grid cannot resolve (at the rim of a flat tip the potential goes
like ``r^(2/3)``, at a Dirichlet/Neumann junction like ``r^(1/2)``). The end correction of
:mod:`irelab.field.calibration` needs the exact potential and the exact current near such an
end for one representative configuration: a needle of radius 1, length ``NEEDLE_LENGTH`` and
potential 1, centred on the axis of a grounded cylinder (radius ``DOMAIN_RADIUS``, ends
``DOMAIN_HALF_LENGTH`` beyond the needle), with its end of interest at ``z = 0`` and the
electrode at ``z < 0``. For a *junction* an insulating cylinder of the same radius continues the
needle from ``z = 0`` to the domain's end. Everything is in units of the needle radius: the
problem is scale free, so one solve serves every needle and spacing.

It is solved once per end type by a cell-centred finite-volume scheme in cylindrical
coordinates (face conductances ``2 pi rho dz / d rho`` and ``pi (rho_+^2 - rho_-^2) / dz``)
on a tensor mesh graded geometrically towards the electrode's surface and end, the standard
cure for corner singularities (Babuska I, Kellogg R B, Pitkaranta J. Direct and inverse error
estimates for finite elements with mesh refinement. Numer Math 33:447-471, 1979: geometric
grading towards a singular point restores full accuracy). The smallest cell is
``SMALLEST_CELL`` radii and cells grow by ``GROWTH`` per step. The error is second order in
the growth's excess over 1 (see :class:`EndReference`), so :func:`end_solution` extrapolates
from the meshes of growth ``GROWTH`` and ``(1 + GROWTH) / 2`` (Richardson); that agrees with the
extrapolation from growths 1.12 and 1.06 within 0.002 % (tests/field/test_field_ends.py).
Without it the reference current was 0.17 % low, and the end correction carried that bias
into every needle's current.

The electrode's far end (``NEEDLE_LENGTH`` away) is a tip of its own; it only matters through
the smooth far field.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cache

import numpy as np
import scipy.sparse as sp
from scipy.interpolate import RegularGridInterpolator
from scipy.sparse.linalg import spsolve

__all__: list[str] = []

NEEDLE_LENGTH = 60.0
"""Electrode length (radii) of the representative needle: 33 mm for a 1.1 mm needle, the
length class of clinical exposures (15-40 mm); long enough that its far end is outside every
calibration window."""
DOMAIN_RADIUS = 120.0
DOMAIN_HALF_LENGTH = 120.0
"""The grounded outer cylinder (radii), far enough that its effect near the end is smooth."""
SMALLEST_CELL = 2e-3
GROWTH = 1.16
"""Mesh grading of the finer of the two extrapolated meshes (design choice, see the module
docstring for the check)."""


ORDERING = "MMD_AT_PLUS_A"
"""SuperLU's column ordering for the symmetric 2-D system (faster than its default COLAMD)."""


class EndKind(Enum):
    """What continues the electrode beyond its end."""

    TIP = "tip"  # tissue: a free, flat-ended tip
    JUNCTION = "junction"  # an insulator of the same radius (shaft or bipolar gap)


def _graded(length: float, first: float, growth: float) -> np.ndarray:
    """Face positions from 0 to ``length``: cells ``first * growth**k``, the last one cut."""
    faces = [0.0]
    step = first
    while faces[-1] + step < length:
        faces.append(faces[-1] + step)
        step *= growth
    faces.append(length)
    return np.asarray(faces)


@dataclass(frozen=True, eq=False)
class EndSolution:
    """The reference solution near one end kind (units: needle radius, potential 1 on it).

    ``potential(rho, zeta)`` is the potential at radius ``rho`` and axial position ``zeta``
    beyond the end (negative: along the electrode). ``current_beyond(zeta)`` is the current
    (per unit conductivity) leaving the electrode through its surface at axial positions
    ``>= zeta`` (the end cap included).
    """

    kind: EndKind
    rho_centres: np.ndarray
    z_centres: np.ndarray
    values: np.ndarray
    cumulative_z: np.ndarray
    cumulative: np.ndarray

    def potential(self, rho: np.ndarray, zeta: np.ndarray) -> np.ndarray:
        interp = RegularGridInterpolator((self.rho_centres, self.z_centres), self.values,
                                         bounds_error=False, fill_value=None)
        return interp(np.stack([np.asarray(rho, float), np.asarray(zeta, float)], axis=-1))

    def current_beyond(self, zeta: float) -> float:
        return float(np.interp(zeta, self.cumulative_z, self.cumulative))


@dataclass(frozen=True, eq=False)
class EndReference:
    """Richardson extrapolation of two :class:`EndSolution` on meshes whose growth excess over 1
    differs by a factor of 2: the scheme converges at second order in it (successive differences
    of the current within 8 radii of a tip shrink 3.1 and 4.0 times over growths 1.24, 1.12,
    1.06, 1.03; the smallest cell, 1e-4 to 2e-3 radii, changes it by 1e-4)."""

    kind: EndKind
    coarse: EndSolution
    fine: EndSolution

    def potential(self, rho: np.ndarray, zeta: np.ndarray) -> np.ndarray:
        fine = self.fine.potential(rho, zeta)
        return fine + (fine - self.coarse.potential(rho, zeta)) / 3

    def current_beyond(self, zeta: float) -> float:
        fine = self.fine.current_beyond(zeta)
        return fine + (fine - self.coarse.current_beyond(zeta)) / 3

    def current_profile(self) -> tuple[np.ndarray, np.ndarray]:
        """Axial positions (the fine mesh's faces, up to the end) and the current beyond each."""
        z = self.fine.cumulative_z
        coarse = np.interp(z, self.coarse.cumulative_z, self.coarse.cumulative)
        return z, self.fine.cumulative + (self.fine.cumulative - coarse) / 3


@cache
def end_solution(kind: EndKind, smallest: float = SMALLEST_CELL,
                 growth: float = GROWTH) -> EndReference:
    """The extrapolated reference of ``kind`` from the meshes of growth ``growth`` and
    ``(1 + growth) / 2`` (cached: it does not depend on the problem being solved)."""
    return EndReference(kind, solve_end(kind, smallest, growth),
                        solve_end(kind, smallest, (1 + growth) / 2))


def solve_end(kind: EndKind, smallest: float, growth: float) -> EndSolution:
    """Solve the representative end problem of ``kind`` on one graded mesh."""
    inner = 1.0 - _graded(1.0, smallest, growth)[::-1]  # faces in [0, 1], fine towards 1
    inner = inner[inner < 1.0 - 0.5 * smallest]
    rho_f = np.concatenate([[0.0], inner[1:], 1.0 + _graded(DOMAIN_RADIUS - 1.0, smallest,
                                                            growth)])
    rho_f = np.unique(rho_f)
    beyond = _graded(DOMAIN_HALF_LENGTH, smallest, growth)
    # along the electrode: fine towards z = 0 and again towards the far tip at -L
    half = NEEDLE_LENGTH / 2
    near = _graded(half, smallest, growth)
    far = _graded(half, smallest * 10, growth)
    along = np.concatenate([-near, -(NEEDLE_LENGTH - far)])
    behind = -NEEDLE_LENGTH - _graded(DOMAIN_HALF_LENGTH, smallest * 10, growth)
    z_f = np.unique(np.concatenate([along, behind, beyond]))
    rho_c = (rho_f[:-1] + rho_f[1:]) / 2
    z_c = (z_f[:-1] + z_f[1:]) / 2
    nr, nz = len(rho_c), len(z_c)
    rr, zz = np.meshgrid(rho_c, z_c, indexing="ij")
    electrode = (rr < 1.0) & (zz < 0.0) & (zz > -NEEDLE_LENGTH)
    insulator = (rr < 1.0) & (zz > 0.0) if kind is EndKind.JUNCTION else np.zeros_like(
        electrode)
    tissue = ~electrode & ~insulator
    number = np.full((nr, nz), -1, dtype=np.int64)
    number[tissue] = np.arange(int(tissue.sum()))
    n = int(tissue.sum())
    diag = np.zeros(n)
    rhs = np.zeros(n)
    rows, cols, vals = [], [], []
    # per face: conductance from each side's centre to the face (series)
    dz = np.diff(z_f)
    # radial faces between (i, j) and (i + 1, j), plus the outer wall
    g_half_in = 2 * np.pi * rho_f[1:-1, None] * dz[None, :] / (rho_f[1:-1, None] - rr[:-1])
    g_half_out = 2 * np.pi * rho_f[1:-1, None] * dz[None, :] / (rr[1:] - rho_f[1:-1, None])
    _couple(number, electrode, (slice(0, -1), slice(None)), (slice(1, None), slice(None)),
            g_half_in, g_half_out, diag, rhs, rows, cols, vals)
    wall = 2 * np.pi * rho_f[-1] * dz / (rho_f[-1] - rho_c[-1])
    edge = number[-1] >= 0
    np.add.at(diag, number[-1][edge], wall[edge])  # grounded outer wall (u = 0)
    area = np.pi * (rho_f[1:] ** 2 - rho_f[:-1] ** 2)
    g_lo = area[:, None] / (z_f[None, 1:-1] - zz[:, :-1])
    g_hi = area[:, None] / (zz[:, 1:] - z_f[None, 1:-1])
    _couple(number, electrode, (slice(None), slice(0, -1)), (slice(None), slice(1, None)),
            g_lo, g_hi, diag, rhs, rows, cols, vals)
    for j, dist in ((0, z_c[0] - z_f[0]), (-1, z_f[-1] - z_c[-1])):  # grounded ends
        edge = number[:, j] >= 0
        np.add.at(diag, number[:, j][edge], area[edge] / dist)
    m = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n, n)) + sp.diags(diag)
    u = spsolve(m.tocsc(), rhs, permc_spec=ORDERING)
    values = np.where(electrode, 1.0, 0.0)
    values[tissue] = u[number[tissue]]
    if insulator.any():  # Neumann: the insulator's cells mirror the tissue just outside
        first_out = int(np.searchsorted(rho_c, 1.0))
        values[:first_out][insulator[:first_out]] = np.broadcast_to(
            values[first_out], values[:first_out].shape)[insulator[:first_out]]
    # current into the electrode through each face: lateral (rho = 1) and the end cap (z = 0)
    k = int(np.searchsorted(rho_f, 1.0))  # rho_f[k] == 1
    lateral = (2 * np.pi * dz / (rho_c[k] - 1.0)) * (1.0 - values[k])
    lateral = np.where(electrode[k - 1] & tissue[k], lateral, 0.0)
    j0 = int(np.searchsorted(z_f, 0.0))  # z_f[j0] == 0
    cap = 0.0
    if kind is EndKind.TIP:
        cap = float(np.sum((area[:k] / (z_c[j0] - 0.0)) * (1.0 - values[:k, j0])))
    # cumulative current beyond each face position along the electrode
    cum = np.concatenate([np.cumsum(lateral[::-1])[::-1], [0.0]])
    cumulative_z = z_f[: j0 + 1]
    cumulative = cum[: j0 + 1] + cap
    return EndSolution(kind=kind, rho_centres=rho_c, z_centres=z_c, values=values,
                       cumulative_z=cumulative_z, cumulative=cumulative)


def _couple(number, electrode, lo, hi, g_lo, g_hi, diag, rhs, rows, cols, vals) -> None:
    """Add the faces between cells ``lo`` and ``hi`` (index slices of the (rho, z) arrays)."""
    a, b = number[lo], number[hi]
    ea, eb = electrode[lo], electrode[hi]
    both = (a >= 0) & (b >= 0)
    g = 1.0 / (1.0 / g_lo + 1.0 / g_hi)
    rows += [a[both], b[both]]
    cols += [b[both], a[both]]
    vals += [-g[both], -g[both]]
    np.add.at(diag, a[both], g[both])
    np.add.at(diag, b[both], g[both])
    to_e = (a >= 0) & eb  # tissue below, electrode above: Dirichlet 1 at the face
    np.add.at(diag, a[to_e], g_lo[to_e])
    np.add.at(rhs, a[to_e], g_lo[to_e])
    from_e = ea & (b >= 0)
    np.add.at(diag, b[from_e], g_hi[from_e])
    np.add.at(rhs, b[from_e], g_hi[from_e])
