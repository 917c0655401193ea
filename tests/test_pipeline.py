"""The whole pipeline through the real command line, one process per command: plan a phantom
that needs two placements, deliver the plan on a synthetic rhythm, import the procedure into the
registry, write the study report. The registry must hold every pair at every placement with the
pulses and currents the delivery log records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from irelab.case import load_case
from irelab.delivery import read_delivery_log

ROD = """\
name: rod
description: a tumour rod 50 mm long; with a 3 mm margin it outgrows one placement of 40 mm
  electrodes, so the plan pulls the probes back once (Sel 2005 tissues pinned; the pipeline,
  not the tissue model, is under test)
domain: {size_mm: [24, 24, 72], spacing_mm: 1.0}
anatomy:
  background: liver
  regions:
    - {tissue: tumour, cylinder: {start_mm: [0, 0, -25], end_mm: [0, 0, 25], radius_mm: 3}}
tissues:
  liver: {like: liver-sel2005}
  tumour: {like: tumour-sel2005}
"""


CHECKLIST = """\
armed_at: 2026-01-12T10:00:00
items:
  general_anaesthesia: {confirmed_by: Dr A, time: 2026-01-12T09:20:00}
  neuromuscular_block: {confirmed_by: Dr A, time: 2026-01-12T09:40:00, tof_count: 0}
  ecg_synchroniser: {confirmed_by: N, time: 2026-01-12T09:45:00}
  probe_positions: {confirmed_by: Dr R, time: 2026-01-12T09:55:00}
  exposed_lengths: {confirmed_by: Dr R, time: 2026-01-12T09:56:00}
"""


def _irelab(*args: str, env: dict, cwd: Path, code: int = 0) -> subprocess.CompletedProcess:
    run = subprocess.run([sys.executable, "-m", "irelab.cli.main", *args], cwd=cwd, env=env,
                         capture_output=True, text=True, encoding="utf-8", timeout=600)
    assert run.returncode == code, f"{args[0]}: {run.returncode}\n{run.stdout}\n{run.stderr}"
    return run


@pytest.mark.slow
def test_plan_deliver_import_report(tmp_path) -> None:
    db = tmp_path / "registry.sqlite"
    env = os.environ | {"IRELAB_REGISTRY_URL": f"sqlite:///{db}",
                        "IRELAB_NEW_PASSWORD": "pipeline password 1", "PYTHONUTF8": "1"}
    (tmp_path / "rod.yaml").write_text(ROD, encoding="utf-8")

    planned = json.loads(_irelab("plan", "rod.yaml", "--margin-mm", "3", "--out", "plan",
                                 "--json", env=env, cwd=tmp_path).stdout)
    assert planned["feasible"] and planned["pullback_positions"] == 2
    plan = load_case(tmp_path / "plan" / "plan.yaml")
    assert plan.positions == 2

    (tmp_path / "checklist.yaml").write_text(CHECKLIST, encoding="utf-8")
    delivered = json.loads(_irelab("deliver", "plan/plan.yaml", "--hr", "70", "--log",
                                   "log.jsonl", "--checklist", "checklist.yaml", "--json",
                                   env=env, cwd=tmp_path).stdout)
    assert delivered["outcome"] == "complete"
    log = read_delivery_log(tmp_path / "log.jsonl").summary()
    assert {(p.key.pair, p.key.placement) for p in log.pairs} == {
        (k.pair, k.placement) for k in plan.protocol.keys()}

    _irelab("registry", "init-db", env=env, cwd=tmp_path)
    _irelab("registry", "create-site", "A", "Site A", env=env, cwd=tmp_path)
    _irelab("registry", "create-user", "inv", "--role", "investigator", "--site", "A",
            env=env, cwd=tmp_path)
    (tmp_path / "patients.csv").write_text(
        "study_id,site,sex,age_years,inclusion_date,last_contact_date\n"
        "ROD-1,A,F,61,2026-01-10,2026-06-01\n", encoding="utf-8")
    _irelab("registry", "import", "patients", "patients.csv", "--user", "inv", env=env,
            cwd=tmp_path)
    imported = json.loads(_irelab(
        "registry", "import-procedure", "--plan", "plan/plan.yaml", "--log", "log.jsonl",
        "--study-id", "ROD-1", "--date", "2026-01-12", "--user", "inv", "--json",
        env=env, cwd=tmp_path).stdout)
    assert imported["pairs"] == len(plan.protocol.pairs) * plan.positions

    report = json.loads(_irelab("registry", "report", "--user", "inv", "--out", "report",
                                "--json", env=env, cwd=tmp_path).stdout)
    index = tmp_path / report["report"]
    assert index.is_file() and "procedure" in index.read_text(encoding="utf-8").lower()

    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT anode, cathode, placement, delivered_pulses, max_current_A, energy_J "
            "FROM procedure_pairs WHERE procedure_id = :p ORDER BY placement, id"),
            {"p": imported["procedure_id"]}).all()
    engine.dispose()
    pairs = plan.protocol.pairs
    assert [(r.anode, r.cathode, r.placement, r.delivered_pulses) for r in rows] == [
        (pairs[p.key.pair].anode, pairs[p.key.pair].cathode, p.key.placement, p.pulses)
        for p in log.pairs]
    assert [(r.max_current_A, r.energy_J) for r in rows] == [
        (pytest.approx(p.max_current_A), pytest.approx(p.energy_J)) for p in log.pairs]
    assert all(r.delivered_pulses == plan.protocol.pulses for r in rows)
    assert all(r.max_current_A <= 50.0 for r in rows)
