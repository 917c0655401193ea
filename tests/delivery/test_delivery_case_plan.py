"""Delivery plans read from case files: simulated currents, pullback positions, bipolar probes."""

from __future__ import annotations

import pytest
import yaml

from irelab.case import load_case
from irelab.delivery.plan import load_delivery_plan, parse_delivery_plan
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


def test_case_without_predicted_currents_is_simulated_at_every_position(tmp_path) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(CASE))
    plan = load_delivery_plan(path, spacing_mm=2.0)
    expected = simulate_case(load_case(path), spacing_mm=2.0)
    assert [p.name for p in plan.pairs] == ["P1-P2", "P1-P2@2"]
    assert [p.position for p in plan.pairs] == [0, 1]
    assert [p.predicted_current_A for p in plan.pairs] == pytest.approx(
        [r.current_A for r in expected.pairs], rel=1e-9)


def test_planner_currents_per_position_are_used() -> None:
    mapping = yaml.safe_load(yaml.safe_dump(CASE))
    mapping["protocol"]["pairs"][0]["predicted_current_A"] = 21.0
    mapping["protocol"]["pairs"][0]["predicted_currents_A"] = [20.0, 21.0]
    plan = parse_delivery_plan(mapping, "plan.yaml")
    assert [p.predicted_current_A for p in plan.pairs] == [20.0, 21.0]
    del mapping["protocol"]["pairs"][0]["predicted_currents_A"]
    plan = parse_delivery_plan(mapping, "plan.yaml")
    assert [p.predicted_current_A for p in plan.pairs] == [21.0, 21.0]


def test_bipolar_electrodes_are_pair_names() -> None:
    mapping = yaml.safe_load(yaml.safe_dump(CASE))
    mapping["probes"] = [{"name": "B", "tip_mm": [0, 0, -8], "direction": [0, 0, 1],
                          "bipolar": {"distal_mm": 7, "gap_mm": 8, "proximal_mm": 7}}]
    mapping["protocol"] = {"pairs": [{"anode": "B:distal", "cathode": "B:proximal",
                                      "voltage_V": 1000, "predicted_current_A": 8.0}]}
    plan = parse_delivery_plan(mapping, "plan.yaml")
    assert plan.pairs[0].name == "B:distal-B:proximal"


def test_placements_repeat_the_pairs_at_each_placement() -> None:
    mapping = yaml.safe_load(yaml.safe_dump(CASE))
    del mapping["protocol"]["pullback_steps_mm"]
    mapping["protocol"]["placements"] = [{"back_mm": 0}, {"shift_mm": [0, 3, 0]},
                                         {"shift_mm": [0, -3, 0]}]
    mapping["protocol"]["pairs"][0]["predicted_currents_A"] = [20.0, 21.0, 22.0]
    plan = parse_delivery_plan(mapping, "plan.yaml")
    assert [p.name for p in plan.pairs] == ["P1-P2", "P1-P2@2", "P1-P2@3"]
    assert [p.predicted_current_A for p in plan.pairs] == [20.0, 21.0, 22.0]
