"""Segmentations in every supported format give the phantom's masks back voxel for voxel, on the
axial and the oblique series, with names and codes matched to known structures; a segmentation
that belongs to another scan is refused."""

from __future__ import annotations

import numpy as np
import pytest
from imaging_cases import TUMOUR_NAMES

from irelab.errors import InputError
from irelab.imaging import (
    PHANTOM_FORMATS,
    ImageGeometry,
    SegSegment,
    match_term,
    open_segmentation,
    write_phantom,
)
from irelab.imaging.terms import term


@pytest.mark.parametrize("fmt", PHANTOM_FORMATS)
def test_every_format_reads_back_the_phantom_masks(phantom, fmt) -> None:
    """Written from the analytic masks (pydicom/highdicom/slicerio/SimpleITK writers), read by
    our readers onto the CT lattice: the tumour and the liver are the same voxels (RTSTRUCT
    contours run half-way between pixel centres, so rasterising them recovers the mask)."""
    seg = open_segmentation(phantom.files[fmt], phantom.series)
    names = [s.name for s in seg.segments]
    tumour = names.index(TUMOUR_NAMES[fmt])
    assert np.array_equal(seg.mask(tumour), phantom.anatomy.masks["tumour"])
    liver = next(i for i, s in enumerate(seg.segments) if match_term(s.name, s.code).key ==
                 "liver")
    expected = phantom.anatomy.masks["liver"].copy()
    if fmt in ("slicer", "labelmap"):  # one label per voxel: later structures cut the liver
        for key in ("ivc", "aorta", "portal_vein", "hepatic_vein", "bile_duct", "tumour", "rib"):
            expected &= ~phantom.anatomy.masks[key]
    assert np.array_equal(seg.mask(liver), expected)


@pytest.mark.parametrize("fmt", PHANTOM_FORMATS)
def test_every_segment_matches_a_known_structure(axial, fmt) -> None:
    """Each format's own names (and, where it has them, SNOMED CT codes) match the structure
    the phantom drew; TotalSegmentator's per-rib files are ribs."""
    seg = open_segmentation(axial.files[fmt], axial.series)
    keys = {s.key: s for s in axial.anatomy.structures}
    for info in seg.segments:
        found = match_term(info.name, info.code)
        assert found is not None, info.name
        style = "slicer" if fmt == "labelmap" else fmt  # the colour table writes "_" for " "
        drawn = next((k for k, s in keys.items()
                      if s.names[style].replace(" ", "_" if fmt == "labelmap" else " ")
                      == info.name), None)
        if drawn is None:  # a rib of TotalSegmentator's ribs split one file each
            assert info.name.startswith("rib_") and found.key == "rib"
        elif drawn == "hepatic_vein" and fmt == "totalseg":
            assert found.key == "vessel"  # TotalSegmentator has only 'liver_vessels'
        else:
            assert found.key == drawn, info.name


def test_codes_win_over_names() -> None:
    """A segment called 'Segment_1' coded SCT 10200004 (Liver) is the liver; a name alone
    matches in TERMS order ('liver_tumor' is a tumour, 'portal_vein_and_splenic_vein' a portal
    vein); nothing matches 'Segment_1' by name."""
    assert match_term("Segment_1", "10200004").key == "liver"
    assert match_term("liver_tumor").key == "tumour"
    assert match_term("portal_vein_and_splenic_vein").key == "portal_vein"
    assert match_term("rib_right_7").key == "rib"
    assert match_term("Segment_1") is None


def test_a_seg_of_another_series_is_refused(tmp_path, axial) -> None:
    """A DICOM SEG made over the oblique series, given with the axial CT."""
    other = write_phantom(tmp_path, oblique=True, formats=("dicom-seg",))
    with pytest.raises(InputError, match="references the CT series") as err:
        open_segmentation(other.files["dicom-seg"], axial.series)
    assert err.value.source == str(other.files["dicom-seg"])


def test_an_rtstruct_of_another_frame_of_reference_is_refused(oblique, axial) -> None:
    with pytest.raises(InputError, match="frame of reference"):
        open_segmentation(oblique.files["rtstruct"], axial.series)


def test_labels_outside_the_scan_are_refused(tmp_path, axial) -> None:
    import SimpleITK as sitk

    far = ImageGeometry((10, 10, 10), (1.0, 1.0, 1.0), (500.0, 500.0, 500.0))
    sitk.WriteImage(far.to_sitk(np.ones((10, 10, 10), np.uint8)), str(tmp_path / "far.nii.gz"))
    with pytest.raises(InputError, match="labels overlapping the CT scan") as err:
        open_segmentation(tmp_path / "far.nii.gz", axial.series)
    assert err.value.source == str(tmp_path / "far.nii.gz")


def test_other_files_are_refused_with_what_is_read(tmp_path, axial) -> None:
    (tmp_path / "notes.txt").write_text("liver")
    with pytest.raises(InputError, match="a DICOM SEG or RTSTRUCT"):
        open_segmentation(tmp_path / "notes.txt", axial.series)
    with pytest.raises(InputError, match="a DICOM SEG or RTSTRUCT.*got 'CT'"):
        open_segmentation(sorted(axial.ct.iterdir())[0], axial.series)


def test_seg_written_over_a_slab_references_its_slices(tmp_path, axial) -> None:
    """The writer's slab form (the plan's SEG covers only the slices its domain reaches): every
    frame references the CT slice it lies on, and highdicom reads the masks back there."""
    from irelab.imaging.dicom_seg import write_dicom_seg
    from irelab.imaging.phantom_files import STUDY_DATE

    mask = axial.anatomy.masks["tumour"][:, :, 10:30]
    t = term("tumour")
    path = write_dicom_seg(tmp_path / "slab.dcm", axial.series,
                           [SegSegment("Tumour", mask, t.property_category(),
                                       t.property_type(), t.colour)],
                           series_description="slab", created=STUDY_DATE, first_slice=10)
    seg = open_segmentation(path, axial.series)
    assert np.array_equal(seg.mask(0), axial.anatomy.masks["tumour"])


def test_a_seg_over_a_nifti_ct_is_read_through_its_own_geometry(tmp_path, oblique) -> None:
    """The same oblique scan given as a NIfTI volume (no DICOM identities to match): the DICOM
    SEG's masks come from its own volume and affine (highdicom) resampled onto the scan's
    lattice, and are still the phantom's voxels."""
    import SimpleITK as sitk

    from irelab.imaging import read_ct

    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(oblique.anatomy.geometry.to_sitk(oblique.anatomy.hu), str(path))
    ct = read_ct(path)
    assert not ct.is_dicom
    assert np.allclose(ct.geometry.affine(), oblique.series.geometry.affine(), atol=1e-4)
    seg = open_segmentation(oblique.files["dicom-seg"], ct)
    tumour = [s.name for s in seg.segments].index("Liver metastasis")
    assert np.array_equal(seg.mask(tumour), oblique.anatomy.masks["tumour"])


def test_an_nrrd_label_map_with_its_colour_table(tmp_path, axial) -> None:
    """A plain NRRD label map (not a Slicer segmentation) names its labels from NAME.ctbl."""
    import shutil

    import SimpleITK as sitk

    sitk.WriteImage(sitk.ReadImage(str(axial.files["labelmap"])), str(tmp_path / "labels.nrrd"))
    shutil.copy(axial.files["labelmap"].with_name("labels.ctbl"), tmp_path / "labels.ctbl")
    seg = open_segmentation(tmp_path / "labels.nrrd", axial.series)
    assert seg.kind == "label map"
    names = [s.name for s in seg.segments]
    assert np.array_equal(seg.mask(names.index("tumor")), axial.anatomy.masks["tumour"])


def test_a_missing_optional_package_says_what_to_install() -> None:
    from irelab.imaging import MissingDependencyError
    from irelab.imaging.deps import require

    with pytest.raises(MissingDependencyError, match=r"install irelab\[imaging\]"):
        require("irelab_no_such_package", "reading a test file")
