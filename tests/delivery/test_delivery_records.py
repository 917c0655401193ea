"""Delivery on the real MIT-BIH records (tests/data/mitdb) through the real streaming detector,
checked against the ANNOTATED R peaks (the cardiologists' reference, not our detector):

- every pulse starts after the annotated R peak it follows and ends by R + 150 ms (the safe
  window), at most one pulse per beat;
- no pulse on or right after a ventricular beat (AAMI class V: symbols V and E);
- arrhythmic records (106, 119: ventricular bigeminy/trigeminy; 200: frequent ventricular
  beats) hold delivery: skips for irregular rhythm or QRS shape, no pulse inside bigeminy;
- ventricular flutter/fibrillation (synthetic, spliced into a record) stops delivery with the
  reason logged; noise makes the gate hold rather than fire;
- flat, saturated, NaN and truncated ECG stop delivery with a clear reason;
- the log's lines parse and recount to the summary.

The gate and the morphology guard were adjusted on the eight tuning records only; 104, 203 and
208 are held-out records (see tests/data/mitdb/README.md), whose measured limits are pinned in
``test_held_out_known_limits``.
"""

from __future__ import annotations

import json
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

TUNING = ("100", "101", "103", "105", "106", "119", "200", "232")
HELD_OUT = ("104", "203", "208")
RECORDS = TUNING + HELD_OUT
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
@pytest.mark.parametrize("name", TUNING + ("208",))
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


VENTRICULAR = ("V", "E")
"""AAMI EC57 class V: premature ventricular contraction and ventricular escape beats."""


def ventricular_pulses(rec: EcgRecord, result: DeliveryResult) -> tuple[int, int]:
    """Pulses on a ventricular beat, and pulses on the beat right after one."""
    symbols = np.array(rec.annotations.beats_only().symbols)
    k, _ = preceding_beat(rec, pulse_times_s(result))
    return (int(np.isin(symbols[k], VENTRICULAR).sum()),
            int(np.isin(symbols[k - 1], VENTRICULAR).sum()))


@pytest.mark.slow
@pytest.mark.parametrize("name", TUNING + ("104",))
def test_no_pulse_on_or_right_after_a_ventricular_beat(
        records: dict[str, EcgRecord], runs: dict[str, DeliveryResult], name: str) -> None:
    """Record 200 had 1 such pulse of 58 (and 5 of 62 before the preceding-beat rule) until
    the prematurity limit (10 %) and the amplitude check of the morphology guard."""
    assert ventricular_pulses(records[name], runs[name]) == (0, 0)


@pytest.mark.slow
def test_held_out_known_limits(records: dict[str, EcgRecord],
                               runs: dict[str, DeliveryResult]) -> None:
    """Measured on the held-out records with the rules chosen on the tuning records (pinned so
    they cannot grow unnoticed; see the benchmark for the whole records):

    - 104 (paced rhythm, V5): 15 of 200 pulses fall 6-39 ms BEFORE the annotated R of a paced
      or fusion beat: the pacemaker spike is taken for the R wave (pulse at spike + 50 ms,
      inside the paced QRS). None is earlier than 40 ms before R.
    - 208 (992 ventricular and 373 fusion beats): 6 of 157 pulses on ventricular beats that
      come at the sinus rate and look like the template in MLII, and 6 on the beat after one;
      the record ends before the 200 pulses (held for rhythm, shape and noise).
    - 203 (atrial fibrillation/flutter, ventricular tachycardia, noise): the flutter/fibrillation
      alarm and the rate rule hold delivery throughout: no pulse, the run ends truncated."""
    rec = records["104"]
    r_s = rec.annotations.beats_only().samples / rec.fs_Hz
    t = pulse_times_s(runs["104"])
    k = np.searchsorted(r_s, t, side="right") - 1
    early = (t - r_s[k]) * 1e3 + WIDTH_MS > SAFE_END_MS
    assert early.sum() <= 15
    assert np.all((r_s[k + 1][early] - t[early]) * 1e3 < 40.0)
    assert ventricular_pulses(records["208"], runs["208"]) <= (6, 6)
    assert pulse_times_s(runs["203"]).size == 0
    assert runs["203"].outcome == DeliveryOutcome.TRUNCATED
    assert runs["203"].summary.skips_by_reason.get("fibrillation", 0) > 100


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
    assert log.events == result.events
    assert summarise_events(log.events) == log.summary() == result.summary
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


def test_ventricular_fibrillation_stops_delivery_and_says_why(
        records: dict[str, EcgRecord]) -> None:
    """Record 100 with 20 s of synthetic ventricular fibrillation from 60 s: the alarm is logged
    (a quality event, reason ventricular_fibrillation, with its measurements), delivery pauses,
    beats are skipped with reason 'fibrillation', no pulse falls from the onset until 2 s
    (recovery) plus 8 re-learned RR intervals after the episode, and the protocol completes
    afterwards."""
    from irelab.delivery import synthetic_ventricular_fibrillation

    rec = records["100"]
    x = rec.signal_mV.copy()
    a, b = int(60 * rec.fs_Hz), int(80 * rec.fs_Hz)
    x[a:b] = synthetic_ventricular_fibrillation(20.0, rec.fs_Hz, seed=3) + x[a - 1]
    result = run_synchronised(PLAN, x, rec.fs_Hz, quality=RAILS)
    alarms = [e for e in result.events
              if e.event == "quality" and e.reason == "ventricular_fibrillation"]
    assert len(alarms) == 1 and 60e3 <= alarms[0].t_ms <= 63e3
    assert "flutter/fibrillation suspected" in alarms[0].detail
    states = [(e.t_ms, e.state, e.reason) for e in result.events if e.event == "state"]
    assert any(s == "paused" and "ventricular_fibrillation" in r for _, s, r in states)
    assert result.summary.skips_by_reason.get("fibrillation", 0) > 10
    t = pulse_times_s(result)
    assert not np.any((t >= 60.0) & (t <= 80.0 + 2.0 + 8 * 0.6))
    assert result.outcome == DeliveryOutcome.COMPLETE


def test_gate_holds_rather_than_fires_on_noise(records: dict[str, EcgRecord]) -> None:
    """Electrode-motion noise at 0 dB (irelab.ecg.noise, nst protocol) on the first 15 min of
    record 100: the detector reports many false beats there, but the gate holds through every
    noisy segment (measured: no pulse inside one), and every pulse lies in [R, R + 150 ms] of an
    annotated beat, at most one per beat (before the gate's noise rule, one pulse fell 11 ms
    before an R whose position the noise had moved 61 ms early). Noise alone (no ECG: muscle
    noise at 1 mV rms) gets no pulse at all."""
    from irelab.ecg.noise import NoiseKind, add_noise, synth_noise

    rec = records["100"]
    ref = rec.annotations.beats_only().samples
    noisy = add_noise(rec.signal_mV, ref, rec.fs_Hz, NoiseKind.ELECTRODE_MOTION, 0.0, seed=1)
    long_plan = DeliveryPlan("long", tuple(PairProtocol(f"P{i}", f"P{i + 1}", 1500.0, 30.0)
                                           for i in range(1, 6)), 90, 90.0, "long.yaml")
    n = int(900 * rec.fs_Hz)
    result = run_synchronised(long_plan, noisy.signal_mV[:n], rec.fs_Hz, quality=RAILS)
    assert result.summary.skips_by_reason.get("noise", 0) > 100
    t = pulse_times_s(result)
    k, offset_ms = preceding_beat(rec, t)
    in_noise = noisy.noisy[np.round(t * rec.fs_Hz).astype(int)]
    assert t.size > 100 and in_noise.sum() == 0  # pulses between the noisy segments only
    assert offset_ms.min() >= 0.0 and offset_ms.max() + WIDTH_MS <= SAFE_END_MS
    assert np.unique(k).size == k.size
    only_noise = synth_noise(NoiseKind.MUSCLE, int(300 * rec.fs_Hz), rec.fs_Hz, seed=2)
    result = run_synchronised(PLAN, only_noise, rec.fs_Hz)
    assert pulse_times_s(result).size == 0
    assert result.outcome == DeliveryOutcome.TRUNCATED


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
