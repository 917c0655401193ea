"""Anatomy on the voxel grid: shapes and labelled images turned into tissue labels.

A voxel belongs to a shape when its centre does (spheres, cylinders, boxes). Labelled images
(NIfTI, NRRD, MetaImage, or a DICOM series directory) are read with SimpleITK and resampled onto
the case grid by nearest neighbour in physical coordinates: the case frame is the image's
physical frame in mm (ITK's LPS convention), so an image-based case sets ``domain.center_mm``
where the anatomy is. Regions are painted in file order, later over earlier.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from irelab.case.schema import BoxSpec, CylinderSpec, ImageSpec, RegionSpec, SphereSpec
from irelab.errors import InputError
from irelab.field.problem import Grid

__all__: list[str] = []

MM = 1e-3


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
    """Voxels of ``grid`` whose centre falls in a voxel of the image carrying ``spec.label``."""
    import SimpleITK as sitk

    path = Path(spec.path)
    if not path.is_absolute():
        path = base_dir / path
    cache = {} if cache is None else cache
    if path not in cache:
        cache[path] = read_label_image(path, source, f"{key}.path")
    image = cache[path]
    _check_overlap(image, grid, source, f"{key}.path")
    reference = sitk.Image([int(n) for n in grid.shape], image.GetPixelID())
    reference.SetSpacing([grid.spacing_m / MM] * 3)
    reference.SetOrigin([o / MM for o in grid.origin_m])
    resampled = sitk.Resample(image, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                              image.GetPixelID())
    labels = sitk.GetArrayViewFromImage(resampled).transpose(2, 1, 0)  # (z,y,x) -> (x,y,z)
    mask = labels == spec.label
    if not mask.any():
        raise InputError(source, f"{key}.label", "a label present in the part of the image "
                         "inside the domain", spec.label)
    return np.ascontiguousarray(mask)


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
