"""A synthetic abdomen-like CT with its segmentations, generated on the fly (nothing is stored).

The anatomy is analytic, in patient LPS mm (x to the patient's left, y posterior, z superior):
an elliptic trunk (220 x 170 mm) with subcutaneous fat, a muscle wall and visceral fat; the liver
in the right upper quadrant with a 22 mm metastasis in its anterior right lobe, a portal vein
branch 8 mm from the tumour's surface, a hepatic vein, the inferior vena cava, a bile duct, the
aorta, a vertebral body, the right kidney behind the liver, the hepatic flexure of the colon
(gas-filled) below it, and four pairs of ribs in the lateral and posterior wall (horizontal
bands, 10 mm thick, 10 mm intercostal spaces). So an anterior approach to the tumour is clear,
a right lateral one crosses ribs, a posterior one the kidney and a caudal one the colon.

The same anatomy is sampled on an axial lattice (1 mm in-plane, 2.5 mm slices) or an oblique
one (1 mm in-plane, 3 mm slices, tilted 12 degrees about the left-right axis and turned 15
degrees about the body axis), so the truth (the tumour's centre) is known in world coordinates
for both.

Hounsfield units: air -1000 and water 0 by definition; unenhanced ranges (second-hand, from
Prokop M, Galanski M, Spiral and Multislice Computed Tomography of the Body, Thieme 2003, as
tabulated at radclass.mudr.org): fat -50 to -100, blood and liver 45-65, kidney 20-40, bone
700-3000. The phantom shows a portal venous phase: liver 105, vessels 160, kidney 150 and a
hypoattenuating metastasis 60 HU are design values (within what contrast-enhanced scans show,
not measurements), chosen so every structure is visible on the screenshot; Gaussian noise of
10 HU (seeded) makes it look like a scan. It is a geometry phantom for tests and the demo, not
a model of attenuation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from irelab.imaging.geometry import ImageGeometry

__all__ = ["PhantomAnatomy", "PHANTOM_TUMOUR_CENTRE_MM", "PHANTOM_TUMOUR_RADIUS_MM",
           "phantom_geometry", "phantom_anatomy"]

PHANTOM_TUMOUR_CENTRE_MM = (-48.0, -28.0, -6.0)
PHANTOM_TUMOUR_RADIUS_MM = 11.0
NOISE_HU = 10.0
"""Standard deviation of the added Gaussian noise (design value; see the module doc)."""
SEED = 20260101
"""Fixed seed: the same phantom on every run."""

TRUNK_MM = (110.0, 85.0)
"""Semi-axes of the trunk (x, y): a slim adult abdomen, kept small for test speed."""
FAT_MM, MUSCLE_MM = 12.0, 8.0
"""Subcutaneous fat and muscle wall thickness (design values)."""

Points = tuple[np.ndarray, np.ndarray, np.ndarray]


def _elliptic(x, y, inset_mm: float) -> np.ndarray:
    a, b = TRUNK_MM[0] - inset_mm, TRUNK_MM[1] - inset_mm
    return (x / a) ** 2 + (y / b) ** 2


def _ellipsoid(centre, semi) -> Callable[[Points], np.ndarray]:
    def inside(p: Points) -> np.ndarray:
        return sum(((q - c) / s) ** 2 for q, c, s in zip(p, centre, semi, strict=True)) <= 1
    return inside


def _tube(start, end, radius) -> Callable[[Points], np.ndarray]:
    a, b = np.asarray(start, float), np.asarray(end, float)
    d = b - a
    length2 = float(d @ d)

    def inside(p: Points) -> np.ndarray:
        r = [q - c for q, c in zip(p, a, strict=True)]
        s = np.clip((r[0] * d[0] + r[1] * d[1] + r[2] * d[2]) / length2, 0, 1)
        dist2 = sum((r[i] - s * d[i]) ** 2 for i in range(3))
        return dist2 <= radius * radius
    return inside


def _ribs(p: Points) -> np.ndarray:
    """Four pairs of horizontal rib bands (radius 5 mm) 16 mm inside the skin, from beside the
    spine round to the anterolateral wall (polar angle 95-215 degrees on the right)."""
    x, y, z = p
    inset = FAT_MM + 4.0
    a, b = TRUNK_MM[0] - inset, TRUNK_MM[1] - inset
    rho = np.sqrt((x / a) ** 2 + (y / b) ** 2)
    t = np.arctan2(y / b, x / a)
    local = np.hypot(a * np.cos(t), b * np.sin(t))
    radial = (rho - 1.0) * local
    angle = np.degrees(np.arctan2(y, x)) % 360.0
    right = (angle >= 95) & (angle <= 215)
    left = (angle >= 325) | (angle <= 85)
    out = np.zeros(np.broadcast(x, y, z).shape, dtype=bool)
    for z0 in (45.0, 25.0, 5.0, -15.0):
        out |= (radial ** 2 + (z - z0) ** 2 <= 25.0) & (right | left)
    return out


def _colon_gas(p: Points) -> np.ndarray:
    return _tube((-75, -35, -40), (5, -45, -40), 8.0)(p)


@dataclass(frozen=True)
class PhantomStructure:
    """One segmented structure: its name per writer style, term key and HU."""

    key: str
    names: dict
    hu: float
    inside: Callable[[Points], np.ndarray]


@dataclass(frozen=True, eq=False)
class PhantomAnatomy:
    """The phantom sampled on one lattice: HU and each structure's mask (``[i, j, k]``)."""

    geometry: ImageGeometry
    hu: np.ndarray
    masks: dict[str, np.ndarray]
    structures: tuple[PhantomStructure, ...]
    oblique: bool


def _names(seg, rt, slicer, ts) -> dict:
    return {"dicom-seg": seg, "rtstruct": rt, "slicer": slicer, "totalseg": ts}


def _structures() -> tuple[PhantomStructure, ...]:
    return (
        PhantomStructure("body", _names("Body", "BODY", "body", "body_trunc"), -90.0,
                         lambda p: _elliptic(p[0], p[1], 0.0) <= 1),
        PhantomStructure("bone", _names("Vertebra", "SPINE", "vertebra", "vertebrae_L1"), 450.0,
                         _tube((0, 58, -200), (0, 58, 200), 17.0)),
        PhantomStructure("kidney", _names("Right kidney", "KIDNEY_R", "right kidney",
                                          "kidney_right"), 150.0,
                         _ellipsoid((-62, 50, -38), (24, 15, 38))),
        PhantomStructure("bowel", _names("Colon", "BOWEL", "colon", "colon"), 40.0,
                         _tube((-75, -35, -40), (5, -45, -40), 13.0)),
        PhantomStructure("liver", _names("Liver", "LIVER", "liver", "liver"), 105.0,
                         lambda p: _ellipsoid((-42, -5, 5), (52, 58, 55))(p)
                         & (_elliptic(p[0], p[1], FAT_MM + MUSCLE_MM) <= 1)),
        PhantomStructure("ivc", _names("Inferior vena cava", "IVC", "inferior vena cava",
                                       "inferior_vena_cava"), 160.0,
                         _tube((-20, 30, -200), (-20, 30, 200), 11.0)),
        PhantomStructure("aorta", _names("Aorta", "AORTA", "aorta", "aorta"), 170.0,
                         _tube((8, 36, -200), (8, 36, 200), 10.0)),
        PhantomStructure("portal_vein", _names("Portal vein", "PORTAL_VEIN", "portal vein",
                                               "portal_vein_and_splenic_vein"), 160.0,
                         _tube((0, -5.3, -12), (-90, -5.3, -12), 4.5)),
        PhantomStructure("hepatic_vein", _names("Hepatic vein", "HEPATIC_VEIN", "hepatic vein",
                                                "liver_vessels"), 160.0,
                         _tube((-70, 5, 50), (-20, 30, 42), 4.0)),
        PhantomStructure("bile_duct", _names("Bile duct", "CBD", "bile duct", "bile_duct"), 10.0,
                         _tube((-15, -12, 8), (-62, -12, 26), 2.0)),
        PhantomStructure("tumour", _names("Liver metastasis", "GTV", "tumor", "liver_tumor"),
                         60.0, _ellipsoid(PHANTOM_TUMOUR_CENTRE_MM,
                                          (PHANTOM_TUMOUR_RADIUS_MM,) * 3)),
        PhantomStructure("rib", _names("Ribs", "RIBS", "ribs", "rib"), 700.0, _ribs),
    )


def phantom_geometry(oblique: bool = False) -> ImageGeometry:
    """The axial (1 x 1 x 2.5 mm) or oblique (1 x 1 x 3 mm, tilted) lattice, centred on the
    trunk."""
    if oblique:
        tilt, turn = np.radians(12.0), np.radians(15.0)
        rx = np.array([[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)],
                       [0, np.sin(tilt), np.cos(tilt)]])
        rz = np.array([[np.cos(turn), -np.sin(turn), 0], [np.sin(turn), np.cos(turn), 0],
                       [0, 0, 1]])
        direction = rz @ rx
        shape, spacing = (256, 216, 34), (1.0, 1.0, 3.0)
    else:
        direction = np.eye(3)
        shape, spacing = (240, 190, 40), (1.0, 1.0, 2.5)
    half = direction @ (np.asarray(spacing) * (np.asarray(shape) - 1) / 2)
    return ImageGeometry(shape, spacing, tuple(float(v) for v in -half),
                         tuple(float(v) for v in direction.ravel()))


def phantom_anatomy(oblique: bool = False) -> PhantomAnatomy:
    """The phantom on its axial or oblique lattice (about 2 M voxels; under a second)."""
    geometry = phantom_geometry(oblique)
    idx = np.indices(geometry.shape, dtype=np.float32).reshape(3, -1).T
    world = geometry.to_world(idx).astype(np.float32)
    p = tuple(world[:, a].reshape(geometry.shape) for a in range(3))
    structures = _structures()
    masks = {s.key: np.ascontiguousarray(s.inside(p)) for s in structures}
    body = masks["body"]
    for key in ("bone", "kidney", "bowel", "liver", "ivc", "aorta", "rib"):
        masks[key] &= body
    hu = np.full(geometry.shape, -1000.0, dtype=np.float32)
    hu[body] = 30.0  # skin
    hu[_elliptic(p[0], p[1], 2.0) <= 1] = -100.0  # subcutaneous fat
    hu[_elliptic(p[0], p[1], FAT_MM) <= 1] = 50.0  # muscle wall
    hu[_elliptic(p[0], p[1], FAT_MM + MUSCLE_MM) <= 1] = -90.0  # visceral fat
    for s in structures[1:]:
        hu[masks[s.key]] = s.hu
    hu[_colon_gas(p) & masks["bowel"]] = -800.0
    rng = np.random.default_rng(SEED + int(oblique))
    hu += rng.normal(0.0, NOISE_HU, size=hu.shape).astype(np.float32)
    return PhantomAnatomy(geometry, hu, masks, structures, oblique)
