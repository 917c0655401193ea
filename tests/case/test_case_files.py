"""Case files: the documented keys, tissue presets, anatomy on the grid, probes and pullbacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from case_examples import two_needles

from irelab.case import TISSUE_PRESETS, case_text, load_case, parse_case

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_example_file_loads_with_its_exact_keys() -> None:
    case = load_case(ROOT / "examples" / "two-needles.yaml")
    assert case.name == "two-needles"
    assert case.domain.size_mm == (80, 80, 40) and case.domain.spacing_mm == 0.5
    assert [p.name for p in case.probes] == ["P1", "P2"]
    assert case.probes[1].diameter_mm == 1.1  # the default
    assert case.protocol.pulses == 90 and case.protocol.pulse_width_us == 90
    assert case.protocol.pairs[0].voltage_V == 1500
    assert case.tissue_names == ("liver", "tumour", "blood")
    grid = case.grid()
    assert grid.shape == (160, 160, 80)


def test_every_preset_cites_its_source_and_is_a_valid_model() -> None:
    assert {"liver", "tumour", "blood", "bile"} <= set(TISSUE_PRESETS)
    for tissue in TISSUE_PRESETS.values():
        assert len(tissue.source) > 30
        assert tissue.e_irr_V_per_cm > tissue.e_rev_V_per_cm
        model = tissue.conductivity()
        e = np.array([0.0, tissue.e_irr_V_per_m * 2])
        assert model.sigma(e) == pytest.approx([tissue.sigma0_S_per_m, tissue.sigma1_S_per_m])
    sel = TISSUE_PRESETS["liver-sel2005"]  # Sel et al. 2005 (rabbit liver), the former default
    assert (sel.sigma0_S_per_m, sel.sigma1_S_per_m, sel.e_rev_V_per_cm,
            sel.e_irr_V_per_cm, sel.lethal_V_per_cm) == (0.067, 0.241, 362, 637, 637)
    assert sel.kind == "liver"  # the thermal model's liver properties apply
    # in vivo liver: Sarreshtehdari et al. 2024 (human, 3 kHz); tumour 0.41 S/m (same study)
    assert TISSUE_PRESETS["liver"].sigma0_S_per_m == 0.13
    assert TISSUE_PRESETS["tumour"].sigma0_S_per_m == 0.41
    assert TISSUE_PRESETS["liver"].lethal_V_per_cm < TISSUE_PRESETS["liver"].e_irr_V_per_cm


def test_tissue_overrides_new_tissues_and_like() -> None:
    case = parse_case(two_needles(tissues={
        "liver": {"sigma0_S_per_m": 0.1},
        "necrosis": {"like": "tumour", "sigma0_S_per_m": 0.3, "critical": True},
        "gel": {"sigma0_S_per_m": 0.2, "sigma1_S_per_m": 0.2, "e_rev_V_per_cm": 100,
                "e_irr_V_per_cm": 200, "source": "phantom recipe measured at 1 kHz"},
    }))
    assert case.tissues["liver"].sigma0_S_per_m == 0.1
    assert case.tissues["liver"].sigma1_S_per_m == TISSUE_PRESETS["liver"].sigma1_S_per_m
    assert "overridden" in case.tissues["liver"].source
    assert case.tissues["necrosis"].critical and case.tissues["necrosis"].sigma0_S_per_m == 0.3
    assert case.tissues["gel"].e_irr_V_per_cm == 200


def test_regions_paint_in_order_and_volumes_match_the_shapes() -> None:
    mapping = two_needles(domain={"size_mm": [40, 40, 40], "spacing_mm": 0.5})
    mapping["anatomy"]["regions"].append(
        {"tissue": "bile", "box": {"min_mm": [-2, -2, -2], "max_mm": [2, 2, 2]}})
    case = parse_case(mapping)
    grid = case.grid()
    masks = case.region_masks(grid)
    v = grid.voxel_volume_m3 * 1e9  # mm^3
    # the box overrides the middle of the sphere (centres at +-0.25, ..., +-1.75 mm: 8 per axis)
    sphere = 4 / 3 * np.pi * 6**3
    assert masks["bile"].sum() == 8**3
    assert (masks["tumour"].sum() + masks["bile"].sum()) * v == pytest.approx(sphere, rel=0.02)
    cylinder = np.pi * 2**2 * 40
    assert masks["blood"].sum() * v == pytest.approx(cylinder, rel=0.05)  # a 4-voxel radius
    assert sum(m.sum() for m in masks.values()) == grid.size


def test_domain_centre_shifts_the_grid() -> None:
    mapping = two_needles()
    mapping["domain"]["center_mm"] = [100, -50, 20]
    mapping["anatomy"]["regions"] = [{"tissue": "tumour",
                                      "sphere": {"center_mm": [100, -50, 20], "radius_mm": 6}}]
    for p in mapping["probes"]:
        p["tip_mm"] = [p["tip_mm"][0] + 100, -50, 12]
    case = parse_case(mapping)
    grid = case.grid()
    assert np.allclose((grid.lower_m + grid.upper_m) / 2 * 1e3, [100, -50, 20])
    assert case.region_masks(grid)["tumour"].sum() > 0


def _write_label_image(path: Path, origin_mm, spacing_mm: float, shape, centre_mm, radius_mm,
                       label: int) -> None:
    import SimpleITK as sitk

    idx = np.indices(shape[::-1]).astype(float)  # (z, y, x) index grids
    z, y, x = (origin_mm[2 - a] + spacing_mm * idx[a] for a in range(3))
    inside = ((x - centre_mm[0]) ** 2 + (y - centre_mm[1]) ** 2 + (z - centre_mm[2]) ** 2
              <= radius_mm**2)
    array = np.where(inside, label, 1).astype(np.uint8)
    image = sitk.GetImageFromArray(array)
    image.SetOrigin(tuple(float(o) for o in origin_mm))
    image.SetSpacing((spacing_mm,) * 3)
    sitk.WriteImage(image, str(path))


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_labelled_image_region_matches_the_same_shape(tmp_path, suffix) -> None:
    """A sphere labelled 2 in an image (0.5 mm voxels, its own origin) resampled onto the 1 mm
    case grid covers the same voxels as the sphere drawn directly, up to its boundary."""
    path = tmp_path / f"seg{suffix}"
    _write_label_image(path, (-25.25, -24.75, -20.0), 0.5, (100, 100, 80), (1, -1, 2), 7, 2)
    mapping = two_needles()
    mapping["anatomy"]["regions"] = [{"tissue": "tumour",
                                      "image": {"path": path.name, "label": 2}}]
    case_file = tmp_path / "case.yaml"
    case_file.write_text(yaml.safe_dump(mapping))
    case = load_case(case_file)
    grid = case.grid()
    from_image = case.region_masks(grid)["tumour"]
    drawn = parse_case(two_needles(anatomy={"background": "liver", "regions": [
        {"tissue": "tumour", "sphere": {"center_mm": [1, -1, 2], "radius_mm": 7}}]}))
    direct = drawn.region_masks(grid)["tumour"]
    differ = (from_image != direct).sum()
    assert differ <= 0.1 * direct.sum()  # boundary voxels only
    # written elsewhere, the mapping keeps pointing at the image
    written = yaml.safe_load(case_text(case))
    assert Path(written["anatomy"]["regions"][0]["image"]["path"]).is_absolute()


def test_dicom_series_directory_is_read(tmp_path) -> None:
    import SimpleITK as sitk

    nii = tmp_path / "seg.nii.gz"
    _write_label_image(nii, (-20.0, -20.0, -15.0), 1.0, (40, 40, 30), (0, 0, 0), 6, 2)
    image = sitk.Cast(sitk.ReadImage(str(nii)), sitk.sitkInt16)
    series = tmp_path / "dicom"
    series.mkdir()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(image.GetDepth()):
        s = image[:, :, k]
        s.SetMetaData("0020|0013", str(k + 1))  # instance number
        s.SetMetaData("0020|0032", "\\".join(f"{v}" for v in image.TransformIndexToPhysicalPoint(
            (0, 0, k))))
        s.SetMetaData("0020|000e", "1.2.826.0.1.3680043.2.1125.1.1")
        s.SetMetaData("0020|0037", "1\\0\\0\\0\\1\\0")
        s.SetMetaData("0028|0030", "1\\1")
        s.SetMetaData("0018|0050", "1")
        writer.SetFileName(str(series / f"{k:03d}.dcm"))
        writer.Execute(s)
    mapping = two_needles()
    mapping["anatomy"]["regions"] = [{"tissue": "tumour",
                                      "image": {"path": str(series), "label": 2}}]
    case = parse_case(mapping)
    volume = case.region_masks(case.grid())["tumour"].sum()  # 1 mm voxels
    assert volume == pytest.approx(4 / 3 * np.pi * 6**3, rel=0.1)


def test_bipolar_probe_has_two_electrodes_and_a_gap() -> None:
    mapping = two_needles()
    mapping["probes"] = [{"name": "B", "tip_mm": [0, 0, -10], "direction": [0, 0, 1],
                          "bipolar": {"distal_mm": 7, "gap_mm": 8, "proximal_mm": 7}}]
    mapping["protocol"]["pairs"] = [{"anode": "B:distal", "cathode": "B:proximal",
                                     "voltage_V": 1000}]
    case = parse_case(mapping)
    problem = case.field_problem()
    assert [e.name for e in problem.electrodes] == ["B:distal", "B:proximal"]
    gap = next(i for i in problem.insulators if i.name == "B:gap")
    assert gap.start_m[2] == pytest.approx(-3e-3) and gap.end_m[2] == pytest.approx(5e-3)
    assert problem.electrode("B:proximal").end_m[2] == pytest.approx(12e-3)


def test_probes_not_in_the_pair_are_in_the_problem_as_floating_conductors() -> None:
    mapping = two_needles()
    mapping["probes"].append({"name": "P3", "tip_mm": [0, 6, -8], "direction": [0, 0, 1],
                              "exposed_mm": 15})
    problem = parse_case(mapping).field_problem()
    assert [e.name for e in problem.electrodes] == ["P1", "P2", "P3"]
    assert {i.name for i in problem.insulators} == {"P1:shaft", "P2:shaft", "P3:shaft"}
    shaft = next(i for i in problem.insulators if i.name == "P3:shaft")
    assert shaft.end_m[2] > problem.grid.upper_m[2]  # the shaft leaves the domain


def test_pullback_steps_move_every_probe_back_along_its_direction() -> None:
    mapping = two_needles()
    mapping["protocol"]["pullback_steps_mm"] = [3, 2]
    case = parse_case(mapping)
    assert case.positions == 3
    assert [p.back_mm for p in case.protocol.placements] == [0, 3, 5]
    tips = [case.field_problem(position=k).electrode("P1").start_m[2] for k in range(3)]
    assert np.allclose(np.asarray(tips) * 1e3, [-8, -5, -3])
    written = yaml.safe_load(case_text(case))
    assert written["protocol"]["pullback_steps_mm"] == [3, 2]
    assert parse_case(written).protocol.pullback_steps_mm == (3, 2)


def test_anatomy_only_case_loads_for_the_planner() -> None:
    mapping = two_needles()
    del mapping["probes"], mapping["protocol"]
    case = parse_case(mapping)
    problem = case.field_problem(spacing_mm=2.0)
    assert problem.electrodes == () and problem.grid.spacing_m == pytest.approx(2e-3)


def test_placements_move_the_array_back_and_sideways() -> None:
    mapping = two_needles()
    mapping["protocol"]["placements"] = [{"back_mm": 0}, {"back_mm": 2, "shift_mm": [3, -4, 0]}]
    case = parse_case(mapping)
    assert case.positions == 2
    p1 = [case.field_problem(position=k).electrode("P1") for k in range(2)]
    assert np.allclose(np.asarray(p1[0].start_m) * 1e3, [-5, 0, -8])
    assert np.allclose(np.asarray(p1[1].start_m) * 1e3, [-2, -4, -6])
    shaft = next(i for i in case.field_problem(position=1).insulators if i.name == "P2:shaft")
    assert np.allclose(np.asarray(shaft.start_m[:2]) * 1e3, [8, -4])
    again = parse_case(yaml.safe_load(case_text(case)))
    assert again.protocol.placements == case.protocol.placements


def test_shape_anatomy_gives_the_solver_its_shapes() -> None:
    """A case of shapes only hands its regions to the solver as sub-voxel interfaces, in
    painting order with their tissues' labels, and those shapes paint exactly the case's labels
    (the solver refuses shapes of another anatomy); with or without probes."""
    from irelab.field import CylinderShape, SphereShape

    case = parse_case(two_needles())
    for problem in (case.field_problem(), case.field_problem(anatomy_only=True)):
        shapes = problem.subvoxel
        assert shapes is not None
        kinds = [type(r.shape) for r in shapes.regions]
        assert kinds == [SphereShape, CylinderShape]
        names = case.tissue_names
        assert [names[r.label] for r in shapes.regions] == ["tumour", "blood"]
        assert shapes.regions[1].shape.radius_m == pytest.approx(2e-3)
        x, y, z = problem.grid.centres_m()
        points = np.stack(np.broadcast_arrays(x, y, z), axis=-1)
        assert np.array_equal(shapes.labels(points), problem.labels)


def test_image_anatomy_keeps_voxel_labels(tmp_path) -> None:
    """A case with an image region has no implicit surface there: no sub-voxel shapes, even
    for its other, drawn regions (the solver gets today's staircase)."""
    path = tmp_path / "seg.nii.gz"
    _write_label_image(path, (-20.0, -20.0, -15.0), 1.0, (40, 40, 30), (0, 0, 0), 6, 2)
    mapping = two_needles()
    mapping["anatomy"]["regions"][0] = {"tissue": "tumour",
                                        "image": {"path": path.name, "label": 2}}
    case_file = tmp_path / "case.yaml"
    case_file.write_text(yaml.safe_dump(mapping))
    case = load_case(case_file)
    assert case.field_problem().subvoxel is None
    assert case.field_problem(anatomy_only=True).subvoxel is None
