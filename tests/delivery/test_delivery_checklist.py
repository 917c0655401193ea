"""Pre-arm checks and the train-of-four (TOF) during delivery, at their boundaries: the generator
arms only when every item is confirmed before arming (a confirmation at the arming second arms,
one second later does not) with a TOF count of 0 (1 refuses); every refusal names the missing
item, through the library and the command line, before anything is logged; a count of 1 during
delivery pauses the generator and only a count of 0 resumes it; a block never restored ends the
run. The delivered pulse times come from the simulated generator's clock (one pulse a second
unsynchronised), so the pauses are checked to the pulse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from irelab.cli.main import app
from irelab.delivery import (
    CheckItem,
    DeliveryOutcome,
    EventLog,
    EventType,
    GeneratorState,
    arming_refusal,
    checklist_from_mapping,
    load_checklist,
    prompt_checklist,
    read_delivery_log,
    run_unsynchronised,
)
from irelab.errors import InputError

runner = CliRunner()
ARMED = dt.datetime(2026, 12, 1, 9, 30)


def _checklist(mapping: dict, change=None, tof=()):
    if change is not None:
        change(mapping)
    if tof:
        mapping["train_of_four"] = [
            {"time": ARMED + dt.timedelta(seconds=t), "count": n, "entered_by": "Dr A"}
            for t, n in tof]
    return checklist_from_mapping(mapping, "checklist.yaml")


def test_a_complete_checklist_arms_and_logs_who_confirmed_what_and_when(
        two_pair_plan, checklist_mapping) -> None:
    log = EventLog()
    result = run_unsynchronised(two_pair_plan, force=True, log=log,
                                checklist=_checklist(checklist_mapping))
    assert result.outcome == DeliveryOutcome.COMPLETE
    checks = [e for e in log.events if e.event == EventType.CHECK]
    assert [c.item for c in checks] == list(CheckItem)
    assert all(c.t_ms == 0 and c.confirmed_by and c.confirmed_at for c in checks)
    block = checks[1]
    assert (block.confirmed_by, block.confirmed_at, block.tof_count) == (
        "Dr A. Anaesthetist", "2026-12-01T09:20:00", 0)
    first_state = next(e for e in log.events if e.event == EventType.STATE)
    assert first_state.state == GeneratorState.ARMED
    assert log.events.index(first_state) == len(checks)  # every check logged before arming


@pytest.mark.parametrize("item", list(CheckItem))
def test_each_missing_item_is_named_and_nothing_is_logged(two_pair_plan, checklist_mapping,
                                                          item) -> None:
    checklist = _checklist(checklist_mapping, lambda m: m["items"].pop(str(item)))
    assert arming_refusal(checklist).key == f"items.{item}"
    log = EventLog()
    with pytest.raises(InputError) as refused:
        run_unsynchronised(two_pair_plan, force=True, log=log, checklist=checklist)
    assert refused.value.key == f"items.{item}" and item.label in str(refused.value)
    assert log.events == []


@pytest.mark.parametrize(("count", "arms"), [(0, True), (1, False)])
def test_the_block_needs_a_train_of_four_count_of_0(checklist_mapping, count, arms) -> None:
    checklist = _checklist(checklist_mapping,
                           lambda m: m["items"]["neuromuscular_block"].update(tof_count=count))
    refusal = arming_refusal(checklist)
    assert (refusal is None) == arms
    if not arms:
        assert refusal.key == "items.neuromuscular_block.tof_count" and refusal.got == 1


def test_a_block_confirmed_without_its_count_is_refused(checklist_mapping) -> None:
    checklist = _checklist(checklist_mapping,
                           lambda m: m["items"]["neuromuscular_block"].pop("tof_count"))
    assert arming_refusal(checklist).key == "items.neuromuscular_block.tof_count"


@pytest.mark.parametrize(("after_s", "arms"), [(0, True), (1, False)])
def test_a_check_confirmed_after_arming_is_refused(checklist_mapping, after_s, arms) -> None:
    when = ARMED + dt.timedelta(seconds=after_s)
    checklist = _checklist(checklist_mapping,
                           lambda m: m["items"]["probe_positions"].update(time=when))
    refusal = arming_refusal(checklist)
    assert (refusal is None) == arms
    if not arms:
        assert refusal.key == "items.probe_positions.time"


def test_no_checklist_is_a_refusal_naming_every_item() -> None:
    refusal = arming_refusal(None)
    assert refusal.key == "--checklist"
    assert all(item.label in str(refusal) for item in CheckItem)


@pytest.mark.parametrize(("change", "key"), [
    (lambda m: m["items"].update(anaesthesia_light={"confirmed_by": "x", "time": ARMED}),
     "items.anaesthesia_light"),
    (lambda m: m["items"]["ecg_synchroniser"].update(time="2026-12-01T09:22:00+01:00"),
     "items.ecg_synchroniser.time"),
    (lambda m: m.update(train_of_four=[{"time": ARMED - dt.timedelta(seconds=1), "count": 0,
                                        "entered_by": "Dr A"}]), "train_of_four[0].time"),
    (lambda m: m.update(train_of_four=[{"time": ARMED, "count": 5, "entered_by": "Dr A"}]),
     "train_of_four[0].count"),
    (lambda m: m.update(train_of_four=[
        {"time": ARMED + dt.timedelta(seconds=9), "count": 1, "entered_by": "Dr A"},
        {"time": ARMED + dt.timedelta(seconds=8), "count": 0, "entered_by": "Dr A"}]),
     "train_of_four[1].time"),
    (lambda m: m.pop("armed_at"), "armed_at"),
    (lambda m: m["items"]["general_anaesthesia"].update(signed="yes"),
     "items.general_anaesthesia.signed"),
])
def test_a_bad_record_names_its_key(checklist_mapping, change, key) -> None:
    with pytest.raises(InputError) as bad:
        _checklist(checklist_mapping, change)
    assert bad.value.key == key and bad.value.source == "checklist.yaml"


def test_a_count_of_1_pauses_until_a_count_of_0(two_pair_plan, checklist_mapping) -> None:
    """Unsynchronised pulses come every second from 1 s: the count entered at 30.5 s stops the
    pulses after the one at 30 s; the count of 0 at 60.5 s lets them resume (after the
    generator's recharge of 2 s)."""
    log = EventLog()
    result = run_unsynchronised(two_pair_plan, force=True, log=log,
                                checklist=_checklist(checklist_mapping, tof=[(30.5, 1), (60.5, 0)]))
    assert result.outcome == DeliveryOutcome.COMPLETE
    pulses = [e.t_ms / 1e3 for e in log.events if e.event == EventType.PULSE]
    assert len(pulses) == 200
    assert max(t for t in pulses if t < 60.5) == pytest.approx(30.0)
    assert min(t for t in pulses if t > 30.5) >= 60.5 + 2.0
    (pause,) = [e for e in log.events if e.event == EventType.PAUSE]
    assert (pause.reason, pause.t_ms) == ("neuromuscular_block", 30500.0)
    states = [(e.state, e.reason) for e in log.events if e.event == EventType.STATE]
    paused = states.index(("paused", "neuromuscular block lost: train-of-four count 1 "
                                     "entered by Dr A"))
    assert states[paused + 1][0] == "charging" and "count 0" in states[paused + 1][1]
    assert [e.tof_count for e in log.events if e.event == EventType.TOF] == [1, 0]
    assert result.summary.pauses_by_reason == {"neuromuscular_block": 1}


def test_a_count_of_0_alone_changes_nothing(two_pair_plan, checklist_mapping) -> None:
    plain = run_unsynchronised(two_pair_plan, force=True)
    with_zero = run_unsynchronised(two_pair_plan, force=True,
                                   checklist=_checklist(checklist_mapping, tof=[(30.5, 0)]))
    assert [e.t_ms for e in with_zero.events if e.event == EventType.PULSE] == [
        e.t_ms for e in plain.events if e.event == EventType.PULSE]


def test_a_block_never_restored_ends_the_run(two_pair_plan, checklist_mapping) -> None:
    log = EventLog()
    result = run_unsynchronised(two_pair_plan, force=True, log=log,
                                checklist=_checklist(checklist_mapping, tof=[(30.5, 2)]))
    assert result.outcome == DeliveryOutcome.TRUNCATED
    assert "neuromuscular block lost (train-of-four count 2 entered at 30.5 s" in result.reason
    assert max(e.t_ms for e in log.events if e.event == EventType.PULSE) == 30000.0


def test_the_log_reads_back_with_its_procedure_events(two_pair_plan, checklist_mapping,
                                                      tmp_path) -> None:
    checklist = _checklist(checklist_mapping, tof=[(30.5, 1), (60.5, 0)])
    path = tmp_path / "log.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        result = run_unsynchronised(two_pair_plan, force=True, log=EventLog(handle),
                                    checklist=checklist)
    back = read_delivery_log(path)
    assert back.events == result.events


@pytest.mark.parametrize(("line", "key"), [
    ('{"t_ms": 0, "event": "check", "confirmed_by": "x", "confirmed_at": "2026-12-01T09:00"}',
     "line 1.item"),
    ('{"t_ms": 0, "event": "check", "item": "sedation", "confirmed_by": "x", '
     '"confirmed_at": "2026-12-01T09:00"}', "line 1.item"),
    ('{"t_ms": 5, "event": "tof", "tof_count": 5, "confirmed_by": "x", '
     '"confirmed_at": "2026-12-01T09:00"}', "line 1.tof_count"),
    ('{"t_ms": 5, "event": "tof", "tof_count": 1, "confirmed_by": "x", '
     '"confirmed_at": "nine"}', "line 1.confirmed_at"),
])
def test_the_reader_refuses_a_bad_procedure_event(tmp_path, line, key) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(InputError) as bad:
        read_delivery_log(path)
    assert bad.value.key == key


def _prompt(answers: dict[str, object]):
    """Scripted terminal answers: yes to every item except those mapped to False."""
    clock = iter(ARMED + dt.timedelta(minutes=k) for k in range(20))
    return prompt_checklist(
        confirm=lambda q: answers.get(q, True), ask=lambda q: "Dr T",
        count=lambda q: answers.get("count", 0), now=lambda: next(clock))


def test_the_terminal_prompt_confirms_each_item_in_turn() -> None:
    checklist = _prompt({})
    assert arming_refusal(checklist) is None
    assert [c.item for c in checklist.confirmations] == list(CheckItem)
    assert checklist.armed_at > checklist.confirmations[-1].time


@pytest.mark.parametrize(("answers", "key"), [
    ({"Confirm ECG leads and synchroniser signal quality?": False}, "items.ecg_synchroniser"),
    ({"count": 1}, "items.neuromuscular_block.tof_count"),
])
def test_the_terminal_prompt_refuses_naming_the_item(answers, key) -> None:
    assert arming_refusal(_prompt(answers)).key == key


def test_the_command_refuses_without_a_checklist_before_writing(plan_file: Path,
                                                                tmp_path: Path) -> None:
    """The test runner's stdin is not a terminal, so the checks cannot be asked."""
    log = tmp_path / "never.jsonl"
    result = runner.invoke(app, ["deliver", str(plan_file), "--hr", "70", "--log", str(log)])
    assert isinstance(result.exception, InputError)
    assert result.exception.key == "--checklist" and not log.exists()


@pytest.mark.parametrize("item", [CheckItem.GENERAL_ANAESTHESIA, CheckItem.EXPOSED_LENGTHS])
def test_the_command_names_the_missing_item(plan_file: Path, tmp_path: Path, item,
                                           checklist_mapping) -> None:
    mapping = checklist_mapping
    mapping["items"].pop(str(item))
    path = tmp_path / "partial.yaml"
    path.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    log = tmp_path / "never.jsonl"
    result = runner.invoke(app, ["deliver", str(plan_file), "--hr", "70", "--log", str(log),
                                 "--checklist", str(path)])
    assert isinstance(result.exception, InputError)
    assert result.exception.key == f"items.{item}" and not log.exists()
    assert load_checklist(path).confirmation(item) is None


def test_the_readme_example_record_arms() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = next(b.split("\n", 1)[1] for b in readme.split("```yaml")[1:]
                 if b.lstrip().startswith("armed_at"))
    checklist = checklist_from_mapping(yaml.safe_load(block.split("```")[0]), "README.md")
    assert arming_refusal(checklist) is None and [e.count for e in checklist.tof] == [2, 0]
