"""The `irelab registry` commands on a temporary SQLite file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from irelab.cli.main import app


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("IRELAB_REGISTRY_URL", f"sqlite:///{tmp_path / 'cli.sqlite'}")
    monkeypatch.setenv("IRELAB_NEW_PASSWORD", "cli password 1")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["registry", *args])

    return invoke


def _csv(path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_setup_seed_and_export_by_role(run, tmp_path) -> None:
    assert run("init-db").exit_code == 0
    assert run("create-site", "A", "Site A").exit_code == 0
    assert run("create-user", "dm", "--role", "data_manager").exit_code == 0
    assert run("create-user", "mon", "--role", "monitor").exit_code == 0
    bad = run("create-user", "inv", "--role", "investigator")
    assert bad.exit_code == 2 and "investigators need a site" in bad.stderr
    seeded = run("seed-demo", "--n-patients", "4", "--seed", "3")
    assert seeded.exit_code == 0 and "SYNTHETIC" in seeded.stderr
    for user in ("dm", "mon"):
        r = run("export", "--out", str(tmp_path / user), "--user", user, "--json")
        assert r.exit_code == 0, r.stderr
        assert len(json.loads(r.stdout)["files"]) == 9  # 8 tables and the dictionary
    real, seen = _csv(tmp_path / "dm/patients.csv"), _csv(tmp_path / "mon/patients.csv")
    assert [p["study_id"] for p in real] == [p["study_id"] for p in seen]
    assert all(a["inclusion_date"] != b["inclusion_date"] for a, b in zip(real, seen, strict=True))
    assert "date_shift_days" not in real[0]


def test_import_rejects_a_file_with_a_bad_row_and_exits_2(run, tmp_path) -> None:
    run("create-site", "A", "Site A")
    run("create-user", "dm", "--role", "data_manager")
    path = tmp_path / "p.csv"
    path.write_text(
        "study_id,site,sex,age_years,inclusion_date,last_contact_date\n"
        "C-1,A,F,50,2024-01-01,2024-02-01\n"
        "C-2,A,F,50,2024-01-01,2023-02-01\n"
    )
    r = run("import", "patients", str(path), "--user", "dm")
    assert r.exit_code == 2
    assert "row 2, column last_contact_date" in r.stderr
    r = run("export", "--out", str(tmp_path / "x"), "--user", "dm")
    assert _csv(tmp_path / "x/patients.csv") == []
    path.write_text(path.read_text().replace("2023-02-01", "2024-03-01"))
    r = run("import", "patients", str(path), "--user", "dm", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"table": "patients", "imported": 2}


def test_report_demo_writes_a_labelled_html_report(run, tmp_path) -> None:
    r = run("report", "--demo", "--out", str(tmp_path / "rep"), "--json")
    assert r.exit_code == 0, r.stderr
    index = Path(json.loads(r.stdout)["report"])
    html = index.read_text(encoding="utf-8")
    assert index.name == "index.html" and "SYNTHETIC" in html
    assert 'id="margins"' in html and 'id="agreement"' in html
    margins = json.loads(r.stdout)["margins"]  # the demo cohort's margin analysis
    counted = sum(g["tumours"] for g in margins["groups"])
    assert counted == margins["at_risk"] - margins["without_margin"] > 0
    margin_hr = margins["cox"]["hazard_ratios"]["margin_mm"]
    assert margin_hr["low"] <= margin_hr["estimate"] <= margin_hr["high"] < 1.0
    assert margins["zones"] > 0 and 0.0 < margins["dice_median"] < 1.0
