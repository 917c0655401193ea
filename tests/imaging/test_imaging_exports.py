"""A plan's exports line up with the scan they came from, on the axial and the oblique series:
probe tips agree between plan, markups and CSV; the tumour's centroid agrees (within half a CT
voxel of the truth) between the input, the case, the plan's NIfTI labels read back by SimpleITK
and nibabel, and the DICOM SEG read back by highdicom; the SEG carries the CT's geometry and
references its series; depths match the phantom's analytic skin; crossings are warned about;
the same plan writes the same bytes.

The plan is made by hand (four anterior probes, see ``imaging_cases.anterior_plan``) with a
spherical ablation zone, so no planner run is needed: what is tested is the frames, not the
physics.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from imaging_cases import TRUTH_MM, anterior_plan, centroid_mm, half_voxel_mm

from irelab.case import Probe, Protocol, load_case
from irelab.imaging import (
    ImageGeometry,
    case_from_images,
    open_segmentation,
    read_line_markup,
    read_trajectory_csv,
    write_plan_exports,
)
from irelab.imaging.phantom import TRUNK_MM

CREATED = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)
ZONE_RADIUS_MM = 16.0
DEPTH_TOLERANCE_MM = 1.0
"""The skin is found on the 1 mm in-plane lattice by half-millimetre steps: within one voxel of
the analytic ellipse."""


@pytest.fixture(scope="module", params=["axial", "oblique"])
def exported(request, tmp_path_factory):
    """The hand-made plan's exports, once per phantom variant (the tests only read them)."""
    phantom = request.getfixturevalue(request.param)
    tmp_path = tmp_path_factory.mktemp(f"exports-{request.param}")
    made = case_from_images(phantom.ct, [phantom.files["dicom-seg"], phantom.files["totalseg"]],
                            "Liver metastasis", tmp_path / "case.yaml",
                            {"liver_tumor": "ignore"})
    plan = anterior_plan(made.case)
    grid = plan.grid()
    x, y, z = (c * 1e3 - t for c, t in zip(grid.centres_m(), TRUTH_MM, strict=True))
    lethal = x * x + y * y + z * z < ZONE_RADIUS_MM ** 2
    exports = write_plan_exports(plan, lethal, np.zeros(grid.shape), tmp_path / "out", 5.0,
                                 created=CREATED)
    return phantom, plan, exports, tmp_path / "out"


def test_tips_agree_between_plan_markups_and_csv(exported) -> None:
    _, plan, exports, out = exported
    rows = {(t.probe, t.placement): t for t in read_trajectory_csv(out / "trajectories.csv")}
    for probe in plan.probes:
        entry, tip = read_line_markup(out / "trajectories" / f"{probe.name}-placement1.mrk.json")
        assert np.allclose(tip, probe.tip_mm, atol=1e-4)
        row = rows[(probe.name, 1)]
        assert np.allclose(row.tip_mm, probe.tip_mm, atol=1e-3)
        assert np.allclose(row.entry_mm, entry, atol=1e-3)
        u = np.asarray(probe.direction)
        assert np.allclose(entry, np.asarray(probe.tip_mm) + row.depth_mm * u, atol=1e-3)


def test_depth_from_the_skin_matches_the_phantom(exported) -> None:
    """Anterior probes (direction -y) at x: the trunk's skin is at y = -85 sqrt(1 - (x/110)^2)."""
    _, plan, exports, _ = exported
    for t in exports.trajectories:
        x, y, _ = t.tip_mm
        skin = -TRUNK_MM[1] * np.sqrt(1 - (x / TRUNK_MM[0]) ** 2)
        assert t.entry_at == "skin"
        assert t.depth_mm == pytest.approx(y - skin, abs=DEPTH_TOLERANCE_MM)
        assert t.crossings == ()
    assert exports.warnings == ()


def test_tumour_centroid_agrees_in_nifti_outputs(exported) -> None:
    """labels.nii.gz (RAS affine) read by SimpleITK (which converts to LPS) and by nibabel
    (converted here): the tumour label's centroid is where the scan has the tumour."""
    import nibabel as nib
    import SimpleITK as sitk

    phantom, plan, _, out = exported
    tolerance = half_voxel_mm(phantom.series.geometry)
    tumour_label = plan.tissue_names.index("tumour")
    image = sitk.ReadImage(str(out / "labels.nii.gz"))
    labels = np.transpose(sitk.GetArrayFromImage(image), (2, 1, 0))
    by_itk = centroid_mm(labels == tumour_label, ImageGeometry.from_sitk(image))
    nifti = nib.load(out / "labels.nii.gz")
    ras = nifti.affine @ np.append(np.argwhere(np.asarray(nifti.dataobj) == tumour_label)
                                   .mean(axis=0), 1.0)
    by_nibabel = ras[:3] * np.array([-1.0, -1.0, 1.0])
    assert np.allclose(by_itk, by_nibabel, atol=1e-6)
    assert np.linalg.norm(by_itk - TRUTH_MM) < tolerance
    # the written labels overlay the input scan: brought onto the CT lattice they cover the
    # CT's own tumour voxels (all but a rim of partial voxels)
    on_ct = phantom.series.geometry.resample_labels(labels, ImageGeometry.from_sitk(image))
    truth = phantom.anatomy.masks["tumour"]
    assert (on_ct == tumour_label)[truth].mean() > 0.9


def test_seg_references_the_ct_and_carries_its_geometry(exported) -> None:
    """Read back with highdicom and pydicom: the SEG references the CT series and frame of
    reference, each frame references the CT slice it lies on with that slice's position and
    orientation, the segments carry their coded concepts, and the tumour segment's centroid
    (highdicom's own volume and affine) is within half a CT voxel of the truth."""
    import highdicom as hd
    import pydicom

    phantom, _, _, out = exported
    ct = phantom.series
    raw = pydicom.dcmread(out / "plan-seg.dcm")
    assert raw.Modality == "SEG" and raw.FrameOfReferenceUID == ct.frame_of_reference_uid
    assert raw.ReferencedSeriesSequence[0].SeriesInstanceUID == ct.series_uid
    seg = hd.seg.segread(str(out / "plan-seg.dcm"))
    positions = {h.SOPInstanceUID: np.asarray(h.ImagePositionPatient, float) for h in ct.headers}
    orientation = np.asarray(ct.headers[0].ImageOrientationPatient, float)
    shared = raw.SharedFunctionalGroupsSequence[0]
    assert np.allclose(shared.PlaneOrientationSequence[0].ImageOrientationPatient, orientation)
    assert np.allclose(shared.PixelMeasuresSequence[0].PixelSpacing, ct.headers[0].PixelSpacing)
    for frame in raw.PerFrameFunctionalGroupsSequence:
        source = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        position = frame.PlanePositionSequence[0].ImagePositionPatient
        assert np.allclose(position, positions[source], atol=1e-3)
    types = {seg.get_segment_description(n).segment_label:
             seg.get_segment_description(n).segmented_property_type.value
             for n in seg.get_segment_numbers()}
    assert types == {"Predicted ablation zone": "130059", "Target: tumour + 5 mm margin":
                     "228793007", "Tumour": "108369006"}
    number = next(n for n in seg.get_segment_numbers()
                  if seg.get_segment_description(n).segment_label == "Tumour")
    volume = seg.get_volume(segment_numbers=[number], combine_segments=True)
    voxels = np.argwhere(np.asarray(volume.array) > 0)
    world = (volume.affine @ np.column_stack([voxels, np.ones(len(voxels))]).T)[:3].mean(axis=1)
    tolerance = half_voxel_mm(ct.geometry)
    assert np.linalg.norm(world - TRUTH_MM) < tolerance
    ours = open_segmentation(out / "plan-seg.dcm", ct)
    assert np.linalg.norm(centroid_mm(ours.mask(2), ct.geometry) - world) < 1e-6


def test_same_plan_writes_the_same_bytes(exported, tmp_path) -> None:
    _, plan, _, out = exported
    grid = plan.grid()
    again = tmp_path / "again"
    lethal = np.asarray(__import__("nibabel").load(out / "ablation_zone.nii.gz").dataobj) > 0
    write_plan_exports(plan, lethal, np.zeros(grid.shape), again, 5.0, created=CREATED)
    for name in ("plan-seg.dcm", "trajectories.csv", "trajectories/P3-placement1.mrk.json",
                 "labels.ctbl"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_crossings_are_warned(tmp_path, axial) -> None:
    """A right-lateral probe at a rib's height crosses the ribs; a posterior probe crosses the
    portal vein outside the target (and the kidney); a caudal probe's path leaves the scan
    before the skin (no depth, said so)."""
    made = case_from_images(axial.ct, [axial.files["dicom-seg"]], "Liver metastasis",
                            tmp_path / "case.yaml")
    probes = (Probe("L", (-50.0, -28.0, 5.0), (-1.0, 0.0, 0.0), 1.1, 20.0),
              Probe("P", (-48.0, -40.0, -12.0), (0.0, 1.0, 0.0), 1.1, 20.0),
              Probe("C", (-30.0, -28.0, 0.0), (0.0, 0.0, -1.0), 1.1, 10.0))
    plan = made.case.with_plan(probes, Protocol())
    grid = plan.grid()
    exports = write_plan_exports(plan, np.zeros(grid.shape, bool), np.zeros(grid.shape),
                                 tmp_path / "out", 5.0, created=CREATED)
    crossed = {t.probe: {c.structure: c.role for c in t.crossings} for t in exports.trajectories}
    assert crossed["L"] == {"Ribs": "obstacle"}
    assert crossed["P"]["Portal vein"] == "critical"
    assert crossed["P"]["Right kidney"] == "obstacle"
    assert any("probe L at placement 1" in w and "Ribs" in w for w in exports.warnings)
    caudal = next(t for t in exports.trajectories if t.probe == "C")
    assert caudal.depth_mm is None and caudal.entry_at == "domain"
    assert any("probe C" in w and "edge of the scan" in w for w in exports.warnings)


def test_case_file_round_trip_keeps_the_imaging_keys(exported) -> None:
    """The plan written and read back keeps its CT reference and structure legend (absolute
    paths, so it can be written anywhere)."""
    from irelab.case import write_case

    _, plan, _, out = exported
    path = write_case(plan, out / "plan.yaml")
    back = load_case(path)
    assert back.imaging == plan.imaging.model_copy(update={
        "labels": str((plan.base_dir / plan.imaging.labels).resolve())})
