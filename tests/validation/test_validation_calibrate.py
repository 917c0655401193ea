"""``irelab calibrate`` recovers the synthetic study's known threshold and conductivity scale
within its intervals, writes a tissue file a case includes, and warns when data are too few."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from case_examples import two_needles
from validation_cli import run_cli
from validation_study import TRUE_CONDUCTIVITY_SCALE, TRUE_THRESHOLD_V_PER_CM

from irelab.case import load_case
from irelab.validation.calibrate import dice_curves
from irelab.validation.comparison_file import read_comparison


@pytest.fixture(scope="module")
def comparisons(study, tmp_path_factory):
    """Every procedure compared (the moved one through its scans), with its delivery log."""
    root = tmp_path_factory.mktemp("comparisons")
    folders = []
    for i, proc in enumerate(study):
        args = ["compare", "--plan", proc.plan, "--achieved", proc.achieved, "--log", proc.log,
                "--out", root / f"c{i + 1}"]
        if proc.planning_image is not None:
            args += ["--planning-image", proc.planning_image, "--followup-image",
                     proc.followup_image]
        code, _, stderr = run_cli(*args)
        assert code == 0, stderr
        folders.append(root / f"c{i + 1}")
    return folders


def test_the_known_threshold_and_scale_are_recovered(comparisons, tmp_path) -> None:
    out = tmp_path / "site-liver.yaml"
    code, stdout, stderr = run_cli("calibrate", *comparisons, "--out", out,
                                   "--fit-conductivity", "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    low, high = result["interval_95_V_per_cm"]
    assert low <= TRUE_THRESHOLD_V_PER_CM <= high
    assert low <= result["lethal_threshold_V_per_cm"] <= high
    a, b = result["conductivity_interval_95"]
    assert a <= TRUE_CONDUCTIVITY_SCALE <= b
    assert result["mean_dice"] >= result["mean_dice_before"]
    assert set(result["tissues"]) == {"liver", "tumour"}
    assert not any("too few" in w for w in result["warnings"])
    # a case that includes the file gets the calibrated threshold and conductivity
    mapping = two_needles(include=[out.name])
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(mapping))
    case = load_case(tmp_path / "case.yaml")
    liver = case.tissues["liver"]
    assert liver.lethal_V_per_cm == result["lethal_threshold_V_per_cm"]
    assert liver.sigma0_S_per_m == pytest.approx(0.13 * result["conductivity_scale"], rel=1e-3)
    assert "site calibration" in liver.source


def test_two_runs_write_the_same_file(comparisons, tmp_path) -> None:
    for name in ("a.yaml", "b.yaml"):
        code, _, _ = run_cli("calibrate", *comparisons, "--out", tmp_path / name, "--seed", 7)
        assert code == 0
    assert (tmp_path / "a.yaml").read_bytes() == (tmp_path / "b.yaml").read_bytes()


def test_too_few_comparisons_are_flagged(comparisons, tmp_path) -> None:
    code, _, stderr = run_cli("calibrate", *comparisons[:2], "--out", tmp_path / "few.yaml")
    assert code == 1
    assert "too few comparisons" in stderr
    assert "too few" in yaml.safe_load((tmp_path / "few.yaml").read_text())["description"]


def test_dice_curves_reproduce_the_stored_dice(comparisons) -> None:
    """At each comparison's own threshold the recomputed Dice is the one compare reported."""
    for folder in comparisons[:3]:
        stored = read_comparison(folder)
        own = stored.tissues[0].lethal_V_per_cm
        curve = dice_curves([stored], np.array([own]))
        assert curve[0, 0] == pytest.approx(stored.dice, abs=1e-4)


def test_something_else_than_a_comparison_is_refused(tmp_path) -> None:
    bogus = tmp_path / "comparison.json"
    bogus.write_text(json.dumps({"format": "something"}))
    code, _, stderr = run_cli("calibrate", bogus, "--out", tmp_path / "x.yaml")
    assert code == 2 and str(bogus) in stderr and len(stderr.strip().splitlines()) == 1
