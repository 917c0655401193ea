"""The ``irelab robust`` command and ``irelab plan --robust``: output, progress, bad input."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from robust_cases import SMALL_PLAN

from irelab.case import parse_case, write_case


def _irelab(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The command as people run it (stderr is a pipe, not a terminal)."""
    return subprocess.run([sys.executable, "-m", "irelab.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout, encoding="utf-8")


def _refused(monkeypatch, capsys, *args: str) -> str:
    """Run the command in this process (bad input is refused before any work) and return its
    stderr, asserting exit code 2."""
    import irelab.cli.main as cli

    monkeypatch.setattr(sys, "argv", ["irelab", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    return capsys.readouterr().err


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("plan") / "plan.yaml"
    return write_case(parse_case(SMALL_PLAN, source="<small plan>"), path)


def test_robust_prints_the_probability_writes_the_map_and_shows_progress(plan_file,
                                                                         tmp_path) -> None:
    out = tmp_path / "robust"
    run = _irelab("robust", str(plan_file), "--samples", "3", "--workers", "1",
                  "--thermal-samples", "1", "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert "P(100 % tumour coverage) = " in run.stdout and "Clopper-Pearson" in run.stdout
    assert "minimal margin" in run.stdout and "thermal damage in blood" in run.stdout
    assert "field reserve (least field / lethal threshold over the tumour)" in run.stdout
    progress = [line for line in run.stderr.splitlines() if line.startswith("robust: ")]
    assert any("3/3 samples" in line for line in progress), run.stderr
    assert (out / "probability.nii.gz").exists() and (out / "probability_axial.png").exists()
    data = json.loads((out / "robust.json").read_text(encoding="utf-8"))
    assert data["samples"] == 3 and data["coverage_probability"]["method"] == "Clopper-Pearson"
    assert data["model"]["placement"]["lateral_sd_mm"] == 2.95
    assert [s["field_reserve"] >= 1 for s in data["samples_detail"]] == [
        s["coverage"] == 1 for s in data["samples_detail"]]
    assert data["nominal"]["field_reserve"] >= 1 and "95" in data["field_reserve"]["quantiles"]
    # the samples whose current would pass the generator's limit: counted against the
    # first-pulse limit the planner uses for the plan's pulses, and printed
    limit = data["first_pulse_current_limit_A"]
    over = data["current_over_limit_probability"]
    currents = [s["max_current_A"] for s in data["samples_detail"] if s["simulated"]]
    assert 0 < limit < 50 and over["trials"] == len(currents)
    assert over["successes"] == sum(i > limit for i in currents)
    assert "current over the generator's limit on some pulse" in run.stdout
    # as delivered: a sample re-delivers a pair exactly when its current is over the limit,
    # and with none over, the coverage as delivered is the coverage
    for s in data["samples_detail"]:
        if s["simulated"]:
            assert (s["redelivered_pairs"] > 0) == (s["max_current_A"] > limit)
            if s["redelivered_pairs"] == 0:
                assert s["coverage_as_delivered"] == s["coverage"]
    if over["successes"] == 0:
        assert data["coverage_probability_as_delivered"] == data["coverage_probability"]


def test_json_and_options_reach_the_model(plan_file, scheduler) -> None:
    """On the test's running Dask cluster (``--scheduler``): no local cluster to start."""
    address, _ = scheduler
    run = _irelab("robust", str(plan_file), "--samples", "2", "--scheduler", address,
                  "--thermal-samples", "0", "--json", "--seed", "4", "--lateral-sd-mm", "0",
                  "--depth-sd-mm", "0", "--angle-sd-deg", "0")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["model"]["seed"] == 4
    assert data["model"]["sources"]["placement.lateral_sd_mm"] == "the command line"
    assert data["thermal_damage_probability"] is None
    assert all(not p["parameter"].startswith(("array", "P1")) for p in data["sensitivity"])


@pytest.mark.parametrize("args, key", [
    (["--samples", "0"], "--samples"),
    (["--samples", "-5"], "--samples"),
    (["--lateral-sd-mm", "-1"], "--lateral-sd-mm"),
    (["--correlation", "1.5"], "--correlation"),
    (["--thermal-samples", "-1"], "--thermal-samples"),
])
def test_bad_options_are_one_line_and_exit_2(plan_file, monkeypatch, capsys, args,
                                             key) -> None:
    err = _refused(monkeypatch, capsys, "robust", str(plan_file), *args)
    assert err.count("\n") == 1 and key in err


def test_a_file_that_is_not_a_case_is_exit_2(tmp_path, monkeypatch, capsys) -> None:
    bad = tmp_path / "notes.yaml"
    bad.write_text("- just\n- a list\n", encoding="utf-8")
    err = _refused(monkeypatch, capsys, "robust", str(bad))
    assert "notes.yaml" in err and err.count("\n") == 1


def test_a_case_without_a_plan_is_exit_2(tmp_path, monkeypatch, capsys) -> None:
    anatomy = dict(SMALL_PLAN)
    anatomy.pop("probes")
    anatomy.pop("protocol")
    path = write_case(parse_case(anatomy, source="<anatomy>"), tmp_path / "case.yaml")
    err = _refused(monkeypatch, capsys, "robust", str(path), "--samples", "2")
    assert "run irelab plan first" in err and err.count("\n") == 1


def test_unreachable_scheduler_is_exit_2_after_a_bounded_wait(plan_file) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = _irelab("robust", str(plan_file), "--samples", "2", "--scheduler",
                  f"tcp://127.0.0.1:{port}", "--scheduler-timeout-s", "1", timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith("irelab: irelab robust: --scheduler")
    assert "answering within 1 s" in run.stderr


def test_plan_robust_refuses_a_probability_outside_0_1(plan_file, monkeypatch, capsys) -> None:
    assert "--robust" in _refused(monkeypatch, capsys, "plan", str(plan_file), "--robust", "1.5")


def test_plan_robust_refuses_a_grid_coarser_than_the_probes(plan_file, monkeypatch,
                                                            capsys) -> None:
    err = _refused(monkeypatch, capsys, "plan", str(plan_file), "--robust", "0.9",
                   "--spacing-mm", "2")
    assert "--spacing-mm" in err and "below the probes' diameter (1.1 mm)" in err


def test_robust_refuses_a_plan_on_a_grid_coarser_than_its_probes(tmp_path, monkeypatch,
                                                                 capsys) -> None:
    thin = {**SMALL_PLAN, "probes": [{**p, "diameter_mm": 1.1} for p in SMALL_PLAN["probes"]]}
    path = write_case(parse_case(thin, source="<thin>"), tmp_path / "thin.yaml")
    err = _refused(monkeypatch, capsys, "robust", str(path))
    assert "domain.spacing_mm" in err and "thinnest probe's diameter (1.1 mm)" in err
