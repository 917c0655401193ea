"""A case from images: cropped around the tumour in patient LPS, its grid aligned with the CT's
voxels where the spacings allow, the tumour where the scan has it (within half a voxel), and
one clear error for each kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from imaging_cases import TRUTH_MM, TUMOUR_NAMES, centroid_mm, half_voxel_mm

from irelab.case import load_case, parse_case
from irelab.errors import InputError
from irelab.imaging import ImageCaseOptions, ImageGeometry, case_from_images


def _grid_tumour(case) -> tuple[np.ndarray, ImageGeometry]:
    grid = case.grid()
    return case.region_masks(grid)["tumour"], ImageGeometry.of_grid(grid)


@pytest.mark.parametrize("fmt", ["dicom-seg", "rtstruct", "totalseg"])
def test_tumour_centroid_agrees_between_truth_input_and_case(tmp_path, phantom, fmt) -> None:
    """Truth: the analytic centre (-48, -28, -6) mm. The input segmentation's centroid on the
    CT lattice, and the case's tumour on its 1 mm solver grid (read back from the written case
    file), each lie within half a CT voxel of it (axial: 1.25 mm; oblique: 1.5 mm)."""
    made = case_from_images(phantom.ct, [phantom.files[fmt]], TUMOUR_NAMES[fmt],
                            tmp_path / "case.yaml")
    tolerance = half_voxel_mm(phantom.series.geometry)
    input_centroid = centroid_mm(phantom.anatomy.masks["tumour"], phantom.series.geometry)
    assert np.linalg.norm(np.asarray(made.tumour_centroid_mm) - input_centroid) < 1e-9
    case = load_case(tmp_path / "case.yaml")
    tumour, geometry = _grid_tumour(case)
    for found in (input_centroid, centroid_mm(tumour, geometry)):
        assert np.linalg.norm(found - TRUTH_MM) < tolerance
    lo, hi = case.domain.lower_mm, case.domain.upper_mm
    assert np.all(lo < TRUTH_MM - 11 - 5) and np.all(hi > TRUTH_MM + 11 + 5)  # tumour + margin


def test_axial_grid_copies_the_labels_where_aligned(tmp_path, axial) -> None:
    """1 mm grid on a 1 x 1 x 2.5 mm series: aligned in x and y (its voxel centres are CT voxel
    centres), not in z (2.5 / 1 is no whole number). Every grid voxel in a plane through CT
    slice centres (every other slice: 2 x 2.5 mm is 5 grid steps) carries exactly the CT's
    tumour label there."""
    made = case_from_images(axial.ct, [axial.files["dicom-seg"]], "Liver metastasis",
                            tmp_path / "case.yaml")
    assert made.aligned == (True, True, False)
    case = made.case
    tumour, geometry = _grid_tumour(case)
    ct = axial.series.geometry
    near = int(round(ct.to_index(TRUTH_MM)[2]))
    planes = [(k, (ct.to_world(np.array([0, 0, k]))[2] - geometry.origin_mm[2])
               / geometry.spacing_mm[2]) for k in (near, near + 1)]
    k, kz = next((k, int(round(z))) for k, z in planes if abs(z - round(z)) < 1e-6)
    plane = np.argwhere(np.ones(tumour.shape[:2], bool))
    world = geometry.to_world(np.column_stack([plane, np.full(len(plane), kz)]))
    expected = ct.sample(axial.anatomy.masks["tumour"].astype(np.uint8), world)
    assert np.array_equal(tumour[:, :, kz].ravel(), expected.astype(bool))


def test_mixed_formats_and_shapes(tmp_path, axial) -> None:
    """The tumour from the DICOM SEG, vessels and the rest from the TotalSegmentator folder (its
    own tumour left out, being not the one named); then a sphere of shapes added to the written
    case: image regions and shapes mix."""
    made = case_from_images(axial.ct, [axial.files["dicom-seg"], axial.files["totalseg"]],
                            "Liver metastasis", tmp_path / "case.yaml",
                            {"Portal vein": "ignore"})
    assert "liver_tumor (totalsegmentator)" in made.ignored
    assert "Portal vein (segmentation.dcm)" in made.ignored
    keys = [k for _, _, k, _ in made.structures]
    assert keys.count("tumour") == 1 and "portal_vein" in keys
    mapping = yaml.safe_load((tmp_path / "case.yaml").read_text())
    mapping["anatomy"]["regions"].append(
        {"tissue": "blood", "sphere": {"center_mm": [-48, -28, 8], "radius_mm": 3}})
    case = parse_case(mapping, source="mixed", base_dir=tmp_path)
    masks = case.region_masks(case.grid())
    assert masks["blood"].sum() == pytest.approx(4 / 3 * np.pi * 27, rel=0.15)
    assert masks["tumour"].any() and masks["portal_vein"].any()


def test_map_assigns_unknown_names(tmp_path, axial) -> None:
    """A label map without its colour table has segments named by value; --map names them."""
    bare = tmp_path / "bare.nii.gz"
    bare.write_bytes(axial.files["labelmap"].read_bytes())
    made = case_from_images(axial.ct, [bare], "11", tmp_path / "case.yaml",
                            {"5": "liver", "8": "portal_vein", "1": "body"})
    keys = {name: k for _, name, k, _ in made.structures}
    assert keys == {"1": "body", "5": "liver", "11": "tumour", "8": "portal_vein"}
    assert len(made.ignored) == 8


def test_bad_names(tmp_path, axial) -> None:
    seg = [axial.files["dicom-seg"]]
    with pytest.raises(InputError, match="--tumour: expected the name of a segment"):
        case_from_images(axial.ct, seg, "lesion 7", tmp_path / "c.yaml")
    with pytest.raises(InputError, match="--map: Spleen: expected the name of a segment"):
        case_from_images(axial.ct, seg, "Liver metastasis", tmp_path / "c.yaml",
                         {"Spleen": "obstacle"})
    with pytest.raises(InputError, match="expected a structure"):
        case_from_images(axial.ct, seg, "Liver metastasis", tmp_path / "c.yaml",
                         {"Colon": "cheese"})


def test_tumour_empty_or_at_the_border(tmp_path, axial) -> None:
    """An empty label-map tumour, and one reaching the last slice, each named with its file."""
    import SimpleITK as sitk

    ct = axial.series.geometry
    labels = np.zeros(ct.shape, np.uint8)
    labels[100:110, 100:110, 5:10] = 2
    sitk.WriteImage(ct.to_sitk(labels), str(tmp_path / "empty.nii.gz"))
    (tmp_path / "empty.ctbl").write_text("1 tumour 255 0 0 255\n2 liver 200 100 100 255\n")
    with pytest.raises(InputError, match="empty.nii.gz: tumour: expected a tumour segment with"):
        case_from_images(axial.ct, [tmp_path / "empty.nii.gz"], "tumour", tmp_path / "c.yaml")
    labels[100:110, 100:110, -3:] = 1
    sitk.WriteImage(ct.to_sitk(labels), str(tmp_path / "edge.nii.gz"))
    (tmp_path / "edge.ctbl").write_text("1 tumour 255 0 0 255\n2 liver 200 100 100 255\n")
    with pytest.raises(InputError, match="edge.nii.gz: tumour: expected a tumour inside the scan"):
        case_from_images(axial.ct, [tmp_path / "edge.nii.gz"], "tumour", tmp_path / "c.yaml")


def test_a_crop_over_the_grid_limit_is_refused(tmp_path, axial) -> None:
    """Tumour + margin + 60 mm at 0.25 mm: about 150 M voxels, over the 40 M limit."""
    with pytest.raises(InputError, match="segmentation.dcm: Liver metastasis: expected a tumour "
                       "whose crop.*40,000,000 voxels"):
        case_from_images(axial.ct, [axial.files["dicom-seg"]], "Liver metastasis",
                         tmp_path / "c.yaml", options=ImageCaseOptions(pad_mm=60,
                                                                       spacing_mm=0.25))


def test_same_inputs_write_the_same_case(tmp_path, axial) -> None:
    """Twice from the same files to the same place: byte-identical case and label volume."""
    out = tmp_path / "case.yaml"
    written = []
    for _ in range(2):
        made = case_from_images(axial.ct, [axial.files["rtstruct"]], "GTV", out)
        written.append((out.read_bytes(), made.labels_file.read_bytes()))
    assert written[0] == written[1]
