"""The registry's procedure summary takes the procedure record from the delivery log: anaesthesia
and block as the pre-arm checks confirmed them, the deviations (a re-plan, a lost block, pulses
not synchronised) in the notes; a log without checks claims neither and says so."""

from __future__ import annotations

import yaml

from irelab.case import load_case
from irelab.delivery import (
    DeliveryEvent,
    EventLog,
    EventType,
    checklist_from_mapping,
    delivery_plan,
    run_unsynchronised,
)
from irelab.registry.procedure_import import summarise_delivery

PLAN = """\
name: pair
domain: {size_mm: [40, 40, 40], spacing_mm: 2}
probes:
  - {name: A, tip_mm: [-5, 0, -8], direction: [0, 0, 1], exposed_mm: 16}
  - {name: B, tip_mm: [5, 0, -8], direction: [0, 0, 1], exposed_mm: 16}
protocol:
  pulses: 20
  pairs: [{anode: A, cathode: B, voltage_V: 1800, predicted_current_A: 20}]
"""
CHECKS = """\
armed_at: 2026-03-02T10:00:00
items:
  general_anaesthesia: {confirmed_by: Dr A, time: 2026-03-02T09:20:00}
  neuromuscular_block: {confirmed_by: Dr A, time: 2026-03-02T09:40:00, tof_count: 0}
  ecg_synchroniser: {confirmed_by: N, time: 2026-03-02T09:45:00}
  probe_positions: {confirmed_by: Dr R, time: 2026-03-02T09:55:00}
  exposed_lengths: {confirmed_by: Dr R, time: 2026-03-02T09:56:00}
train_of_four:
  - {time: 2026-03-02T10:00:10, count: 2, entered_by: Dr A}
  - {time: 2026-03-02T10:00:25, count: 0, entered_by: Dr A}
"""


def _delivered(tmp_path, checklist):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    log = tmp_path / "log.jsonl"
    with log.open("w", encoding="utf-8") as handle:
        events = EventLog(handle)
        if checklist is not None:
            events.emit(DeliveryEvent(0.0, EventType.REPLAN, reason="voltage", pair="A-B",
                                      voltage_V=1800.0, detail="A-B raised from 1500 V to "
                                                               "1800 V"))
        run_unsynchronised(delivery_plan(load_case(plan)), force=True, log=events,
                           checklist=checklist)
    return summarise_delivery(plan, log)


def test_the_log_fills_anaesthesia_block_and_deviations(tmp_path) -> None:
    summary = _delivered(tmp_path, checklist_from_mapping(yaml.safe_load(CHECKS)))
    assert (summary.general_anaesthesia, summary.neuromuscular_block) == (True, True)
    assert summary.cardiac_sync is False and summary.pulses == 20
    notes = summary.notes
    assert notes.startswith("Pre-arm checks: general anaesthesia confirmed by Dr A at "
                            "2026-03-02T09:20:00; neuromuscular block confirmed by Dr A at "
                            "2026-03-02T09:40:00 (train-of-four count 0); ")
    assert "Deviations: re-planned: A-B raised from 1500 V to 1800 V; neuromuscular block " \
           "lost: train-of-four count 2 entered by Dr A at 10.0 s; delivery paused 15.0 s; " \
           "30 pulses not synchronised to the ECG." in notes


def test_a_log_without_checks_claims_no_anaesthesia(tmp_path) -> None:
    summary = _delivered(tmp_path, None)
    assert summary.general_anaesthesia is None and summary.neuromuscular_block is None
    assert summary.notes == ("Pre-arm checks: none logged. Deviations: 30 pulses not "
                             "synchronised to the ECG; no pre-arm checks in the delivery log.")
