"""Delivery on the real MIT-BIH records (tests/data/mitdb) through the real streaming detector,
checked against the ANNOTATED R peaks (the cardiologists' reference, not our detector):

- every pulse starts after the annotated R peak it follows and ends by R + 150 ms (the safe
  window), at most one pulse per beat;
- arrhythmic records (106, 119: ventricular bigeminy/trigeminy; 200: frequent ventricular
  beats) hold delivery: skips for irregular rhythm or QRS shape, no pulse inside bigeminy;
- flat, saturated, NaN and truncated ECG stop delivery with a clear reason;
- the log's lines parse and recount to the summary.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from irelab.delivery import (
    DeliveryOutcome,
    DeliveryPlan,
    DeliveryResult,
    EventLog,
    GeneratorState,
    PairProtocol,
    read_delivery_log,
    run_synchronised,
    summarise_events,
    synthetic_ecg,
)
from irelab.ecg import EcgRecord, read_record
from irelab.ecg.quality import QualityConfig

RECORDS = ("100", "101", "103", "105", "106", "119", "200", "232")
PLAN = DeliveryPlan("two", (PairProtocol("P1", "P2", 1500.0, 30.0),
                            PairProtocol("P2", "P3", 1500.0, 30.0)), 90, 90.0, "two.yaml")
RAILS = QualityConfig(rails_mV=(-5.12, 5.115))  # MIT-BIH header: 200 adu/mV, 11 bit, zero 1024
SAFE_END_MS = 150.0  # GateConfig.safe_window_end_ms
WIDTH_MS = 0.09


@pytest.fixture(scope="module")
def records(mitdb: Path) -> dict[str, EcgRecord]:
    return {name: read_record(mitdb / name) for name in RECORDS}


@pytest.fixture(scope="module")
def runs(records: dict[str, EcgRecord]) -> dict[str, DeliveryResult]:
    return {name: run_synchronised(PLAN, rec.signal_mV, rec.fs_Hz, quality=RAILS)
            for name, rec in records.items()}


def pulse_times_s(result: DeliveryResult) -> np.ndarray:
    return np.array([e.t_ms for e in result.events if e.event == "pulse"]) / 1e3


def preceding_beat(rec: EcgRecord, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the last annotated beat at or before each time, and its offset in ms."""
    ann = rec.annotations.beats_only()
    r_s = ann.samples / rec.fs_Hz
    k = np.searchsorted(r_s, t_s, side="right") - 1
    return k, (t_s - r_s[k]) * 1e3


@pytest.mark.slow
@pytest.mark.parametrize("name", RECORDS)
def test_every_pulse_inside_the_window_of_its_annotated_beat(
        records: dict[str, EcgRecord], runs: dict[str, DeliveryResult], name: str) -> None:
    t = pulse_times_s(runs[name])
    assert t.size > 0
    k, offset_ms = preceding_beat(records[name], t)
    assert offset_ms.min() >= 0.0
    assert offset_ms.max() + WIDTH_MS <= SAFE_END_MS
    assert np.unique(k).size == k.size  # at most one pulse per beat


@pytest.mark.slow
@pytest.mark.parametrize("name", ["100", "101", "103", "105", "106"])
def test_records_with_enough_regular_beats_complete(runs: dict[str, DeliveryResult],
                                                    name: str) -> None:
    result = runs[name]
    assert result.outcome == DeliveryOutcome.COMPLETE
    assert result.final_state == GeneratorState.COMPLETE
    assert result.summary.pulses_per_pair == {"P1-P2": 90, "P2-P3": 90}
    assert result.summary.test_pulses_per_pair == {"P1-P2": 10, "P2-P3": 10}


def bigeminy_spans(rec: EcgRecord, run: int = 6) -> list[tuple[int, int]]:
    """Annotated stretches of at least ``run`` beats alternating N and V."""
    sym = rec.annotations.beats_only().symbols
    spans, start = [], 0
    for i in range(1, len(sym) + 1):
        alternating = i < len(sym) and {sym[i], sym[i - 1]} == {"N", "V"}
        if not alternating:
            if i - start >= run:
                spans.append((start, i - 1))
            start = i
    return spans


@pytest.mark.slow
@pytest.mark.parametrize("name", ["106", "119", "200"])
def test_arrhythmia_holds_delivery(records: dict[str, EcgRecord],
                                   runs: dict[str, DeliveryResult], name: str) -> None:
    """No pulse inside an annotated bigeminy stretch once it is established (from the safe
    window of its second ventricular beat to 150 ms after its last beat), and many beats
    skipped for rhythm or shape (record 100, sinus rhythm: 15 such skips when measured).

    Measured limit of an RR guard at 20 %: the first ventricular beat of a stretch can be only
    mildly premature (record 200 at 1586.0 s: RR 592 ms against a 719 ms median, -18 %; at
    1768.6 s: -15 %), so it and the normal beat after it can still get a pulse (at their
    R + 50 ms, inside the window: tested above)."""
    rec, result = records[name], runs[name]
    samples = rec.annotations.beats_only().samples
    spans = bigeminy_spans(rec)
    assert spans, "the record has bigeminy stretches"
    t = pulse_times_s(result)
    symbols = rec.annotations.beats_only().symbols
    for first, last in spans:
        second_v = (first if symbols[first] == "V" else first + 1) + 2
        lo = samples[second_v] / rec.fs_Hz + SAFE_END_MS / 1e3
        hi = samples[last] / rec.fs_Hz + SAFE_END_MS / 1e3
        assert not np.any((t >= lo) & (t <= hi)), (first, last)
    skips = result.summary.skips_by_reason
    rhythm = ("learning", "rate", "irregular", "morphology")
    assert sum(skips.get(reason, 0) for reason in rhythm) >= 100


@pytest.mark.slow
@pytest.mark.parametrize("name", ["106", "119"])
def test_no_pulse_on_or_right_after_a_ventricular_beat(
        records: dict[str, EcgRecord], runs: dict[str, DeliveryResult], name: str) -> None:
    rec = records[name]
    symbols = np.array(rec.annotations.beats_only().symbols)
    k, _ = preceding_beat(rec, pulse_times_s(runs[name]))
    assert not np.any(symbols[k] == "V")
    assert not np.any(symbols[k - 1] == "V")


@pytest.mark.slow
def test_record_200_ventricular_pulses_are_rare(records: dict[str, EcgRecord],
                                                runs: dict[str, DeliveryResult]) -> None:
    """Known limit: on 200 a pulse can still follow a ventricular beat that is regular in rate
    and close in shape (1 of 58 when measured; before the preceding-beat rule, 5 of 62). It
    still falls within 150 ms of that beat's R (tested above). Require that such pulses stay
    rare: under a fifth of the record's share of ventricular beats (826/2601)."""
    rec = records["200"]
    symbols = np.array(rec.annotations.beats_only().symbols)
    k, _ = preceding_beat(rec, pulse_times_s(runs["200"]))
    share_pulses = np.mean(symbols[k] == "V")
    share_beats = np.mean(symbols == "V")
    assert share_pulses < 0.2 * share_beats


@pytest.mark.slow
def test_chunking_does_not_change_the_run(records: dict[str, EcgRecord]) -> None:
    rec = records["106"]
    x = rec.signal_mV[: int(240 * rec.fs_Hz)]
    a = run_synchronised(PLAN, x, rec.fs_Hz, chunk_samples=7)
    b = run_synchronised(PLAN, x, rec.fs_Hz, chunk_samples=5000)
    assert a.events == b.events
    assert len(pulse_times_s(a)) > 20


def corrupted(rec: EcgRecord, value: float, from_s: float = 60.0) -> np.ndarray:
    x = rec.signal_mV.copy()
    x[int(from_s * rec.fs_Hz):] = value
    return x


@pytest.mark.parametrize(("value", "reason"), [
    (0.1, "flat_line"), (5.115, "saturation"), (np.nan, "non_finite")])
def test_bad_ecg_stops_delivery(records: dict[str, EcgRecord], value: float,
                                reason: str) -> None:
    """From 60 s on the lead is flat / at the +rail / NaN: no pulse after the flag, and the run
    ends truncated naming the quality problem."""
    rec = records["100"]
    result = run_synchronised(PLAN, corrupted(rec, value), rec.fs_Hz, quality=RAILS)
    flags = [e for e in result.events if e.event == "quality" and e.reason == reason]
    assert flags
    assert pulse_times_s(result).max() * 1e3 < flags[0].t_ms
    assert result.outcome == DeliveryOutcome.TRUNCATED
    assert reason in result.reason and "before the protocol completed" in result.reason
    assert result.final_state == GeneratorState.ABORTED


def test_truncated_ecg_stops_with_reason(records: dict[str, EcgRecord]) -> None:
    rec = records["100"]
    result = run_synchronised(PLAN, rec.signal_mV[: int(90 * rec.fs_Hz)], rec.fs_Hz)
    assert result.outcome == DeliveryOutcome.TRUNCATED
    assert "ended at sample 32400 (90.0 s) before the protocol completed" in result.reason
    delivered = sum(result.summary.pulses_per_pair.values())
    assert 0 < delivered < 180
    assert result.events[-1].event == "state" and result.events[-1].state == "aborted"


def test_nan_burst_pauses_then_resumes(records: dict[str, EcgRecord]) -> None:
    """100 ms of NaN at 60 s: paused, no pulse until 2 s of good signal and 8 re-learned RR
    intervals later, then the protocol completes."""
    rec = records["100"]
    x = rec.signal_mV.copy()
    x[int(60 * rec.fs_Hz): int(60.1 * rec.fs_Hz)] = np.nan
    result = run_synchronised(PLAN, x, rec.fs_Hz)
    t = pulse_times_s(result)
    assert not np.any((t > 60.0) & (t < 62.1 + 8 * 0.6))
    states = [e.state for e in result.events if e.event == "state"]
    assert "paused" in states
    assert result.outcome == DeliveryOutcome.COMPLETE


def test_log_lines_parse_and_recount_to_summary(records: dict[str, EcgRecord],
                                                tmp_path: Path) -> None:
    rec = records["100"]
    path = tmp_path / "log.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        result = run_synchronised(PLAN, rec.signal_mV, rec.fs_Hz, log=EventLog(handle))
    lines = path.read_text().splitlines()
    assert len(lines) == len(result.events)
    keys = {"t_ms", "event", "pair", "pair_index", "placement", "voltage_V", "current_A",
            "energy_J", "beat_sample", "reason", "phase", "synchronised", "state", "detail",
            "item", "confirmed_by", "confirmed_at", "tof_count"}
    assert all(set(json.loads(line)) == keys for line in lines)
    log = read_delivery_log(path)
    assert log.events == tuple(replace(e, t_ms=round(e.t_ms, 3)) for e in result.events)
    assert summarise_events(log.events) == log.summary()
    assert log.summary().pairs == result.summary.pairs
    pulses = [e for e in log.events if e.event == "pulse"]
    assert len(pulses) == 200
    assert {(e.key.pair, e.key.placement) for e in pulses} == {(0, 0), (1, 0)}
    for p in pulses:
        assert p.energy_J == pytest.approx(p.voltage_V * p.current_A * 90e-6, rel=1e-4)
    energy = sum(p.energy_J for p in pulses)
    assert result.summary.total_energy_J == pytest.approx(energy, rel=1e-12)
    beats = [e for e in log.events if e.event == "beat"]
    skips = [e for e in log.events if e.event == "skip"]
    assert len(beats) == len(pulses) + len(skips)  # every beat either pulses or is skipped


def test_synthetic_rhythm_pulses_50_ms_after_true_r() -> None:
    """The synthetic ECG's true R peaks: pulses inside [R, R + 150 ms] and typically 50 ms
    after R (median error within one sample at 360 Hz: the detector's R localisation)."""
    ecg = synthetic_ecg(75.0, 240.0)
    result = run_synchronised(PLAN, ecg.signal_mV, ecg.fs_Hz)
    assert result.outcome == DeliveryOutcome.COMPLETE
    t = pulse_times_s(result)
    r = ecg.r_samples / ecg.fs_Hz
    k = np.searchsorted(r, t, side="right") - 1
    offset_ms = (t - r[k]) * 1e3
    assert offset_ms.min() >= 0.0 and offset_ms.max() + WIDTH_MS <= SAFE_END_MS
    assert np.median(np.abs(offset_ms - 50.0)) <= 1e3 / ecg.fs_Hz + 1e-9
