"""A whole procedure through the real command line, one process per command: plan a small
tumour; the probe of the first pair lands 2.5 mm further out and tilted 3 degrees (the CT after
placement, as a CSV); `irelab replan` raises that pair and restores the planned coverage (twice,
byte-identical); `irelab deliver` refuses to arm without the pre-arm checklist or with an item
missing, then delivers the re-planned plan with the checklist while a train-of-four count of 1
entered mid-way pauses the generator until a count of 0; the registry imports the procedure
with anaesthesia, block and synchronisation from the log and its deviations in the notes."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from cli_run import enrol_patient, irelab, registry_env
from irelab.case import load_case
from irelab.delivery import EventType, read_delivery_log

TUMOUR = """\
name: small
description: a 4 mm tumour; with a 3 mm margin four probes around it
domain: {size_mm: [32, 32, 32], spacing_mm: 1.0}
anatomy:
  background: liver
  regions:
    - {tissue: tumour, sphere: {center_mm: [0, 0, 0], radius_mm: 4}}
tissues:
  liver: {like: liver-sel2005}
  tumour: {like: tumour-sel2005}
"""
ITEMS = """\
armed_at: 2026-01-12T10:00:00
items:
  general_anaesthesia: {confirmed_by: Dr A, time: 2026-01-12T09:20:00}
  neuromuscular_block: {confirmed_by: Dr A, time: 2026-01-12T09:40:00, tof_count: 0}
  ecg_synchroniser: {confirmed_by: N, time: 2026-01-12T09:45:00}
  probe_positions: {confirmed_by: Dr R, time: 2026-01-12T09:55:00, note: CT after placement}
  exposed_lengths: {confirmed_by: Dr R, time: 2026-01-12T09:56:00}
"""
TOF = """\
train_of_four:
  - {time: 2026-01-12T10:01:00, count: 1, entered_by: Dr A}
  - {time: 2026-01-12T10:01:40, count: 0, entered_by: Dr A}
"""
LOST_S, RESTORED_S = 60.0, 100.0
OFF_MM, TILT_DEG = 2.5, 3.0



def _measured(plan_file: Path, out: Path) -> str:
    """The CT after placement: the anode of the pair with the lowest voltage (the one with room
    to be raised) 2.5 mm further from its cathode and tilted 3 degrees outwards, every other
    probe as planned. Returns the moved probe's name. (Moving a probe of a pair already near
    3000 V makes the re-plan raise another pair instead, as it should: which pair comes first
    depends on the plan's layout.)"""
    plan = load_case(plan_file)
    pair = min(plan.protocol.pairs, key=lambda p: p.voltage_V)
    probes = {p.name: p for p in plan.probes}
    moved, partner = probes[pair.anode], probes[pair.cathode]
    axis = np.asarray(moved.direction)
    away = np.asarray(moved.tip_mm) - np.asarray(partner.tip_mm)
    away -= (away @ axis) * axis
    away /= np.linalg.norm(away)
    tilt = math.radians(TILT_DEG)
    rows = ["name,tip_x_mm,tip_y_mm,tip_z_mm,direction_x,direction_y,direction_z"]
    for p in plan.probes:
        tip, u = np.asarray(p.tip_mm), np.asarray(p.direction)
        if p.name == moved.name:
            tip = tip + OFF_MM * away
            u = math.cos(tilt) * u + math.sin(tilt) * away
        rows.append(",".join([p.name, *(f"{c:.6f}" for c in (*tip, *u))]))
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return moved.name


@pytest.mark.slow
def test_plan_replan_deliver_and_record(tmp_path) -> None:
    db = tmp_path / "registry.sqlite"
    env = registry_env(tmp_path)
    (tmp_path / "tumour.yaml").write_text(TUMOUR, encoding="utf-8")
    planned = json.loads(irelab("plan", "tumour.yaml", "--margin-mm", "3", "--spacing-mm",
                                "1.5", "--out", "plan", "--json", env=env,
                                cwd=tmp_path).stdout)
    assert planned["feasible"]
    moved = _measured(tmp_path / "plan" / "plan.yaml", tmp_path / "ct.csv")

    runs = [irelab("replan", "plan/plan.yaml", "--measured", "ct.csv", "--margin-mm", "3",
                   "--out", out, "--json", env=env, cwd=tmp_path) for out in ("replanned", "again")]
    replans = [json.loads(run.stdout) for run in runs]
    # stderr is a pipe, as in a log: each solve's progress line with the share of the work
    # budget spent and the elapsed time
    assert re.search(r"^replan: solve P\d+-P\d+ \d+ V +\d+ %  \d+:\d\d$", runs[0].stderr,
                     re.MULTILINE), runs[0].stderr
    assert (tmp_path / "replanned" / "plan.yaml").read_bytes() == \
        (tmp_path / "again" / "plan.yaml").read_bytes()
    report = replans[0]
    coverage = report["coverage"]
    assert coverage["as_placed"] < coverage["planned"] <= coverage["replanned"]
    assert report["covered"] and report["coverage_lost"] > 0
    (probe,) = [p for p in report["probes"] if p["lateral_mm"] > 0]
    assert probe["name"] == moved and probe["lateral_mm"] == pytest.approx(OFF_MM, abs=1e-3)
    assert probe["angle_deg"] == pytest.approx(TILT_DEG, abs=1e-3)
    raised = [p for p in report["pairs"] if p["voltage_V_planned"] is not None
              and p["voltage_V"] > p["voltage_V_planned"]]
    added = [p for p in report["pairs"] if p["voltage_V_planned"] is None]
    assert raised or added
    assert all(moved in (p["anode"], p["cathode"]) for p in raised)
    assert all(p["voltage_V"] <= 3000 for p in report["pairs"])

    # arming is refused without the checklist, or with an item missing, before any log
    no_list = irelab("deliver", "replanned/plan.yaml", "--hr", "70", "--log", "never.jsonl",
                     env=env, cwd=tmp_path, code=2)
    assert "--checklist" in no_list.stderr
    (tmp_path / "partial.yaml").write_text(ITEMS.replace(
        "  ecg_synchroniser: {confirmed_by: N, time: 2026-01-12T09:45:00}\n", ""),
        encoding="utf-8")
    partial = irelab("deliver", "replanned/plan.yaml", "--hr", "70", "--checklist",
                     "partial.yaml", "--log", "never.jsonl", env=env, cwd=tmp_path, code=2)
    assert "items.ecg_synchroniser" in partial.stderr and not (tmp_path / "never.jsonl").exists()

    (tmp_path / "checklist.yaml").write_text(ITEMS + TOF, encoding="utf-8")
    delivered = json.loads(irelab("deliver", "replanned/plan.yaml", "--hr", "70",
                                  "--checklist", "checklist.yaml", "--log", "log.jsonl",
                                  "--json", env=env, cwd=tmp_path).stdout)
    assert delivered["outcome"] == "complete"
    log = read_delivery_log(tmp_path / "log.jsonl")
    pulses = [e.t_ms / 1e3 for e in log.events if e.event == EventType.PULSE]
    assert not [t for t in pulses if LOST_S <= t < RESTORED_S]
    assert any(t < LOST_S for t in pulses) and any(t > RESTORED_S for t in pulses)
    (pause,) = delivered["record"]["pauses"]
    assert pause["reason"] == "neuromuscular_block" and pause["t_s"] == LOST_S
    assert pause["resumed_s"] >= RESTORED_S
    replanned = load_case(tmp_path / "replanned" / "plan.yaml")
    volts = {p.name: p.voltage_V for p in replanned.protocol.pairs}
    assert {e.pair: e.voltage_V for e in log.events if e.event == EventType.PULSE} == volts
    assert [e.reason for e in log.events if e.event == EventType.REPLAN] == [
        c["kind"] for c in report["changes"]]
    compared = delivered["delivered_vs_planned"]
    assert all(c["pulses"] == c["pulses_planned"] for c in compared)

    enrol_patient(env, tmp_path, "PRO-1,A,M,64,2026-01-05,2026-06-01")
    imported = json.loads(irelab(
        "registry", "import-procedure", "--plan", "replanned/plan.yaml", "--log", "log.jsonl",
        "--study-id", "PRO-1", "--date", "2026-01-12", "--user", "inv", "--json",
        env=env, cwd=tmp_path).stdout)
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT general_anaesthesia, neuromuscular_block, cardiac_sync, max_voltage_V, notes "
            "FROM procedures WHERE id = :p"), {"p": imported["procedure_id"]}).one()
    engine.dispose()
    assert (row.general_anaesthesia, row.neuromuscular_block, row.cardiac_sync) == (1, 1, 1)
    assert row.max_voltage_V == max(volts.values())
    assert "neuromuscular block confirmed by Dr A" in row.notes
    assert "re-planned: " in row.notes and report["changes"][0]["detail"] in row.notes
    assert "neuromuscular block lost: train-of-four count 1" in row.notes
