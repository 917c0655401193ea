"""Scans and label maps for the comparison: read them, compare their lattices, put them on a
case grid, write and read back grid arrays. The only module of :mod:`irelab.validation` that
touches image files, so it can follow :mod:`irelab.imaging` as that grows.

SimpleITK reads NIfTI, NRRD and MetaImage (and DICOM series directories through
:func:`irelab.case.anatomy.read_label_image`); grid arrays are written by the project's one
NIfTI writer, :func:`irelab.simulation.output.write_volume`. Inside, the world frame is the
patient's LPS in mm, as in ITK and DICOM; NIfTI stores RAS, and the writer and ITK's reader
convert, so the conversion happens once, in the file I/O, and never here. Lattices are
:class:`irelab.imaging.ImageGeometry`. A case grid is axis-aligned in LPS (identity direction),
voxel ``[i, j, k]`` at ``origin + (i, j, k) h``; arrays on it are indexed ``[x, y, z]``, while
SimpleITK's are ``[z, y, x]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irelab.case.anatomy import read_label_image
from irelab.errors import InputError
from irelab.field import Grid
from irelab.imaging.geometry import ImageGeometry

__all__ = ["describe_lattice", "grid_image", "lattice", "read_grid_array", "read_scan",
           "resample_to_grid", "same_lattice", "write_grid_array"]

MM = 1e-3
LATTICE_TOLERANCE_MM = 1e-3
"""Two lattices are the same when shapes match and spacings, origins and direction cosines agree
to 1 um (headers round-trip through text formats with a few decimals)."""


def lattice(image) -> ImageGeometry:
    """Where a SimpleITK image's voxels are."""
    return ImageGeometry.from_sitk(image)


def same_lattice(a: ImageGeometry, b: ImageGeometry) -> bool:
    return (a.shape == b.shape
            and np.allclose(a.spacing_mm, b.spacing_mm, atol=LATTICE_TOLERANCE_MM)
            and np.allclose(a.origin_mm, b.origin_mm, atol=LATTICE_TOLERANCE_MM)
            and np.allclose(a.direction, b.direction, atol=LATTICE_TOLERANCE_MM))


def describe_lattice(g: ImageGeometry) -> str:
    return (f"{'x'.join(map(str, g.shape))} voxels of "
            f"{'x'.join(f'{s:g}' for s in g.spacing_mm)} mm at "
            f"{[round(o, 2) for o in g.origin_mm]} mm")


def read_scan(path: str | Path, key: str):
    """A 3-D scalar image (a scan or a label map) as a SimpleITK image, or one InputError naming
    ``key`` (the option or field that named the file)."""
    path = Path(path)
    return read_label_image(path, str(path), key)


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
    """Write a grid array as NIfTI (its dtype kept; booleans as uint8), replacing the file only
    once it is complete."""
    from irelab.simulation.output import write_volume

    path = Path(path)
    array = np.asarray(array)
    dtype = np.uint8 if array.dtype == bool else array.dtype
    partial = path.with_name(f"partial-{path.name}")
    write_volume(partial, array, grid, dtype)
    partial.replace(path)
    return path


def read_grid_array(path: str | Path, grid: Grid, key: str) -> np.ndarray:
    """An array written by :func:`write_grid_array` for ``grid`` (``[x, y, z]``), or one
    InputError if the file is not on that grid."""
    import SimpleITK as sitk

    image = read_scan(path, key)
    expected, found = ImageGeometry.of_grid(grid), lattice(image)
    if not same_lattice(found, expected):
        raise InputError(str(path), key, "an image on the comparison grid "
                         f"({describe_lattice(expected)})", describe_lattice(found))
    return sitk.GetArrayFromImage(image).transpose(2, 1, 0)
