"""Delivery plans from cases: simulated currents, every pair at every placement with its
structured identity, bipolar probes; the delivery log read back."""

from __future__ import annotations

import json

import pytest
import yaml

from irelab.case import PairKey, load_case, parse_case
from irelab.delivery import (
    DeliveryEvent,
    EventLog,
    EventType,
    delivery_plan,
    load_delivery_plan,
    read_delivery_log,
)
from irelab.errors import InputError
from irelab.simulation import simulate_case

CASE = {
    "name": "deliver-me",
    "domain": {"size_mm": [40, 40, 30], "spacing_mm": 1.0},
    "anatomy": {"background": "liver",
                "regions": [{"tissue": "tumour", "sphere": {"center_mm": [0, 0, 0],
                                                            "radius_mm": 6}}]},
    "probes": [
        {"name": "P1", "tip_mm": [-5, 0, -8], "direction": [0, 0, 1], "exposed_mm": 12},
        {"name": "P2", "tip_mm": [5, 0, -8], "direction": [0, 0, 1], "exposed_mm": 12},
    ],
    "protocol": {"pulses": 90, "pulse_width_us": 90, "pullback_steps_mm": [6],
                 "pairs": [{"anode": "P1", "cathode": "P2", "voltage_V": 1500}]},
}


def _case(**protocol) -> dict:
    mapping = yaml.safe_load(yaml.safe_dump(CASE))
    mapping["protocol"].update(protocol)
    return mapping


def test_case_without_predicted_currents_is_simulated_at_every_position(tmp_path) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(CASE))
    plan = load_delivery_plan(path, spacing_mm=2.0)
    expected = simulate_case(load_case(path), spacing_mm=2.0)
    assert [p.label for p in plan.pairs] == ["P1-P2", "P1-P2@2"]
    assert [p.key for p in plan.pairs] == [PairKey(0, 0), PairKey(0, 1)]
    assert [p.predicted_current_A for p in plan.pairs] == pytest.approx(
        [abs(r.current_A) for r in expected.pairs], rel=1e-9)


def test_planner_currents_per_position_are_used() -> None:
    mapping = _case()
    mapping["protocol"]["pairs"][0]["predicted_current_A"] = 21.0
    mapping["protocol"]["pairs"][0]["predicted_currents_A"] = [20.0, 21.0]
    plan = delivery_plan(parse_case(mapping))
    assert [p.predicted_current_A for p in plan.pairs] == [20.0, 21.0]
    del mapping["protocol"]["pairs"][0]["predicted_currents_A"]
    plan = delivery_plan(parse_case(mapping))
    assert [p.predicted_current_A for p in plan.pairs] == [21.0, 21.0]


def test_bipolar_electrodes_are_pair_names() -> None:
    mapping = _case()
    mapping["probes"] = [{"name": "B", "tip_mm": [0, 0, -8], "direction": [0, 0, 1],
                          "bipolar": {"distal_mm": 7, "gap_mm": 8, "proximal_mm": 7}}]
    mapping["protocol"] = {"pairs": [{"anode": "B:distal", "cathode": "B:proximal",
                                      "voltage_V": 1000, "predicted_current_A": 8.0}]}
    plan = delivery_plan(parse_case(mapping))
    assert plan.pairs[0].name == "B:distal-B:proximal"


def test_placements_repeat_the_pairs_at_each_placement() -> None:
    mapping = _case()
    del mapping["protocol"]["pullback_steps_mm"]
    mapping["protocol"]["placements"] = [{"back_mm": 0}, {"shift_mm": [0, 3, 0]},
                                         {"shift_mm": [0, -3, 0]}]
    mapping["protocol"]["pairs"][0]["predicted_currents_A"] = [20.0, 21.0, 22.0]
    mapping["protocol"]["pairs"].append({"anode": "P2", "cathode": "P1", "voltage_V": 1400,
                                         "predicted_current_A": 19.0})
    plan = delivery_plan(parse_case(mapping))
    assert [p.key for p in plan.pairs] == [PairKey(0, 0), PairKey(1, 0), PairKey(0, 1),
                                           PairKey(1, 1), PairKey(0, 2), PairKey(1, 2)]
    assert [p.label for p in plan.pairs] == ["P1-P2", "P2-P1", "P1-P2@2", "P2-P1@2",
                                             "P1-P2@3", "P2-P1@3"]
    assert [p.predicted_current_A for p in plan.pairs] == [20.0, 19.0, 21.0, 19.0, 22.0, 19.0]


BAD_LINES = [
    ('{"t_ms": 1, "type": "pulse"}', "line 1.type", "'event'"),
    ('{"t_ms": 1, "event": "zap"}', "line 1.event", "one of beat"),
    ("[1, 2]", "line 1", "a JSON object"),
    ("not json", "line 1", "one JSON object per line"),
    ('{"t_ms": -1, "event": "beat"}', "line 1.t_ms", ">= 0"),
    ('{"t_ms": NaN, "event": "beat"}', "line 1.t_ms", "finite"),
    ('{"t_ms": 5, "event": "pulse", "pair": "P1-P2", "voltage_V": 1500, "current_A": 20,'
     ' "energy_J": 2.7, "phase": "treatment", "synchronised": true}',
     "line 1.pair_index", "whole number"),
    ('{"t_ms": 5, "event": "pulse", "pair_index": 0, "placement": "2", "voltage_V": 1500,'
     ' "current_A": 20, "energy_J": 2.7, "phase": "treatment", "synchronised": true}',
     "line 1.placement", "whole number"),
    ('{"t_ms": 5, "event": "pulse", "pair_index": 0, "placement": 0, "voltage_V": 1500,'
     ' "current_A": 20, "energy_J": 2.7, "phase": "warm-up", "synchronised": true}',
     "line 1.phase", "test or treatment"),
    ('{"t_ms": 1, "event": "beat", "extra": 1}', "line 1.extra", "delivery-log keys"),
]


@pytest.mark.parametrize(("line", "key", "expected"), BAD_LINES,
                         ids=[b[1] + ":" + b[2] for b in BAD_LINES])
def test_the_log_reader_refuses_anything_else_naming_file_and_line(tmp_path, line, key,
                                                                  expected) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_delivery_log(path)
    assert err.value.source == str(path) and err.value.key == key
    assert expected in err.value.expected


def test_the_log_reader_reads_what_the_writer_wrote(tmp_path) -> None:
    path = tmp_path / "log.jsonl"
    events = [DeliveryEvent(0.0, EventType.STATE, state="armed", reason="plan checked"),
              DeliveryEvent(12.5, EventType.BEAT, beat_sample=4),
              DeliveryEvent(62.5, EventType.PULSE, pair="P1-P2", voltage_V=1500.0,
                            current_A=20.0, energy_J=2.7, beat_sample=4, phase="test",
                            synchronised=True, key=PairKey(0, 1))]
    with path.open("w", encoding="utf-8") as handle:
        log = EventLog(handle)
        for event in events:
            log.emit(event)
    assert read_delivery_log(path).events == tuple(events)
    assert json.loads(path.read_text().splitlines()[2])["placement"] == 1
    (pair,) = read_delivery_log(path).summary().pairs
    assert (pair.key, pair.test_pulses, pair.pulses, pair.label) == (PairKey(0, 1), 1, 0,
                                                                     "P1-P2@2")
