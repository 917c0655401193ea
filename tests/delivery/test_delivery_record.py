"""The procedure record read from a delivery log: anaesthesia and block as the pre-arm checks
confirmed them, each pause with its reason and length, the repositioning to the next placement,
and what each pair got against the plan. Reference values come from the generator's own current
model (module docstring of irelab.delivery.generator: I_n = I_inf - (I_inf - I_0) exp(-(n-1)/30),
I_inf = 1.25 I_0), evaluated here by hand."""

from __future__ import annotations

import math

import pytest
import yaml

from irelab.case import PairKey
from irelab.delivery import (
    DeliveryPlan,
    EventType,
    PairProtocol,
    checklist_from_mapping,
    compare_with_plan,
    procedure_record,
    run_unsynchronised,
)


def test_a_complete_run_matches_its_plan_and_the_current_model(two_pair_plan) -> None:
    result = run_unsynchronised(two_pair_plan, force=True)
    compared = compare_with_plan(two_pair_plan, result.events)
    assert [c.label for c in compared] == ["P1-P2", "P2-P3"]
    first = compared[0]
    assert (first.pulses, first.pulses_planned, first.test_pulses) == (90, 90, 10)
    assert first.first_current_A == pytest.approx(30.0)
    rise = 1.25 - 0.25 * math.exp(-9 / 30)  # I_10 / I_0 by hand
    assert first.test_rise == pytest.approx(rise - 1.0, abs=1e-4)  # logged currents: 4 decimals
    assert first.energy_J == pytest.approx(first.energy_planned_J, rel=1e-5)
    assert first.max_current_A <= 30.0 * 1.25


def test_a_pair_not_given_is_reported_with_no_pulses() -> None:
    plan = DeliveryPlan("one", (PairProtocol("P1", "P2", 1500.0, 30.0),), 90, 90.0)
    extra = DeliveryPlan("two", plan.pairs + (PairProtocol("P1", "P3", 1500.0, 20.0),), 90,
                         90.0)
    events = run_unsynchronised(plan, force=True).events
    missing = compare_with_plan(extra, events)[1]
    assert (missing.pulses, missing.voltage_V, missing.max_current_A) == (0, None, None)
    assert missing.energy_J == 0.0 and missing.energy_planned_J > 0


def test_the_record_has_the_checks_pauses_and_the_move_to_the_next_placement(
        checklist_mapping) -> None:
    plan = DeliveryPlan("moved", (PairProtocol("P1", "P2", 1500.0, 30.0, PairKey(0, 0)),
                                  PairProtocol("P1", "P2", 1500.0, 28.0, PairKey(0, 1))),
                        90, 90.0, moves=("probes as placed", "pulled back 10 mm"))
    checklist_mapping["train_of_four"] = [
        {"time": "2026-12-01T09:31:00", "count": 3, "entered_by": "Dr A"},
        {"time": "2026-12-01T09:31:45", "count": 0, "entered_by": "Dr A"}]
    checks = checklist_from_mapping(yaml.safe_load(yaml.safe_dump(checklist_mapping)))
    record = procedure_record(run_unsynchronised(plan, force=True, checklist=checks).events)
    assert record.general_anaesthesia is True and record.neuromuscular_block is True
    assert record.synchronised is False  # forced without ECG: no beat
    (pause,) = record.pauses
    assert (pause.reason, pause.t_s) == ("neuromuscular_block", 60.0)
    assert pause.resumed_s == pytest.approx(105.0)  # the count of 0 at 105 s; first slot then
    assert record.repositions == ("placement 2: pulled back 10 mm",)
    deviations = record.deviations
    assert any("train-of-four count 3" in d and "paused 45.0 s" in d for d in deviations)
    assert any(d.startswith("200 pulses not synchronised") for d in deviations)


def test_a_log_without_checks_says_so_and_claims_nothing(two_pair_plan) -> None:
    record = procedure_record(run_unsynchronised(two_pair_plan, force=True).events)
    assert record.general_anaesthesia is None and record.neuromuscular_block is None
    assert "no pre-arm checks in the delivery log" in record.deviations
    assert not any(e.event == EventType.CHECK for e in run_unsynchronised(
        two_pair_plan, force=True).events)
