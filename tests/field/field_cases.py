"""Problems and analytic references shared by the field tests (a plain module, not conftest.py:
several test folders have a conftest and ``from conftest import`` would pick the wrong one).

Two parallel cylinders (radius a, centres (+-c, 0), voltage V, conductivity sigma) in an infinite
medium: the field equals that of two line sources +-I' at (-+b, 0), b = sqrt(c^2 - a^2),
I' = pi sigma V / arccosh(c/a) per metre, so |E| = V b / (arccosh(c/a) r1 r2) (Smythe, Static
and Dynamic Electricity, 3rd ed., Sec. 4.13, two parallel cylinders).

Our model box is finite with insulated walls. Its effect is removed with the method of images: a
Neumann wall mirrors every source with the same sign, so a rectangle [-X, X] x [-Y, Y] repeats the
pair at (m 2X + (-1)^m x0, n 2Y + (-1)^n y0). The images add a smooth potential near the needles;
the reference voltage for a current I' is the free-space voltage plus the image potential
difference between the electrodes (averaged over each surface with the free-space surface charge
as weight, first order in the small image field), and the reference |E| includes the image
field. ``truncation`` reports the size of this correction so the tests can quote it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import RegularGridInterpolator

from irelab.field import (
    Electrode,
    FieldProblem,
    Grid,
    Insulator,
    Material,
    SmoothStepConductivity,
)

MM = 1e-3
C_HALF = 7.5 * MM  # half the centre spacing: the example case's needles are 15 mm apart
RADIUS = 0.55 * MM  # 1.1 mm needle
SIGMA = 0.2  # S/m, any value: the linear checks scale with it
IMAGES = 25  # image cells in each direction; the sums change by < 1e-6 beyond this


def linear_tissue(sigma: float = SIGMA) -> SmoothStepConductivity:
    """sigma0 == sigma1: a linear medium (thresholds irrelevant)."""
    return SmoothStepConductivity(sigma, sigma, 1e4, 2e4)


LIVER = SmoothStepConductivity(0.067, 0.241, 362e2, 637e2)
"""Liver, Sel D et al. IEEE Trans Biomed Eng 52(5):816-827, 2005 (sigma0, sigma1, e_rev, e_irr)."""


def two_cylinder_problem(spacing_m: float, size_m: float = 0.12, layers: int = 2,
                         shift_m: tuple[float, float] = (0.0, 0.0), tissue=None,
                         c: float = C_HALF, third: bool = False) -> FieldProblem:
    """Needles A (x = -c) and B (x = +c) through the full height of a thin insulated box."""
    grid = Grid.centred((size_m, size_m, layers * spacing_m), spacing_m)
    labels = np.zeros(grid.shape, dtype=np.int8)
    zb, zt = grid.lower_m[2] - spacing_m, grid.upper_m[2] + spacing_m
    sx, sy = shift_m
    electrodes = [Electrode("A", (-c + sx, sy, zb), (-c + sx, sy, zt), RADIUS),
                  Electrode("B", (c + sx, sy, zb), (c + sx, sy, zt), RADIUS)]
    if third:
        electrodes.append(Electrode("F", (sx, 4 * MM + sy, zb), (sx, 4 * MM + sy, zt), RADIUS))
    return FieldProblem(grid, labels, (Material("tissue", tissue or linear_tissue()),),
                        tuple(electrodes))


def needle_problem(spacing_m: float, tissue=LIVER, size_m=(0.04, 0.04, 0.03)) -> FieldProblem:
    """Two 3-D needles with insulated shafts, 10 mm exposed, 10 mm apart, in one tissue."""
    grid = Grid.centred(size_m, spacing_m)
    labels = np.zeros(grid.shape, dtype=np.int8)
    top = grid.upper_m[2] + spacing_m
    electrodes, insulators = [], []
    for name, x0 in (("A", -5 * MM), ("B", 5 * MM)):
        electrodes.append(Electrode(name, (x0, 0.3 * MM, -5 * MM), (x0, 0.3 * MM, 5 * MM), RADIUS))
        insulators.append(Insulator(name + "-shaft", (x0, 0.3 * MM, 5 * MM),
                                    (x0, 0.3 * MM, top), RADIUS))
    return FieldProblem(grid, labels, (Material("tissue", tissue),), tuple(electrodes),
                        tuple(insulators))


@dataclass(frozen=True)
class TwoCylinderReference:
    """Exact two-cylinder solution in an insulated rectangle (images), for voltage ``V``."""

    half_x: float
    half_y: float
    voltage: float
    sigma: float = SIGMA
    a: float = RADIUS
    c: float = C_HALF

    @property
    def b(self) -> float:
        return float(np.sqrt(self.c**2 - self.a**2))

    def _images(self, x0: float):
        m = np.arange(-IMAGES, IMAGES + 1)
        xs = (2 * self.half_x * m + np.where(m % 2 == 0, x0, -x0))[:, None]
        ys = (2 * self.half_y * m + 0.0)[None, :] * np.ones_like(xs)
        xs = xs * np.ones_like(ys)
        far = ~((np.abs(xs - x0) < 1e-12) & (np.abs(ys) < 1e-12))
        return xs[far], ys[far]

    def _image_potential(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Image potential per unit I'/(2 pi sigma): sum ln r_(-) - ln r_(+) over images."""
        out = np.zeros_like(x)
        for x0, sign in ((-self.b, -1.0), (self.b, 1.0)):
            xs, ys = self._images(x0)
            r2 = (x[..., None] - xs) ** 2 + (y[..., None] - ys) ** 2
            out += sign * 0.5 * np.log(r2).sum(axis=-1)
        return out

    def _image_field(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ex = np.zeros_like(x)
        ey = np.zeros_like(x)
        for x0, sign in ((-self.b, 1.0), (self.b, -1.0)):
            xs, ys = self._images(x0)
            dx = x[..., None] - xs
            dy = y[..., None] - ys
            r2 = dx**2 + dy**2
            ex += sign * (dx / r2).sum(axis=-1)
            ey += sign * (dy / r2).sum(axis=-1)
        return ex, ey

    @property
    def _surface_weights(self):
        angle = np.linspace(0, 2 * np.pi, 721)[:-1]
        pts = []
        for xc in (-self.c, self.c):
            x = xc + self.a * np.cos(angle)
            y = self.a * np.sin(angle)
            w = 1.0 / (np.hypot(x + self.b, y) * np.hypot(x - self.b, y))  # free |E| on surface
            pts.append((x, y, w / w.sum()))
        return pts

    @property
    def current_per_m(self) -> float:
        """I' such that the voltage between the cylinders in the box is ``voltage``."""
        k = 1.0 / (2 * np.pi * self.sigma)  # potential per unit I' of a line source: -k ln r
        v_free = 2 * k * np.arccosh(self.c / self.a)
        (xa, ya, wa), (xb, yb, wb) = self._surface_weights
        dv = k * (np.sum(wa * self._image_potential(xa, ya))
                  - np.sum(wb * self._image_potential(xb, yb)))
        return self.voltage / (v_free + dv)

    @property
    def free_current_per_m(self) -> float:
        return np.pi * self.sigma * self.voltage / np.arccosh(self.c / self.a)

    def e_magnitude(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """|E| (V/m) including the images (image field interpolated from a 2 mm table)."""
        ip = self.current_per_m
        k = ip / (2 * np.pi * self.sigma)
        ex = k * ((x + self.b) / ((x + self.b) ** 2 + y**2) - (x - self.b) / ((x - self.b) ** 2
                                                                           + y**2))
        ey = k * (y / ((x + self.b) ** 2 + y**2) - y / ((x - self.b) ** 2 + y**2))
        gx = np.linspace(-self.half_x, self.half_x, 61)  # the image field is smooth (scale:
        gy = np.linspace(-self.half_y, self.half_y, 61)  # the box), 2 mm table suffices
        tx, ty = self._image_field(*np.meshgrid(gx, gy, indexing="ij"))
        ix = RegularGridInterpolator((gx, gy), tx)
        iy = RegularGridInterpolator((gx, gy), ty)
        pts = np.stack([np.clip(x, -self.half_x, self.half_x),
                        np.clip(y, -self.half_y, self.half_y)], axis=-1)
        ex = ex + k * ix(pts)
        ey = ey + k * iy(pts)
        return np.hypot(ex, ey)

    def area_above(self, levels, step: float = 0.05 * MM) -> np.ndarray:
        """Area (m^2) of {|E| > level} outside the cylinders, on a ``step`` sampling grid."""
        x = np.arange(-self.half_x + step / 2, self.half_x, step)
        y = np.arange(0, self.half_y, step) + step / 2  # symmetric in y: sample the upper half
        xx, yy = np.meshgrid(x, y, indexing="ij")
        e = self.e_magnitude(xx, yy)
        outside = (np.hypot(xx + self.c, yy) > self.a) & (np.hypot(xx - self.c, yy) > self.a)
        return np.array([2 * np.sum(outside & (e > lv)) * step**2 for lv in levels])


def convergence_problem(spacing_m: float, sigma: float = 0.2) -> FieldProblem:
    """The convergence-order problem (the ``convergence`` scene of benchmarks/field_vs_fem.py):
    a 24 x 20 x 24 mm box of a linear medium, two 1.1 mm needles at x = -4 and +4 mm with 8 mm
    exposed (z = -4 to 4 mm) and insulated shafts through the top face. All its features lie
    on voxel faces at 1, 0.5 and 0.25 mm, so the three grids see the same sub-voxel geometry."""
    grid = Grid.centred((0.024, 0.020, 0.024), spacing_m)
    top = grid.upper_m[2] + 5 * MM
    electrodes, insulators = [], []
    for name, x0 in (("A", -4 * MM), ("B", 4 * MM)):
        electrodes.append(Electrode(name, (x0, 0.0, -4 * MM), (x0, 0.0, 4 * MM), RADIUS))
        insulators.append(Insulator(f"{name}:shaft", (x0, 0.0, 4 * MM), (x0, 0.0, top),
                                    RADIUS))
    return FieldProblem(grid, np.zeros(grid.shape, dtype=np.int8),
                        (Material("tissue", linear_tissue(sigma)),), tuple(electrodes),
                        tuple(insulators))
