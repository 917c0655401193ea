"""A procedure from a plan file and its delivery log: every pair at every placement."""

from __future__ import annotations

import json

import pytest
from registry_cases import PATIENT, auth

from irelab.case import PairKey
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
  pullback_steps_mm: [8]
  pairs:
    - {anode: P1, cathode: P2, voltage_V: 1500, predicted_currents_A: [23.5, 22.0]}
    - {anode: P2, cathode: P3, voltage_V: 1800}
"""


def _pulse(t_ms: float, pair: int, placement: int, current: float, *, phase="treatment",
           name=None, volts=None) -> dict:
    name = name or ("P1-P2" if pair == 0 else "P2-P3")
    volts = volts or (1500 if pair == 0 else 1800)
    return {"t_ms": t_ms, "event": "pulse", "pair": name, "pair_index": pair,
            "placement": placement, "voltage_V": volts, "current_A": current,
            "energy_J": round(volts * current * 90e-6, 6), "phase": phase,
            "synchronised": True}


EVENTS = [
    {"t_ms": 0, "event": "state", "state": "armed"},
    {"t_ms": 10, "event": "beat", "beat_sample": 3},
    _pulse(60, 0, 0, 21.0, phase="test"),
    _pulse(900, 0, 0, 22.0),
    {"t_ms": 950, "event": "skip", "reason": "ectopic"},
    _pulse(1800, 0, 0, 24.0),
    _pulse(2700, 1, 0, 30.5),
    _pulse(3600, 0, 1, 21.5),
    _pulse(4500, 0, 1, 22.5),
    _pulse(5400, 1, 1, 29.0),
]


@pytest.fixture
def files(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    log = tmp_path / "delivery.jsonl"
    log.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n\n")
    return plan, log


def test_summary_counts_pulses_peaks_and_energy_per_pair_and_placement(files) -> None:
    plan, log = files
    summary = summarise_delivery(plan, log)
    assert (summary.n_probes, summary.n_pairs, summary.pulses) == (3, 2, 6)
    assert summary.max_voltage_V == 1800 and summary.max_current_A == 30.5
    assert summary.cardiac_sync is True and not summary.aborted
    assert [r.key for r in summary.pairs] == [PairKey(0, 0), PairKey(1, 0), PairKey(0, 1),
                                              PairKey(1, 1)]
    first = summary.pairs[0]
    assert (first.delivered_pulses, first.max_current_A) == (2, 24.0)  # the test pulse apart
    assert first.energy_J == pytest.approx(1500 * 90e-6 * (21.0 + 22.0 + 24.0))
    assert [r.predicted_current_A for r in summary.pairs] == [23.5, None, 22.0, None]
    assert [r.delivered_pulses for r in summary.pairs] == [2, 1, 2, 1]


def test_plan_without_log_gives_the_planned_dose(files) -> None:
    summary = summarise_delivery(files[0])
    assert (summary.pulses, summary.max_voltage_V, summary.max_current_A) == (8, 1800, 23.5)
    assert len(summary.pairs) == 4 and summary.cardiac_sync is None


@pytest.mark.parametrize(
    ("event", "key"),
    [
        (_pulse(60, 2, 0, 20.0), "line 1.pair_index"),
        (_pulse(60, 0, 2, 20.0), "line 1.placement"),
        (_pulse(60, 0, 0, 20.0, name="P2-P1"), "line 1.pair"),
    ],
)
def test_a_log_that_does_not_fit_the_plan_names_the_file_and_line(files, event, key) -> None:
    plan, log = files
    log.write_text(json.dumps(event) + "\n")
    with pytest.raises(InputError) as info:
        summarise_delivery(plan, log)
    assert info.value.key == key and info.value.source == str(log)


def test_import_adds_a_procedure_with_its_pairs_at_every_placement(client, db_url,
                                                                   files) -> None:
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
        assert sorted((p.anode, p.cathode, p.placement, p.delivered_pulses) for p in pairs) == [
            ("P1", "P2", 0, 2), ("P1", "P2", 1, 2), ("P2", "P3", 0, 1), ("P2", "P3", 1, 1)]
    registry.close()
    got = client.get(f"/api/procedures/{proc_id}", headers=auth("inv_a")).json()
    assert (got["n_probes"], got["n_pairs"], got["pulses"], got["cardiac_sync"]) == (3, 2, 6, True)
