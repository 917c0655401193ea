"""Anatomy on the voxel grid: shapes and labelled images turned into tissue labels.

A voxel belongs to a shape when its centre does (spheres, cylinders, boxes). Labelled images
(NIfTI, NRRD, MetaImage, or a DICOM series directory) are read with SimpleITK in physical
coordinates: the case frame is the image's physical frame in mm (the patient's LPS, as ITK and
DICOM have it; SimpleITK converts NIfTI's RAS), so an image-based case sets ``domain.center_mm``
where the anatomy is. Regions are painted in file order, later over earlier. When every region
is a shape, the same shapes also go to the solver as
:class:`~irelab.field.interfaces.TissueInterfaces` (:func:`shape_interfaces`), which places each
tissue interface where the shape's surface crosses the grid links instead of half-way between
voxel centres; the labels stay as painted.

A region's label is resampled onto the case grid as its indicator (1 inside, 0 outside),
interpolated linearly at each grid voxel's centre and kept where it reaches one half. Where the
grid's centres are image voxel centres (``irelab case from-images`` aligns its grid so when the
spacings allow) this copies the label exactly. Elsewhere a boundary lands within half an image
voxel of the image's own boundary along each axis, symmetrically on both sides: grid centres
exactly half-way between two image voxels count as inside on both faces, so a structure keeps
its centroid. (Nearest neighbour rounds such ties one way: with the domain centred on an image
voxel of 1 mm it moved the anatomy 0.5 mm along each axis, 0.87 mm in all;
tests/imaging/test_imaging_resampling.py measures both.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from irelab.case.schema import BoxSpec, CylinderSpec, ImageSpec, RegionSpec, SphereSpec
from irelab.errors import InputError
from irelab.field.interfaces import (
    BoxShape,
    CylinderShape,
    ShapeRegion,
    SphereShape,
    TissueInterfaces,
)
from irelab.field.problem import Grid

__all__: list[str] = []

MM = 1e-3
TIE_TOLERANCE = 1e-6
"""A grid centre half-way between an inside and an outside image voxel interpolates to 0.5 up
to round-off (about 1e-12); it counts as inside."""


def _points(grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return grid.centres_m()


def sphere_mask(grid: Grid, spec: SphereSpec) -> np.ndarray:
    x, y, z = _points(grid)
    c = np.asarray(spec.center_mm) * MM
    r = spec.radius_mm * MM
    return (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= r * r


def segment_distance(grid: Grid, start_m: Sequence[float], end_m: Sequence[float]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Distance of every voxel centre from the line through a segment, and the position along
    it as a fraction (0 at ``start_m``, 1 at ``end_m``)."""
    x, y, z = _points(grid)
    a = np.asarray(start_m, dtype=float)
    d = np.asarray(end_m, dtype=float) - a
    length2 = float(d @ d)
    rx, ry, rz = x - a[0], y - a[1], z - a[2]
    s = (rx * d[0] + ry * d[1] + rz * d[2]) / length2
    qx, qy, qz = rx - s * d[0], ry - s * d[1], rz - s * d[2]
    return np.sqrt(qx * qx + qy * qy + qz * qz), s


def cylinder_mask(grid: Grid, spec: CylinderSpec) -> np.ndarray:
    dist, s = segment_distance(grid, np.asarray(spec.start_mm) * MM, np.asarray(spec.end_mm) * MM)
    return (dist <= spec.radius_mm * MM) & (s >= 0) & (s <= 1)


def box_mask(grid: Grid, spec: BoxSpec) -> np.ndarray:
    x, y, z = _points(grid)
    lo = np.asarray(spec.min_mm) * MM
    hi = np.asarray(spec.max_mm) * MM
    return ((x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1])
            & (z >= lo[2]) & (z <= hi[2]))


def read_label_image(path: Path, source: str, key: str):
    """A SimpleITK image from a file or a DICOM series directory, or an :class:`InputError`."""
    import SimpleITK as sitk

    if not path.exists():
        raise InputError(source, key, "an existing NIfTI/NRRD/MetaImage file or DICOM directory",
                         str(path))
    try:
        if path.is_dir():
            reader = sitk.ImageSeriesReader()
            files = reader.GetGDCMSeriesFileNames(str(path))
            if not files:
                raise RuntimeError("no DICOM series in the directory")
            reader.SetFileNames(files)
            image = reader.Execute()
        else:
            image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise InputError(source, key, "a readable labelled image (NIfTI, NRRD, MetaImage or a "
                         "DICOM series directory)", first_line) from None
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(source, key, "a 3-D single-component label image",
                         f"{image.GetDimension()}-D, {image.GetNumberOfComponentsPerPixel()} "
                         "components")
    return image


def image_mask(grid: Grid, spec: ImageSpec, base_dir: Path, source: str, key: str,
               cache: dict | None = None) -> np.ndarray:
    """Voxels of ``grid`` inside the image's label ``spec.label`` (see :func:`label_mask`)."""
    path = Path(spec.path)
    if not path.is_absolute():
        path = base_dir / path
    cache = {} if cache is None else cache
    if path not in cache:
        cache[path] = read_label_image(path, source, f"{key}.path")
    image = cache[path]
    _check_overlap(image, grid, source, f"{key}.path")
    mask = label_mask(image, grid, spec.label)
    if not mask.any():
        raise InputError(source, f"{key}.label", "a label present in the part of the image "
                         "inside the domain", spec.label)
    return np.ascontiguousarray(mask)


def label_mask(image, grid: Grid, label: int) -> np.ndarray:
    """Voxels of ``grid`` inside ``label`` of a SimpleITK label image: the label's indicator
    interpolated linearly at the voxel centres reaches one half (see the module doc)."""
    import SimpleITK as sitk

    indicator = sitk.Cast(_around(image, grid) == label, sitk.sitkFloat32)
    reference = sitk.Image([int(n) for n in grid.shape], sitk.sitkFloat32)
    reference.SetSpacing([grid.spacing_m / MM] * 3)
    reference.SetOrigin([o / MM for o in grid.origin_m])
    resampled = sitk.Resample(indicator, reference, sitk.Transform(), sitk.sitkLinear, 0.0,
                              sitk.sitkFloat32)
    inside = sitk.GetArrayViewFromImage(resampled).transpose(2, 1, 0)  # (z,y,x) -> (x,y,z)
    return np.ascontiguousarray(inside >= 0.5 - TIE_TOLERANCE)


def _around(image, grid: Grid):
    """The part of ``image`` that the grid's box covers, with one voxel to spare (so a large
    scan is not resampled whole for a small domain)."""
    corners = np.array([[x, y, z] for x in (grid.lower_m[0], grid.upper_m[0])
                        for y in (grid.lower_m[1], grid.upper_m[1])
                        for z in (grid.lower_m[2], grid.upper_m[2])]) / MM
    index = np.array([image.TransformPhysicalPointToContinuousIndex(c.tolist()) for c in corners])
    size = np.asarray(image.GetSize())
    lo = np.clip(np.floor(index.min(axis=0)).astype(int) - 1, 0, size - 1)
    hi = np.clip(np.ceil(index.max(axis=0)).astype(int) + 2, lo + 1, size)
    return image[int(lo[0]):int(hi[0]), int(lo[1]):int(hi[1]), int(lo[2]):int(hi[2])]


def _check_overlap(image, grid: Grid, source: str, key: str) -> None:
    size = np.asarray(image.GetSize())
    corners = np.array([[i, j, k] for i in (-0.5, size[0] - 0.5) for j in (-0.5, size[1] - 0.5)
                        for k in (-0.5, size[2] - 0.5)])
    physical = np.array([image.TransformContinuousIndexToPhysicalPoint(c.tolist())
                         for c in corners]) * MM
    lo, hi = physical.min(axis=0), physical.max(axis=0)
    if np.any(hi <= grid.lower_m) or np.any(lo >= grid.upper_m):
        raise InputError(source, key, "an image overlapping the domain box "
                         f"{np.round(grid.lower_m / MM, 1).tolist()}-"
                         f"{np.round(grid.upper_m / MM, 1).tolist()} mm",
                         f"an image spanning {np.round(lo / MM, 1).tolist()}-"
                         f"{np.round(hi / MM, 1).tolist()} mm")


def region_mask(grid: Grid, region: RegionSpec, base_dir: Path, source: str, key: str,
                cache: dict | None = None) -> np.ndarray:
    kind = region.shape_kind
    if kind == "image":
        return image_mask(grid, region.image, base_dir, source, f"{key}.image", cache)
    builders = {"sphere": sphere_mask, "cylinder": cylinder_mask, "box": box_mask}
    return builders[kind](grid, getattr(region, kind))


def _shape(region: RegionSpec) -> SphereShape | CylinderShape | BoxShape:
    """The region's shape in metres (the same inequalities as its mask above)."""
    def m(v):
        return tuple(float(c) * MM for c in v)

    if region.sphere is not None:
        return SphereShape(m(region.sphere.center_mm), region.sphere.radius_mm * MM)
    if region.cylinder is not None:
        c = region.cylinder
        return CylinderShape(m(c.start_mm), m(c.end_mm), c.radius_mm * MM)
    return BoxShape(m(region.box.min_mm), m(region.box.max_mm))


def shape_interfaces(regions: Sequence[RegionSpec], tissue_names: Sequence[str]
                     ) -> TissueInterfaces | None:
    """The anatomy as analytic shapes for the solver's sub-voxel interfaces, or None when a
    region is an image (no implicit surface: its voxel labels are all there is) or there are no
    regions. Labels index ``tissue_names`` (background first), in painting order."""
    if not regions or any(r.shape_kind == "image" for r in regions):
        return None
    names = list(tissue_names)
    return TissueInterfaces(tuple(ShapeRegion(_shape(r), names.index(r.tissue))
                                  for r in regions))
