"""``irelab compare`` on the synthetic study, through the command line: the follow-up scan is
registered back, the delivered protocol is simulated, the files are written, the same input
gives the same bytes, and bad inputs exit 2 with one line naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml
from validation_cli import run_cli

from irelab.case import load_case
from irelab.validation.images import write_grid_array

ROTATION_TOL_DEG = 0.25
TRANSLATION_TOL_MM = 0.25
"""The synthetic motion is recovered to a quarter of a degree and a quarter of a 1 mm voxel
(the anatomy is exact but for 8 HU scan noise; the zone is hypodense only in the follow-up)."""


def compare(proc, out: Path, *, scans: bool = False, log: bool = True,
            achieved: Path | None = None, extra: tuple = ()) -> tuple[int, str, str]:
    args = ["compare", "--plan", proc.plan, "--achieved", achieved or proc.achieved,
            "--out", out, "--json", *extra]
    if scans:
        args += ["--planning-image", proc.planning_image, "--followup-image",
                 proc.followup_image]
    if log:
        args += ["--log", proc.log]
    return run_cli(*args)


@pytest.fixture(scope="module")
def moved(study, tmp_path_factory):
    """The moved procedure compared twice, into two folders."""
    root = tmp_path_factory.mktemp("moved")
    runs = [compare(study[0], root / name, scans=True) for name in ("a", "b")]
    return root, runs


def test_the_moved_followup_is_registered_back(study, moved) -> None:
    _, ((code, stdout, _), _) = moved
    assert code == 0
    data = json.loads(stdout)
    reg = data["registration"]
    angles, shift = np.array(study[0].motion_deg_mm[:3]), np.array(study[0].motion_deg_mm[3:])
    assert np.allclose(reg["angles_deg"], angles, atol=ROTATION_TOL_DEG)
    assert np.allclose(reg["translation_mm"], shift, atol=TRANSLATION_TOL_MM)
    assert reg["residual_rms_after"] < reg["residual_rms_before"] / 3
    # the segmentation's volume survives the move back (nearest neighbour, same voxel size)
    seg = sitk.GetArrayFromImage(sitk.ReadImage(str(study[0].achieved))) > 0
    assert data["metrics"]["achieved_volume_cm3"] == pytest.approx(seg.sum() * 1e-3, rel=0.03)
    assert data["achieved_outside_domain"] == 0.0
    assert data["metrics"]["dice"] > 0.6


def test_the_log_voltages_are_simulated(study, moved, tmp_path) -> None:
    """The first pair was delivered 100 V below the plan: the log's voltage is the one solved,
    and its predicted zone is smaller than the plan's."""
    _, ((_, stdout, _), _) = moved
    logged = json.loads(stdout)
    plan = load_case(study[0].plan)
    (pair,) = logged["delivered"]["pairs"]
    assert pair["voltage_V"] == plan.protocol.pairs[0].voltage_V - 100
    assert pair["measured_current_A"] > 0 and pair["predicted_current_A"] > 0
    code, stdout, _ = compare(study[0], tmp_path / "plan", scans=True, log=False)
    planned = json.loads(stdout)
    assert code == 0 and planned["delivered"]["from"] == "plan"
    assert planned["delivered"]["pairs"][0]["voltage_V"] == plan.protocol.pairs[0].voltage_V
    assert (planned["metrics"]["predicted_volume_cm3"]
            > logged["metrics"]["predicted_volume_cm3"])


def test_the_comparison_folder_holds_the_registry_keys_and_is_reproducible(moved) -> None:
    root, (first, second) = moved
    assert first[1] == second[1].replace(str(root / "b"), str(root / "a"))
    data = json.loads((root / "a" / "comparison.json").read_text())
    assert set(data["metrics"]) >= {"dice", "hd95_mm", "volume_ratio", "predicted_volume_cm3",
                                    "achieved_volume_cm3", "minimal_ablative_margin_mm"}
    for name in (*data["files"].values(), "comparison.json"):
        a, b = (root / "a" / name).read_bytes(), (root / "b" / name).read_bytes()
        assert a == b, f"{name} differs between two runs of the same input"


def _bad(code: int, stderr: str, path) -> None:
    lines = stderr.strip().splitlines()
    assert code == 2, stderr
    assert len(lines) == 1 and str(path) in lines[0], stderr


def test_an_empty_segmentation_is_refused(study, tmp_path) -> None:
    plan = load_case(study[1].plan)
    empty = write_grid_array(np.zeros(plan.grid().shape, np.uint8), plan.grid(),
                             tmp_path / "empty.nii.gz")
    code, _, stderr = compare(study[1], tmp_path / "out", achieved=empty)
    _bad(code, stderr, empty)
    assert "empty segmentation" in stderr


def test_label_maps_that_do_not_overlap_are_refused(study, tmp_path) -> None:
    image = sitk.ReadImage(str(study[1].achieved))
    image.SetOrigin([o + 200.0 for o in image.GetOrigin()])
    far = tmp_path / "far.nii.gz"
    sitk.WriteImage(image, str(far))
    code, _, stderr = compare(study[1], tmp_path / "out", achieved=far)
    _bad(code, stderr, far)
    assert "do not overlap" in stderr


def test_one_scan_without_the_other_is_refused(study, tmp_path) -> None:
    code, _, stderr = compare(study[0], tmp_path / "out",
                              extra=("--followup-image", study[0].followup_image))
    assert code == 2 and "--planning-image" in stderr and len(stderr.strip().splitlines()) == 1


def test_a_segmentation_from_another_scan_needs_the_scans(study, tmp_path) -> None:
    """An image-based plan (tumour from a label map on the planning grid) and a segmentation
    drawn on the moved follow-up scan, without the scans to register them: refused."""
    plan = load_case(study[0].plan)
    grid = plan.grid()
    tumour = plan.region_masks(grid)["tumour"]
    write_grid_array(tumour.astype(np.uint8), grid, tmp_path / "planning-labels.nii.gz")
    mapping = yaml.safe_load(study[0].plan.read_text())
    mapping["anatomy"]["regions"][0] = {"tissue": "tumour", "image": {
        "path": "planning-labels.nii.gz", "label": 1}}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(mapping))
    code, _, stderr = run_cli("compare", "--plan", tmp_path / "plan.yaml", "--achieved",
                              study[0].achieved, "--out", tmp_path / "out")
    _bad(code, stderr, study[0].achieved)
    assert "--planning-image and --followup-image" in stderr
    # and a segmentation that is not on the follow-up scan's grid, with the scans given
    code, _, stderr = compare(study[0], tmp_path / "out2", scans=True,
                              achieved=study[1].achieved)
    _bad(code, stderr, study[1].achieved)
    assert "follow-up scan's grid" in stderr


def test_a_planning_scan_away_from_the_plan_is_refused(study, tmp_path) -> None:
    image = sitk.ReadImage(str(study[0].planning_image))
    image.SetOrigin([o + 300.0 for o in image.GetOrigin()])
    far = tmp_path / "far-planning.nii.gz"
    sitk.WriteImage(image, str(far))
    code, _, stderr = run_cli("compare", "--plan", study[0].plan, "--achieved",
                              study[0].achieved, "--planning-image", far, "--followup-image",
                              study[0].followup_image, "--out", tmp_path / "out")
    _bad(code, stderr, far)
    assert "covering the plan's domain" in stderr
