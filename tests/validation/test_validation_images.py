"""Images on and off the case grid: LPS inside, RAS in NIfTI files, converted once by the
reader and writer."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from irelab.errors import InputError
from irelab.field import Grid
from irelab.validation.images import (
    lattice,
    read_grid_array,
    read_scan,
    resample_to_grid,
    same_lattice,
    write_grid_array,
)

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _tilted_label_map() -> sitk.Image:
    """A 3 x 4 x 5 label map with a non-identity direction (20 degrees about z, then 10 about
    x) and anisotropic spacing."""
    array = np.zeros((5, 4, 3), dtype=np.uint8)  # z, y, x
    array[2, 1, 1] = 7
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((1.5, 2.0, 2.5))
    image.SetOrigin((10.0, -20.0, 30.0))
    rotation = sitk.Euler3DTransform()
    rotation.SetRotation(math.radians(10), 0.0, math.radians(20))
    image.SetDirection(rotation.GetMatrix())
    return image


def test_nifti_round_trip_keeps_lps_geometry_and_stores_ras(tmp_path) -> None:
    """The file's affine (nibabel, RAS) is the LPS index-to-world map flipped in x and y, and
    reading the file back gives the LPS geometry we wrote."""
    image = _tilted_label_map()
    path = tmp_path / "labels.nii.gz"
    sitk.WriteImage(image, str(path))
    back = read_scan(path, "--achieved")
    assert same_lattice(lattice(back), lattice(image))
    lps = np.eye(4)
    lps[:3, :3] = np.asarray(image.GetDirection()).reshape(3, 3) @ np.diag(image.GetSpacing())
    lps[:3, 3] = image.GetOrigin()
    ras = LPS_TO_RAS @ lps
    assert np.allclose(nib.load(path).affine, ras, atol=1e-4)
    # the labelled voxel is where both say it is
    point = lattice(back).to_world(np.array([1.0, 1.0, 2.0]))
    assert np.allclose(point, image.TransformIndexToPhysicalPoint((1, 1, 2)))


def test_grid_arrays_round_trip_and_refuse_another_grid(tmp_path) -> None:
    grid = Grid((4, 5, 6), 0.5e-3, (-1e-3, 2e-3, 3e-3))
    array = np.arange(grid.size, dtype=np.int16).reshape(grid.shape)
    path = write_grid_array(array, grid, tmp_path / "a.nii.gz")
    assert np.array_equal(read_grid_array(path, grid, "files.a"), array)
    assert not list(tmp_path.glob("partial-*"))
    other = Grid((4, 5, 6), 0.5e-3, (0.0, 2e-3, 3e-3))
    with pytest.raises(InputError, match="comparison grid"):
        read_grid_array(path, other, "files.a")


def test_resampling_a_tilted_map_onto_a_grid_finds_its_voxel() -> None:
    image = _tilted_label_map()
    centre = np.asarray(image.TransformIndexToPhysicalPoint((1, 1, 2))) * 1e-3
    grid = Grid((3, 3, 3), 0.5e-3, tuple(centre - 0.5e-3))
    values = resample_to_grid(image, grid)
    assert values[1, 1, 1] == 7
