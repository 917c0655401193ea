"""Scans and label maps for the comparison: read them, compare their grids, put them on a case
grid, write grid arrays. The only module of :mod:`irelab.validation` that touches image files.

SimpleITK reads and writes NIfTI, NRRD and MetaImage (and DICOM series directories through
:func:`irelab.case.anatomy.read_label_image`). Inside, the world frame is the patient's LPS in
mm, as in ITK and DICOM; NIfTI stores RAS, and ITK's NIfTI reader and writer convert between the
two, so that conversion happens once, in the file I/O, and never here. A case grid is
axis-aligned in that frame (identity direction), voxel ``[i, j, k]`` at ``origin + (i, j, k) h``.
Arrays on a case grid are indexed ``[x, y, z]``; SimpleITK's are ``[z, y, x]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from irelab.case.anatomy import read_label_image
from irelab.errors import InputError
from irelab.field import Grid

__all__ = ["ImageGeometry", "grid_image", "image_geometry", "read_grid_array", "read_scan",
           "resample_to_grid", "voxel_points_mm", "write_grid_array"]

MM = 1e-3
GEOMETRY_TOLERANCE_MM = 1e-3
"""Two grids are the same when sizes match and spacings, origins and direction cosines agree
to 1 um (headers round-trip through text formats with a few decimals)."""


@dataclass(frozen=True)
class ImageGeometry:
    """Where an image's voxels are: size, spacing (mm), origin (mm, LPS) and direction."""

    size: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
    direction: tuple[float, ...]
    """Row-major 3 x 3 direction cosines."""

    def same_as(self, other: ImageGeometry) -> bool:
        return (self.size == other.size
                and np.allclose(self.spacing_mm, other.spacing_mm, atol=GEOMETRY_TOLERANCE_MM)
                and np.allclose(self.origin_mm, other.origin_mm, atol=GEOMETRY_TOLERANCE_MM)
                and np.allclose(self.direction, other.direction, atol=GEOMETRY_TOLERANCE_MM))

    def describe(self) -> str:
        return (f"{'x'.join(map(str, self.size))} voxels of "
                f"{'x'.join(f'{s:g}' for s in self.spacing_mm)} mm at "
                f"{[round(o, 2) for o in self.origin_mm]} mm")


def image_geometry(image) -> ImageGeometry:
    return ImageGeometry(tuple(int(n) for n in image.GetSize()),
                         tuple(float(s) for s in image.GetSpacing()),
                         tuple(float(o) for o in image.GetOrigin()),
                         tuple(float(d) for d in image.GetDirection()))


def read_scan(path: str | Path, key: str):
    """A 3-D scalar image (a scan or a label map) as a SimpleITK image, or one InputError naming
    ``key`` (the option or field that named the file)."""
    path = Path(path)
    return read_label_image(path, str(path), key)


def voxel_points_mm(image, indices: np.ndarray) -> np.ndarray:
    """Physical (LPS, mm) centres of voxel ``indices`` (n x 3, ITK order i, j, k)."""
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    scaled = indices * np.asarray(image.GetSpacing())
    return np.asarray(image.GetOrigin()) + scaled @ direction.T


def grid_image(array: np.ndarray, grid: Grid):
    """A grid array (``[x, y, z]``) as a SimpleITK image with the grid's geometry."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(array).transpose(2, 1, 0)))
    image.SetSpacing([grid.spacing_m / MM] * 3)
    image.SetOrigin([o / MM for o in grid.origin_m])
    return image


def resample_to_grid(image, grid: Grid, transform=None, linear: bool = False) -> np.ndarray:
    """``image`` sampled at the grid's voxel centres (``[x, y, z]``): nearest neighbour (labels)
    or linear (scans). ``transform`` maps grid (planning) points to image points, as a
    registration returns it; none for an image already in the planning frame."""
    import SimpleITK as sitk

    reference = grid_image(np.zeros(grid.shape, dtype=np.uint8), grid)
    interpolator = sitk.sitkLinear if linear else sitk.sitkNearestNeighbor
    resampled = sitk.Resample(image, reference, transform or sitk.Transform(), interpolator, 0.0,
                              image.GetPixelID())
    return sitk.GetArrayFromImage(resampled).transpose(2, 1, 0)


def write_grid_array(array: np.ndarray, grid: Grid, path: str | Path) -> Path:
    """Write a grid array (NIfTI when the name ends in .nii or .nii.gz; LPS converted to RAS by
    ITK's writer), replacing the file only once it is complete."""
    import SimpleITK as sitk

    path = Path(path)
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".nii.gz") else path.suffix
    partial = path.with_name(f"{path.name}.partial{suffix}")
    sitk.WriteImage(grid_image(array, grid), str(partial), useCompression=True)
    partial.replace(path)
    return path


def read_grid_array(path: str | Path, grid: Grid, key: str) -> np.ndarray:
    """An array written by :func:`write_grid_array` for ``grid`` (``[x, y, z]``), or one
    InputError if the file is not on that grid."""
    image = read_scan(path, key)
    expected = image_geometry(grid_image(np.zeros((1, 1, 1), dtype=np.uint8), grid))
    found = image_geometry(image)
    expected = ImageGeometry(tuple(int(n) for n in grid.shape), expected.spacing_mm,
                             expected.origin_mm, expected.direction)
    if not found.same_as(expected):
        raise InputError(str(path), key, f"an image on the comparison grid "
                         f"({expected.describe()})", found.describe())
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(image).transpose(2, 1, 0)
