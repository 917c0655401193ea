"""The generator: every illegal transition raises (generated from the table), the protocol's
pulse counts, the current model, the current-limit abort, the refusal without synchronisation,
and plans that must never lead to a pulse."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path

import pytest

from irelab.case import PairKey
from irelab.delivery import (
    GENERATOR_TRANSITIONS,
    CurrentModel,
    DeliveryOutcome,
    DeliveryPlan,
    GeneratorConfig,
    GeneratorState,
    GeneratorStateMachine,
    IllegalTransitionError,
    PairProtocol,
    load_delivery_plan,
    redelivery_voltage_V,
    run_unsynchronised,
    suggested_voltage_V,
)
from irelab.errors import InputError

ALL = list(GeneratorState)
ILLEGAL = [(a, b) for a, b in itertools.product(ALL, ALL) if b not in GENERATOR_TRANSITIONS[a]]
LEGAL = [(a, b) for a, b in itertools.product(ALL, ALL) if b in GENERATOR_TRANSITIONS[a]]


def test_table_covers_every_state_and_complete_is_final() -> None:
    assert set(GENERATOR_TRANSITIONS) == set(ALL)
    assert GENERATOR_TRANSITIONS[GeneratorState.COMPLETE] == frozenset()
    assert len(ILLEGAL) + len(LEGAL) == len(ALL) ** 2
    assert len(LEGAL) == 2 + 4 + 3 + 5 + 2 + 1  # the 17 transitions of the module docstring


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_illegal_transition_raises(source: GeneratorState, target: GeneratorState) -> None:
    machine = GeneratorStateMachine(source)
    with pytest.raises(IllegalTransitionError):
        machine.transition(target)
    assert machine.state == source


@pytest.mark.parametrize(("source", "target"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_legal_transition(source: GeneratorState, target: GeneratorState) -> None:
    machine = GeneratorStateMachine(source)
    assert machine.transition(target) == source
    assert machine.state == target


def test_current_model_rises_from_predicted_to_final() -> None:
    """I_1 = I_0 (the simulated current); after n_c pulses 63.2 % (1 - 1/e) of the rise."""
    model = CurrentModel(30.0, 0.25, 30.0)
    assert model.current_A(1) == 30.0
    assert model.current_A(31) == pytest.approx(30.0 + 7.5 * (1 - math.exp(-1)), rel=1e-12)
    currents = [model.current_A(n) for n in range(1, 101)]
    assert all(b > a for a, b in itertools.pairwise(currents))
    assert currents[-1] < model.final_A == 37.5


def test_unsynchronised_refused_unless_forced(two_pair_plan: DeliveryPlan) -> None:
    with pytest.raises(InputError, match="--force-unsynchronised"):
        run_unsynchronised(two_pair_plan)
    result = run_unsynchronised(two_pair_plan, force=True)
    pulses = [e for e in result.events if e.event == "pulse"]
    assert len(pulses) == 2 * (10 + 90)
    assert all(p.synchronised is False for p in pulses)
    assert result.summary.unsynchronised_pulses == 200
    assert result.outcome == DeliveryOutcome.COMPLETE
    assert result.final_state == GeneratorState.COMPLETE


def test_protocol_trains_of_ten_with_recharge(two_pair_plan: DeliveryPlan) -> None:
    """Per pair: 10 test + 90 treatment pulses, a recharge after every 10 pulses."""
    result = run_unsynchronised(two_pair_plan, force=True)
    states = [e.state for e in result.events if e.event == "state"]
    assert states.count("charging") == 2 * 10  # pair start + after each of the 9 inner trains
    phases = [e.phase for e in result.events if e.event == "pulse"][:100]
    assert phases == ["test"] * 10 + ["treatment"] * 90
    assert result.summary.pulses_per_pair == {"P1-P2": 90, "P2-P3": 90}
    assert result.summary.test_pulses_per_pair == {"P1-P2": 10, "P2-P3": 10}


def test_current_limit_aborts_pair_and_suggests_voltage() -> None:
    """Predicted 45 A rises over 50 A at pulse n = 1 + 30 ln(11.25 / 6.25) = 18.6 -> pulse 19:
    the pair stops there, the next pair is still given; the suggestion scales the voltage by
    50 A / I_inf (56.25 A) x 0.9 = 2160 V from 2700 V."""
    plan = DeliveryPlan("hot", (PairProtocol("P1", "P2", 2700.0, 45.0),
                                PairProtocol("P2", "P3", 1500.0, 30.0)), 90, 90.0)
    result = run_unsynchronised(plan, force=True)
    hot = [e for e in result.events if e.event == "pulse" and e.pair == "P1-P2"]
    assert len(hot) == 19 and hot[-1].current_A > 50.0 >= hot[-2].current_A
    aborts = [e for e in result.events if e.event == "abort"]
    assert len(aborts) == 1 and aborts[0].reason == "current_limit"
    assert "2160 V" in aborts[0].detail
    assert result.summary.pulses_per_pair["P2-P3"] == 90
    assert result.outcome == DeliveryOutcome.PAIRS_ABORTED
    model = CurrentModel(45.0, 0.25, 30.0)
    assert suggested_voltage_V(plan.pairs[0], model, GeneratorConfig()) == 2160.0
    # the robust study's re-delivery reads the same suggestion from voltage and current
    assert redelivery_voltage_V(2700.0, 45.0, GeneratorConfig()) == 2160.0


@pytest.mark.parametrize(("edit", "key"), [
    ("voltage_V: 1500", "voltage_V: 3001"),
    ("anode: P1", "anode: P9"),
])
def test_bad_plans_refused(tmp_path: Path, plan_file: Path, edit: str, key: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(plan_file.read_text().replace(edit, key), encoding="utf-8")
    with pytest.raises(InputError, match=r"protocol\.pairs\[0\]"):
        load_delivery_plan(path)


def test_plan_without_pairs_refused(tmp_path: Path, plan_file: Path) -> None:
    text = plan_file.read_text()
    path = tmp_path / "nopairs.yaml"
    path.write_text(text[: text.index("  pairs:")] + "  pairs: []\n", encoding="utf-8")
    with pytest.raises(InputError, match="protocol.pairs"):
        load_delivery_plan(path)
    with pytest.raises(InputError, match="protocol.pairs"):
        DeliveryPlan("empty", (), 90, 90.0).validate(GeneratorConfig())


def test_plan_reads_predicted_currents(plan_file: Path) -> None:
    plan = load_delivery_plan(plan_file)
    assert plan.pairs == (PairProtocol("P1", "P2", 1500.0, 28.5, PairKey(0, 0)),)
    assert (plan.pulses, plan.pulse_width_us) == (90, 90.0)


def test_a_plans_longer_pause_between_pairs_is_honoured(two_pair_plan: DeliveryPlan,
                                                        plan_file: Path) -> None:
    """A plan that needs 30 s between pairs (its thermal repair: the case protocol's
    ``pair_pause_s``) gets at least that from the last pulse of one pair to the first of the
    next; without it the generator only recharges (2 s). Inside a pair the trains keep their
    usual pause."""
    def gaps_s(plan: DeliveryPlan) -> tuple[float, float]:
        pulses = [e for e in run_unsynchronised(plan, force=True).events if e.event == "pulse"]
        first_of_second = next(k for k, e in enumerate(pulses) if e.pair == "P2-P3")
        between = pulses[first_of_second].t_ms - pulses[first_of_second - 1].t_ms
        inside = max(b.t_ms - a.t_ms for a, b in zip(pulses[:first_of_second - 1],
                                                     pulses[1:first_of_second], strict=True))
        return between / 1e3, inside / 1e3

    usual_between, usual_inside = gaps_s(two_pair_plan)
    between, inside = gaps_s(replace(two_pair_plan, pair_pause_s=30.0))
    assert usual_between < 30.0 <= between
    assert inside == usual_inside < 30.0
    text = plan_file.read_text(encoding="utf-8")
    plan_file.write_text(text.replace("  pulses: 90\n", "  pulses: 90\n  pair_pause_s: 30\n"),
                         encoding="utf-8")
    assert load_delivery_plan(plan_file).pair_pause_s == 30.0
