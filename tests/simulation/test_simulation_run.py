"""Simulating a case: the --json contract, the lethal-zone definition, pullbacks, outputs."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import yaml
from case_examples import two_needles

from irelab.case import parse_case
from irelab.field import FieldSolver
from irelab.simulation import simulate_case


@pytest.fixture(scope="module")
def result():
    return simulate_case(parse_case(two_needles()))


def test_json_has_the_documented_keys(result) -> None:
    data = json.loads(json.dumps(result.to_json()))
    assert set(data) >= {"pairs", "lethal", "regions"}
    (pair,) = data["pairs"]
    assert {"anode", "cathode", "voltage_V", "current_A", "converged", "iterations"} <= set(pair)
    assert (pair["anode"], pair["cathode"], pair["voltage_V"]) == ("P1", "P2", 1500)
    assert pair["converged"] is True and pair["iterations"] >= 1 and pair["current_A"] > 0
    assert set(data["lethal"]) == {"volume_cm3", "extent_mm"}
    assert len(data["lethal"]["extent_mm"]) == 3
    assert set(data["regions"]) == {"liver", "tumour", "blood"}
    for region in data["regions"].values():
        assert set(region) == {"volume_cm3", "lethal_fraction"}
        assert 0 <= region["lethal_fraction"] <= 1
    # every tissue used is reported with its model numbers and its source
    assert set(data["tissues"]) == {"liver", "tumour", "blood"}
    assert data["tissues"]["liver"]["e_irr_V_per_cm"] == 637
    assert all(len(t["source"]) > 30 for t in data["tissues"].values())
    # tumour sphere of 6 mm on a 1 mm grid
    assert data["regions"]["tumour"]["volume_cm3"] == pytest.approx(4 / 3 * np.pi * 0.6**3,
                                                                    rel=0.05)


def test_lethal_zone_is_max_field_at_or_above_the_local_threshold(result) -> None:
    """Recomputed independently: a fresh solver, the tissue table's lethal threshold per
    voxel."""
    case = parse_case(two_needles())
    problem = case.field_problem()
    sol = FieldSolver(problem).solve_pair("P1", "P2", 1500)
    lethal_V_per_m = np.array([case.tissues[n].lethal_V_per_cm * 100
                               for n in problem.tissue_names])
    lethal = (sol.e_field_V_per_m >= lethal_V_per_m[problem.labels]) & ~result.conductor
    assert np.array_equal(lethal, result.lethal)
    assert result.lethal_volume_cm3 == pytest.approx(lethal.sum() * 1e-3)
    assert result.pairs[0].current_A == pytest.approx(sol.current_A, rel=1e-9)
    # the extent is the lethal bounding box: between the needles and beyond them in x
    extent = result.lethal_extent_mm
    assert 10 < extent[0] < 30 and extent[2] >= 15


def test_reversing_polarity_gives_the_same_current_and_zone() -> None:
    forward = simulate_case(parse_case(two_needles()))
    mapping = two_needles()
    mapping["protocol"]["pairs"] = [{"anode": "P2", "cathode": "P1", "voltage_V": 1500}]
    backward = simulate_case(parse_case(mapping))
    assert backward.pairs[0].current_A == pytest.approx(forward.pairs[0].current_A, rel=2e-3)
    assert (backward.lethal != forward.lethal).sum() <= 0.01 * forward.lethal.sum()


def test_linear_medium_current_is_proportional_to_voltage() -> None:
    """sigma0 = sigma1 gives a linear medium: I(2V) = 2 I(V) (Sel 2005 presets pinned)."""
    linear = {"liver": {"like": "liver-sel2005", "sigma1_S_per_m": 0.067},
              "tumour": {"like": "tumour-sel2005", "sigma1_S_per_m": 0.134}}
    currents = []
    for volts in (700, 1400):
        mapping = two_needles(tissues=linear)
        mapping["protocol"]["pairs"][0]["voltage_V"] = volts
        currents.append(simulate_case(parse_case(mapping)).pairs[0].current_A)
    assert currents[1] == pytest.approx(2 * currents[0], rel=1e-3)


def test_every_pair_and_pullback_position_is_solved_and_maximised() -> None:
    mapping = two_needles()
    mapping["probes"].append({"name": "P3", "tip_mm": [0, 7, -8], "direction": [0, 0, 1],
                              "exposed_mm": 15})
    mapping["protocol"]["pairs"].append({"anode": "P3", "cathode": "P1", "voltage_V": 1200})
    mapping["protocol"]["pullback_steps_mm"] = [5]
    result = simulate_case(parse_case(mapping))
    assert [(p.anode, p.position) for p in result.pairs] == [
        ("P1", 0), ("P3", 0), ("P1", 1), ("P3", 1)]
    one = two_needles()
    one["probes"] = mapping["probes"]
    one["protocol"]["pairs"] = mapping["protocol"]["pairs"][:1]
    single = simulate_case(parse_case(one))
    assert result.lethal_volume_cm3 > single.lethal_volume_cm3
    assert (single.lethal & ~result.lethal).sum() == 0  # the max over pairs only adds


def test_case_without_pairs_is_refused() -> None:
    from irelab.errors import InputError

    mapping = two_needles()
    mapping["protocol"]["pairs"] = []
    with pytest.raises(InputError, match="at least one electrode pair"):
        simulate_case(parse_case(mapping))


def test_command_writes_nifti_figures_and_json(tmp_path) -> None:
    import nibabel as nib
    from typer.testing import CliRunner

    from irelab.cli.main import app

    case_file = tmp_path / "case.yaml"
    case_file.write_text(yaml.safe_dump(two_needles()))
    out = tmp_path / "out"
    run = CliRunner().invoke(app, ["simulate", str(case_file), "--out", str(out), "--json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout.strip().splitlines()[-1])
    assert data == json.loads((out / "result.json").read_text())
    # stderr is not a terminal here: progress as log lines, the last one the finished run
    assert re.search(r"^simulate: done  100 %  \d+:\d\d$", run.stderr, re.MULTILINE), run.stderr
    e = nib.load(out / "e_field_V_per_cm.nii.gz")
    lethal = nib.load(out / "lethal.nii.gz")
    assert e.shape == lethal.shape == (40, 40, 30)
    # 1 mm voxels; NIfTI is RAS, the case frame LPS: x and y flip sign
    assert np.allclose(e.affine[:3, :3], np.diag([-1.0, -1.0, 1.0]))
    assert np.allclose(e.affine[:3, 3], [19.5, 19.5, -14.5])
    assert data["labels"] == {"0": "liver", "1": "tumour", "2": "blood"}
    assert (out / "labels.ctbl").read_text().splitlines()[3].startswith("1 tumour ")
    volume = np.asarray(lethal.dataobj).sum() * 1e-3
    assert volume == pytest.approx(data["lethal"]["volume_cm3"], abs=1e-3)
    for plane in ("axial", "coronal", "sagittal"):
        png = out / f"slice_{plane}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = CliRunner().invoke(app, ["simulate", str(case_file), "--spacing-mm", "2"])
    assert text.exit_code == 0 and "lethal zone" in text.stdout


def test_a_tissue_without_source_simulates_and_is_marked_unsourced(tmp_path) -> None:
    """A new tissue given by its four numbers and no source: the case simulates; --json says
    ``sourced: false`` with no source, and the table output names it UNSOURCED."""
    from typer.testing import CliRunner

    from irelab.cli.main import app

    mapping = two_needles(tissues={"gel": {"sigma0_S_per_m": 0.1, "sigma1_S_per_m": 0.3,
                                           "e_rev_V_per_cm": 300, "e_irr_V_per_cm": 600}})
    mapping["anatomy"]["regions"][0]["tissue"] = "gel"
    case_file = tmp_path / "gel.yaml"
    case_file.write_text(yaml.safe_dump(mapping))
    run = CliRunner().invoke(app, ["simulate", str(case_file), "--spacing-mm", "2", "--json"])
    assert run.exit_code == 0, run.output
    tissues = json.loads(run.stdout.strip().splitlines()[-1])["tissues"]
    assert tissues["gel"]["sourced"] is False and tissues["gel"]["source"] is None
    assert tissues["liver"]["sourced"] is True
    table = CliRunner().invoke(app, ["simulate", str(case_file), "--spacing-mm", "2"])
    assert table.exit_code == 0 and "gel is UNSOURCED" in table.output
