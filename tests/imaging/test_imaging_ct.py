"""Reading CT series: the lattice in patient LPS (axial and oblique), Hounsfield units, and the
series a reader must refuse (each with one error naming the path and what was expected)."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest

from irelab.errors import InputError
from irelab.imaging import ImageGeometry, read_ct, write_ct_series

UIDS = {"study_uid": "1.2.3.1", "series_uid": "1.2.3.2", "frame_of_reference_uid": "1.2.3.3",
        "patient_id": "TEST", "description": "test", "study_date": "20260101"}


def _series(tmp_path, name="ct", direction=np.eye(3), shape=(12, 10, 6),
            spacing=(0.8, 0.8, 2.0), **uids):
    """A small CT series whose HU encode the voxel index (i + 20 j + 400 k - 1000)."""
    geometry = ImageGeometry(shape, spacing, (-4.0, 3.0, 10.0),
                             tuple(float(v) for v in np.asarray(direction).ravel()))
    i, j, k = np.indices(shape)
    hu = (i + 20 * j + 400 * k - 1000).astype(np.float32)
    write_ct_series(hu, geometry, tmp_path / name, **(UIDS | uids))
    return geometry, hu


def test_axial_series_reads_back_its_lattice_and_hounsfield_units(tmp_path) -> None:
    """Written with pydicom (stored + 1024, intercept -1024), read back: the same lattice and
    the same HU at every voxel (so i runs along rows, j down columns, k across slices)."""
    geometry, hu = _series(tmp_path)
    ct = read_ct(tmp_path / "ct")
    assert ct.geometry == geometry
    assert np.array_equal(ct.hu, hu)
    assert ct.series_uid == UIDS["series_uid"] and len(ct.headers) == 6
    one_file = read_ct(sorted((tmp_path / "ct").iterdir())[3])
    assert one_file.geometry == geometry


def test_oblique_series_keeps_its_direction_cosines(tmp_path) -> None:
    """A series tilted 20 degrees about x: the lattice's direction is the tilt, the world
    position of every voxel is what was written (checked against SimpleITK's own reader)."""
    import SimpleITK as sitk

    t = np.radians(20.0)
    tilt = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    geometry, hu = _series(tmp_path, direction=tilt)
    ct = read_ct(tmp_path / "ct")
    assert np.allclose(ct.geometry.matrix, tilt, atol=1e-6)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path / "ct")))
    theirs = ImageGeometry.from_sitk(reader.Execute())
    corners = np.array([[0, 0, 0], [11, 9, 5], [11, 0, 5]])
    assert np.allclose(ct.geometry.to_world(corners), theirs.to_world(corners), atol=1e-4)
    assert np.array_equal(ct.hu, hu)


def _modify(path, change) -> None:
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path)


def test_non_ct_modality_is_refused(tmp_path) -> None:
    _series(tmp_path)
    for f in (tmp_path / "ct").iterdir():
        _modify(f, lambda ds: setattr(ds, "Modality", "MR"))
    with pytest.raises(InputError, match="expected a CT series.*got 'MR'") as err:
        read_ct(tmp_path / "ct")
    assert err.value.source == str(tmp_path / "ct")
    with pytest.raises(InputError, match="expected a CT image"):
        read_ct(sorted((tmp_path / "ct").iterdir())[0])


def test_mixed_series_are_refused(tmp_path) -> None:
    _series(tmp_path, "a")
    _series(tmp_path, "b", series_uid="1.2.3.9", description="other")
    for f in (tmp_path / "b").iterdir():
        shutil.move(f, tmp_path / "a" / f"b_{f.name}")
    with pytest.raises(InputError, match="one CT series.*1.2.3.9"):
        read_ct(tmp_path / "a")


def test_a_missing_slice_is_named(tmp_path) -> None:
    _series(tmp_path)
    (tmp_path / "ct" / "ct_0003.dcm").unlink()
    with pytest.raises(InputError, match="without missing slices.*1 slice"):
        read_ct(tmp_path / "ct")


def test_non_uniform_spacing_is_refused(tmp_path) -> None:
    _series(tmp_path)
    _modify(tmp_path / "ct" / "ct_0004.dcm",
            lambda ds: setattr(ds, "ImagePositionPatient",
                               [float(v) for v in ds.ImagePositionPatient[:2]]
                               + [float(ds.ImagePositionPatient[2]) + 0.7]))
    with pytest.raises(InputError, match="uniform slice spacing"):
        read_ct(tmp_path / "ct")


def test_gantry_tilt_and_mixed_orientation_are_refused(tmp_path) -> None:
    _series(tmp_path)
    _modify(tmp_path / "ct" / "ct_0002.dcm",
            lambda ds: setattr(ds, "ImagePositionPatient",
                               [float(ds.ImagePositionPatient[0]) + 1.5,
                                *(float(v) for v in ds.ImagePositionPatient[1:])]))
    with pytest.raises(InputError, match="stacked along the normal"):
        read_ct(tmp_path / "ct")
    _series(tmp_path, "twisted")
    _modify(tmp_path / "twisted" / "ct_0002.dcm",
            lambda ds: setattr(ds, "ImageOrientationPatient", [0, 1, 0, 1, 0, 0]))
    with pytest.raises(InputError, match="one ImageOrientationPatient for every slice"):
        read_ct(tmp_path / "twisted")


def test_a_directory_without_dicom_is_refused(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images")
    with pytest.raises(InputError, match="no DICOM file found"):
        read_ct(tmp_path / "empty")
