"""The planning test set: liver phantoms generated from one parameterised description.

Each phantom (:class:`PhantomSpec`) is a block of liver holding one tumour (a sphere, a
spheroid or a lobulated shape, 10-50 mm across), central or sub-capsular (the liver's surface
within 5 mm of the tumour), and the structures beside it: portal or hepatic vein branches of
5-12 mm, bile ducts, or two vessels with the tumour between them. :data:`PLANNING_SET` lists them;
:func:`case_mapping` turns one into a case mapping (anatomy only: the planner adds probes and
protocol); ``examples/planning-set/`` holds them as case files (:func:`write_planning_set`), and
a test checks that the files equal the description.

Geometry, all in the case frame (x patient left, y posterior, z caudal; probes along +z):

* a spheroid is the union of spheres centred on its long axis whose envelope is the spheroid:
  the sphere centred at ``c`` on the axis of a prolate spheroid with semi-axes ``a > b`` that
  touches it has radius ``b sqrt(1 - c^2 / (a^2 - b^2))``, for ``|c| <= (a^2 - b^2) / a`` (the
  normal to the ellipse at ``x`` meets the axis at ``c = x (1 - b^2/a^2)``); spheres every
  ``SPHEROID_STEP_MM`` leave a scallop of at most ``step^2 / (8 b)`` (0.03 mm at b = 7.5 mm);
* a lobulated tumour is a core sphere with lobes (spheres of 45-60 % of the core's radius)
  bulging 30 % of the core's radius beyond it, in directions drawn from a seeded generator
  (:func:`numpy.random.default_rng`), so that the largest extent is the nominal size;
* the liver's surface (capsule) is the insulating face of the box at +x: the tissue beyond it
  (fat, air, other organs) conducts far less than liver (fat about 0.02-0.04 S/m against the
  liver's 0.067 S/m at low fields: Gabriel C, Report AL/OE-TR-1996-0037, 1996), so the face is
  modelled as insulating, and the margin ends there as the liver does;
* a vessel is a cylinder through the whole box, its wall ``gap_mm`` from the tumour's surface
  in the direction ``side`` (the farthest reach of the tumour's spheres that way; where the
  tumour bulges elsewhere it may come closer).

Vessel calibres: segmental portal vein branches 5-12 mm and hepatic vein tributaries 3-8 mm,
segmental bile ducts 2-4 mm (Couinaud's segmental anatomy; the design range of the test set).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

__all__ = ["Tumour", "Vessel", "PhantomSpec", "PLANNING_SET", "case_mapping",
           "write_planning_set"]

MARGIN_MM = 5.0
"""The margin the test set is planned with (the planner's default)."""

PAD_MM = 14.0
"""Liver around tumour + margin on every side but the capsule (design choice: room for the
lethal zone beyond the margin and for probes moved sideways, at a grid the benchmark affords)."""

SPHEROID_STEP_MM = 1.5
"""Spacing of the spheres that build a spheroid (see the module doc for the scallop)."""


@dataclass(frozen=True)
class Tumour:
    """``shape``: sphere, spheroid or lobulated; ``size_mm``: largest diameter; spheroid:
    ``width_mm`` (the other diameter) and ``axis`` (its long axis); lobulated: ``lobes`` and
    ``seed``."""

    shape: str
    size_mm: float
    width_mm: float | None = None
    axis: tuple[float, float, float] = (0.0, 0.0, 1.0)
    lobes: int = 0
    seed: int = 0

    @property
    def radius_mm(self) -> float:
        return self.size_mm / 2


@dataclass(frozen=True)
class Vessel:
    """A vessel (``tissue``: blood or bile) of ``diameter_mm`` running along ``along``, its
    wall ``gap_mm`` from the tumour's surface on the side ``side`` (both unit-ish vectors;
    ``along`` is made perpendicular to ``side``)."""

    tissue: str
    diameter_mm: float
    gap_mm: float
    side: tuple[float, float, float]
    along: tuple[float, float, float]
    label: str


@dataclass(frozen=True)
class PhantomSpec:
    name: str
    tumour: Tumour
    vessels: tuple[Vessel, ...] = ()
    capsule_gap_mm: float | None = None
    """Sub-capsular: the tumour's surface this far from the liver's surface (+x face)."""

    @property
    def description(self) -> str:
        t = self.tumour
        shape = {"sphere": lambda: f"a {t.size_mm:g} mm spherical tumour",
                 "spheroid": lambda: f"a {t.size_mm:g} x {t.width_mm:g} mm spheroidal tumour",
                 "lobulated": lambda: f"a {t.size_mm:g} mm lobulated tumour ({t.lobes} lobes)",
                 }[t.shape]()
        where = ("central" if self.capsule_gap_mm is None
                 else f"sub-capsular ({self.capsule_gap_mm:g} mm from the liver's surface)")
        beside = "; ".join(f"{v.label} ({v.diameter_mm:g} mm) {v.gap_mm:g} mm from it"
                           for v in self.vessels)
        return f"{shape}, {where}" + (f"; {beside}" if beside else "")


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def _r(values, digits: int = 2) -> list[float]:
    return [round(float(v), digits) + 0.0 for v in values]


def _sphere(t: Tumour) -> list[tuple[np.ndarray, float]]:
    return [(np.zeros(3), t.radius_mm)]


def _spheroid(t: Tumour) -> list[tuple[np.ndarray, float]]:
    a, b = t.size_mm / 2, t.width_mm / 2
    u = _unit(t.axis)
    reach = (a * a - b * b) / a
    n = max(2, math.ceil(2 * reach / SPHEROID_STEP_MM) + 1)
    return [(c * u, b * math.sqrt(max(1 - c * c / (a * a - b * b), 0.0)))
            for c in np.linspace(-reach, reach, n)]


def _lobulated(t: Tumour) -> list[tuple[np.ndarray, float]]:
    core = t.radius_mm / 1.3
    rng = np.random.default_rng(t.seed)
    out = [(np.zeros(3), core)]
    for _ in range(t.lobes):
        d = _unit(rng.normal(size=3))
        rho = core * rng.uniform(0.45, 0.6)
        out.append((d * (1.3 * core - rho), rho))
    return out


SHAPES: dict[str, Callable[[Tumour], list[tuple[np.ndarray, float]]]] = {
    "sphere": _sphere, "spheroid": _spheroid, "lobulated": _lobulated}
"""Sphere lists (centre relative to the tumour's centre, radius; mm) of each shape."""


def _support(spheres: list[tuple[np.ndarray, float]], direction) -> float:
    """How far the union of ``spheres`` reaches from the centre along ``direction`` (mm)."""
    u = _unit(direction)
    return max(float(c @ u) + r for c, r in spheres)


def case_mapping(spec: PhantomSpec) -> dict:
    """The case mapping of one phantom (anatomy only), tumour centred at the origin; vessels
    and the capsule are placed from the tumour's surface in their direction."""
    spheres = SHAPES[spec.tumour.shape](spec.tumour)
    axes = np.eye(3)
    lo = np.array([_support(spheres, -e) for e in axes]) + MARGIN_MM + PAD_MM
    hi = np.array([_support(spheres, e) for e in axes]) + MARGIN_MM + PAD_MM
    if spec.capsule_gap_mm is not None:  # +x face = liver surface
        hi[0] = _support(spheres, axes[0]) + spec.capsule_gap_mm
    size = np.ceil((lo + hi) / 2) * 2  # even whole millimetres: voxel centres on half-mm
    centre = (hi - lo) / 2
    regions = [{"tissue": "tumour", "sphere": {"center_mm": _r(c), "radius_mm": round(r, 2)}}
               for c, r in spheres]
    length = float(np.linalg.norm(size))
    for v in spec.vessels:
        side = _unit(v.side)
        along = _unit(np.asarray(v.along) - (np.asarray(v.along) @ side) * side)
        axis_point = side * (_support(spheres, side) + v.gap_mm + v.diameter_mm / 2)
        regions.append({"tissue": v.tissue, "cylinder": {
            "start_mm": _r(axis_point - length * along, 1),
            "end_mm": _r(axis_point + length * along, 1),
            "radius_mm": v.diameter_mm / 2}})
    return {"name": spec.name, "description": spec.description,
            "domain": {"size_mm": _r(size, 1), "spacing_mm": 1.0, "center_mm": _r(centre, 1)},
            "anatomy": {"background": "liver", "regions": regions}}


def _v(tissue, diameter, gap, side, along, label) -> Vessel:
    return Vessel(tissue, diameter, gap, side, along, label)


PLANNING_SET: tuple[PhantomSpec, ...] = (
    PhantomSpec("s10-central", Tumour("sphere", 10)),
    PhantomSpec("s15-subcapsular-duct", Tumour("sphere", 15), (
        _v("bile", 3, 2, (0, 1, 0), (1, 0, 0.3), "segmental bile duct"),), capsule_gap_mm=3),
    PhantomSpec("s20-hepatic-vein", Tumour("sphere", 20), (
        _v("blood", 6, 1, (0, -1, 0), (1, 0, 0.4), "hepatic vein tributary"),)),
    PhantomSpec("s25-between-vessels", Tumour("sphere", 25), (
        _v("blood", 8, 1.5, (1, 0, 0), (0, 1, 0.3), "portal vein branch"),
        _v("blood", 6, 1.5, (-1, 0, 0), (0, 1, -0.2), "hepatic vein tributary"))),
    PhantomSpec("s30-portal-vein", Tumour("sphere", 30), (
        _v("blood", 10, 1, (0, 1, 0), (1, 0, 0), "portal vein branch"),)),
    PhantomSpec("s40-central", Tumour("sphere", 40)),
    PhantomSpec("s50-central", Tumour("sphere", 50)),
    PhantomSpec("e25x15-bile-duct", Tumour("spheroid", 25, 15, axis=(1, 0, 0.5)), (
        _v("bile", 3, 2, (0, 1, 0), (1, 0, 0), "segmental bile duct"),)),
    PhantomSpec("e35x20-parallel-vein", Tumour("spheroid", 35, 20, axis=(0, 0, 1)), (
        _v("blood", 8, 1, (1, 0, 0), (0, 0, 1), "hepatic vein running with the probes"),)),
    PhantomSpec("e40x25-subcapsular", Tumour("spheroid", 40, 25, axis=(0, 1, 0.3)),
                capsule_gap_mm=4),
    PhantomSpec("l20-subcapsular", Tumour("lobulated", 20, lobes=3, seed=20),
                capsule_gap_mm=2),
    PhantomSpec("l30-duct-and-vein", Tumour("lobulated", 30, lobes=4, seed=30), (
        _v("bile", 4, 1, (0, 1, 0), (1, 0, 0.2), "segmental bile duct"),
        _v("blood", 6, 1, (0, -1, 0), (1, 0, -0.3), "hepatic vein tributary"))),
    PhantomSpec("l35-central", Tumour("lobulated", 35, lobes=4, seed=35)),
    PhantomSpec("l45-portal-vein", Tumour("lobulated", 45, lobes=3, seed=45), (
        _v("blood", 12, 1, (-1, 0, 0), (0, 1, 0.2), "portal vein branch"),)),
)
"""The test set: tumours 10-50 mm; spheres, spheroids and lobulated shapes; central and
sub-capsular; beside portal and hepatic veins of 6-12 mm, bile ducts, and between two vessels."""


def write_planning_set(directory: Path) -> list[Path]:
    """Write every phantom of :data:`PLANNING_SET` as ``NAME.yaml`` under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for spec in PLANNING_SET:
        path = directory / f"{spec.name}.yaml"
        path.write_text(yaml.safe_dump(case_mapping(spec), sort_keys=False, width=100,
                                       default_flow_style=None), encoding="utf-8")
        out.append(path)
    return out
