"""A procedure from a plan file and its delivery log."""

from __future__ import annotations

import json

import pytest
from registry_cases import PATIENT, auth

from irelab.errors import InputError
from irelab.registry.database import Registry
from irelab.registry.models import ProcedurePair
from irelab.registry.procedure_import import import_procedure, summarise_delivery
from irelab.registry.security import Actor

PLAN = """name: two-pairs
domain: {size_mm: [60, 60, 60], spacing_mm: 2}
probes:
  - {name: P1, tip_mm: [-7.5, 0, -10], direction: [0, 0, 1], exposed_mm: 20}
  - {name: P2, tip_mm: [7.5, 0, -10], direction: [0, 0, 1], exposed_mm: 20}
  - {name: P3, tip_mm: [0, 12, -10], direction: [0, 0, 1], exposed_mm: 20}
protocol:
  pulses: 2
  pulse_width_us: 90
  pairs:
    - {anode: P1, cathode: P2, voltage_V: 1500, predicted_current_A: 23.5}
    - {anode: P2, cathode: P3, voltage_V: 1800}
"""
EVENTS = [
    {"type": "state", "t_ms": 0, "state": "armed"},
    {"type": "beat", "t_ms": 10},
    {"type": "pulse", "t_ms": 60, "pair": 0, "voltage_V": 1500, "current_A": 22.0, "energy_J": 3.0},
    {"type": "beat", "t_ms": 900},
    {"type": "skip", "t_ms": 950, "reason": "ectopic beat"},
    {
        "type": "pulse",
        "t_ms": 1800,
        "pair": "P1-P2",
        "voltage_V": 1500,
        "current_A": 24.0,
        "energy_J": 3.2,
    },
    {
        "type": "pulse",
        "t_ms": 2700,
        "pair": ["P2", "P3"],
        "voltage_V": 1800,
        "current_A": 30.5,
        "energy_J": 4.0,
    },
    {"type": "mystery", "t_ms": 2800},
]


@pytest.fixture
def files(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    log = tmp_path / "delivery.jsonl"
    log.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n\n")
    return plan, log


def test_summary_counts_pulses_peaks_and_energy_per_pair(files) -> None:
    plan, log = files
    summary = summarise_delivery(plan, log)
    assert (summary.n_probes, summary.pulses, summary.max_voltage_V) == (3, 3, 1800)
    assert summary.max_current_A == 30.5 and summary.cardiac_sync is True
    first, second = summary.pairs
    assert (first.delivered_pulses, first.max_current_A, first.energy_J) == (2, 24.0, 6.2)
    assert first.predicted_current_A == 23.5
    assert (second.delivered_pulses, second.max_current_A) == (1, 30.5)


def test_plan_without_log_gives_the_planned_dose(files) -> None:
    summary = summarise_delivery(files[0])
    assert (summary.pulses, summary.max_voltage_V, summary.max_current_A) == (4, 1800, 23.5)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("not json", "line 1"),
        ('{"type": "pulse", "pair": "P1-P9"}', "line 1.pair"),
        ('{"type": "pulse", "pair": 0, "current_A": "high"}', "line 1.current_A"),
    ],
)
def test_bad_log_lines_name_the_file_and_line(files, line, key) -> None:
    plan, log = files
    log.write_text(line + "\n")
    with pytest.raises(InputError) as info:
        summarise_delivery(plan, log)
    assert info.value.key == key and info.value.source == str(log)


def test_import_adds_a_procedure_with_its_pairs(client, db_url, files) -> None:
    patient = client.post("/api/patients", json=PATIENT, headers=auth("inv_a")).json()["id"]
    registry = Registry.open(db_url, upgrade=False)
    actor = Actor("inv_a", "investigator", 1)
    with registry.session("inv_a") as session:
        proc = import_procedure(
            session, actor, summarise_delivery(*files), patient_id=patient, date="2024-02-01"
        )
        proc_id = proc.id
    with registry.session("inv_a") as session:
        pairs = session.query(ProcedurePair).filter_by(procedure_id=proc_id).all()
        assert [(p.anode, p.cathode, p.delivered_pulses) for p in pairs] == [
            ("P1", "P2", 2),
            ("P2", "P3", 1),
        ]
    registry.close()
    got = client.get(f"/api/procedures/{proc_id}", headers=auth("inv_a")).json()
    assert (got["n_probes"], got["n_pairs"], got["pulses"], got["cardiac_sync"]) == (3, 2, 3, True)
