"""`irelab deliver`: the --json summary, the log file, the synthetic rhythm, the refusal without
synchronisation, truncated ECG (exit 1) and bad input (InputError, exit 2 via the entry point)
before anything is written. Every run passes a complete pre-arm checklist (its refusals are
tested in test_delivery_checklist.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from irelab.cli.main import app
from irelab.delivery import read_delivery_log
from irelab.ecg import read_record
from irelab.errors import InputError

runner = CliRunner()


def test_deliver_record_json_and_log(plan_file: Path, mitdb: Path, tmp_path: Path,
                                     checklist_file: Path) -> None:
    log = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["deliver", str(plan_file), "--ecg", str(mitdb / "100"),
                                 "--log", str(log), "--json", "--checklist", str(checklist_file)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["outcome"] == "complete" and out["final_state"] == "complete"
    assert out["summary"]["pulses_per_pair"] == {"P1-P2": 90}
    assert out["summary"]["test_pulses_per_pair"] == {"P1-P2": 10}
    assert out["summary"] == read_delivery_log(log).summary().to_json()
    (pair,) = out["summary"]["pairs"]
    assert (pair["pair_index"], pair["placement"], pair["pulses"], pair["test_pulses"]) == (
        0, 0, 90, 10)


def test_deliver_table(plan_file: Path, mitdb: Path, checklist_file: Path) -> None:
    result = runner.invoke(app, ["deliver", str(plan_file), "--ecg", str(mitdb / "100"),
                                 "--checklist", str(checklist_file)])
    assert result.exit_code == 0, result.output
    assert "P1-P2" in result.stdout and "Beats skipped" in result.stdout


def test_deliver_synthetic_rhythm(plan_file: Path, checklist_file: Path) -> None:
    result = runner.invoke(app, ["deliver", str(plan_file), "--hr", "72", "--json",
                                 "--checklist", str(checklist_file)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["summary"]["pulses_per_pair"] == {"P1-P2": 90}
    assert out["summary"]["unsynchronised_pulses"] == 0


def test_a_plans_longer_train_pause_is_honoured(plan_file: Path, checklist_file: Path) -> None:
    """A plan that needs 10 s between trains (its thermal repair) is delivered with at least
    that pause: 9 train breaks of 100 pulses at 72 /min take at least 9 x 10 s, so the pair
    takes at least 100 beats plus 90 s; the usual 2 s recharge is far quicker."""
    def procedure_s() -> float:
        result = runner.invoke(app, ["deliver", str(plan_file), "--hr", "72", "--json",
                                     "--checklist", str(checklist_file)])
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        assert out["summary"]["pulses_per_pair"] == {"P1-P2": 90}
        return out["summary"]["procedure_time_s"]

    usual = procedure_s()
    text = plan_file.read_text(encoding="utf-8")
    plan_file.write_text(text.replace("  pulses: 90\n", "  pulses: 90\n  train_pause_s: 10\n"),
                         encoding="utf-8")
    paused = procedure_s()
    assert paused >= 100 * 60 / 72 + 9 * 10 > usual


def test_refuses_without_synchronisation(plan_file: Path, tmp_path: Path) -> None:
    log = tmp_path / "never.jsonl"
    result = runner.invoke(app, ["deliver", str(plan_file), "--log", str(log)])
    assert isinstance(result.exception, InputError)
    assert "--force-unsynchronised" in str(result.exception)
    assert not log.exists()


def test_forced_unsynchronised_logs_every_pulse(plan_file: Path, tmp_path: Path,
                                                checklist_file: Path) -> None:
    log = tmp_path / "unsync.jsonl"
    result = runner.invoke(app, ["deliver", str(plan_file), "--force-unsynchronised",
                                 "--log", str(log), "--json", "--checklist", str(checklist_file)])
    assert result.exit_code == 0, result.output
    pulses = [e for e in read_delivery_log(log).events if e.event == "pulse"]
    assert len(pulses) == 100 and all(p.synchronised is False for p in pulses)


def test_truncated_ecg_exits_1(plan_file: Path, mitdb: Path, tmp_path: Path,
                               checklist_file: Path) -> None:
    """60 s of record 100 as CSV: about 60 beats cannot carry 100 pulses plus recharges."""
    rec = read_record(mitdb / "100")
    path = tmp_path / "short.csv"
    path.write_text("# fs_Hz: 360\necg_mV\n"
                    + "\n".join(f"{v:.3f}" for v in rec.signal_mV[: 60 * 360]) + "\n",
                    encoding="utf-8")
    result = runner.invoke(app, ["deliver", str(plan_file), "--ecg", str(path), "--json",
                                 "--checklist", str(checklist_file)])
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["outcome"] == "truncated"
    assert "before the protocol completed" in out["reason"]


@pytest.mark.parametrize("args", [
    ["--ecg", "no/such/record"],
    ["--ecg", "X", "--hr", "70"],
    ["--hr", "500"],
])
def test_bad_input_before_writing(plan_file: Path, tmp_path: Path, args: list[str],
                                  checklist_file: Path) -> None:
    log = tmp_path / "bad.jsonl"
    result = runner.invoke(app, ["deliver", str(plan_file), *args, "--log", str(log),
                                 "--checklist", str(checklist_file)])
    assert isinstance(result.exception, InputError)
    assert not log.exists()


def test_voltage_above_limit_refused(plan_file: Path, tmp_path: Path,
                                     checklist_file: Path) -> None:
    bad = tmp_path / "hot.yaml"
    bad.write_text(plan_file.read_text().replace("voltage_V: 1500", "voltage_V: 3500"),
                   encoding="utf-8")
    result = runner.invoke(app, ["deliver", str(bad), "--hr", "70", "--checklist",
                                 str(checklist_file)])
    assert isinstance(result.exception, InputError)
    assert "protocol.pairs[0].voltage_V" in str(result.exception)
