"""StreamingRDetector on the eight MIT-BIH records (tests/data/mitdb): EC57-style accuracy and
latency, chunking invariance, causality, sampling rates 125-1000 Hz, polarity, bad input.

Scoring: beat annotations only (N L R B A a J S V r F e j n E / f Q ?), 150 ms window
(ANSI/AAMI EC57), gross = TP/FP/FN summed over records, first 2 s (the detector's learning
period) skipped. Latency = reporting sample - annotated R peak.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from irelab.ecg import (
    Beat,
    DetectorConfig,
    EcgRecord,
    Score,
    StreamingRDetector,
    detect_beats,
    latency_vs_reference_ms,
    score_detections,
)
from irelab.errors import InputError

SKIP_S = DetectorConfig().learning_s

SE_TARGET = 0.995
PPV_TARGET = 0.995
"""Targets, gross. Measured 99.91 % (16 missed) and 99.59 % (70 false positives, 61 of them in
the noisy record 105), search-back beats included (99.88 % and 99.62 %, 21 and 65, before the
search-back's second look; 99.77 % and 99.64 % without search-back beats). These
eight records are the tuning half (see the detector's module
docstring), so the margin is optimistic; the held-out figures are in test_ecg_heldout.py and
benchmarks/ecg_detect.py."""
POSITION_P99_MS = 35.0
"""|estimated R - annotated R| at the 99th percentile over matched beats: measured 27.8 ms
(median 2.8 ms; 66.7 ms on the held-out half); the limit leaves 7 ms (2-3 samples at 360 Hz)
of margin. It matters to the gate, which times pulses from the estimated R."""
LATENCY_MEDIAN_MS = 40.0
LATENCY_P99_MS = 100.0
"""Targets (measured 25.0 ms and 63.9 ms over every matched beat, the late search-back beats
included; 61.1 ms over the real-time detections; 66.7 ms without the early decision)."""


def beat_arrays(beats: list[Beat]) -> tuple[np.ndarray, np.ndarray]:
    """(estimated R samples, reporting samples) of a beat list."""
    return (np.array([b.sample for b in beats], dtype=np.int64),
            np.array([b.detected_sample for b in beats], dtype=np.int64))


def _score(rec: EcgRecord, beats: list[Beat]) -> tuple[Score, np.ndarray]:
    samples, reported = beat_arrays(beats)
    score = score_detections(rec.annotations.beats_only().samples, samples, rec.fs_Hz,
                             skip_s=SKIP_S)
    return score, latency_vs_reference_ms(score, reported, rec.fs_Hz)


@pytest.mark.slow
def test_gross_accuracy_and_latency(records: dict[str, EcgRecord],
                                    detections: dict[str, list[Beat]]) -> None:
    scored = [_score(records[name], detections[name]) for name in records]
    gross = Score.gross(s for s, _ in scored)
    latency = np.concatenate([lat for _, lat in scored])
    assert gross.se >= SE_TARGET
    assert gross.ppv >= PPV_TARGET
    assert np.median(latency) <= LATENCY_MEDIAN_MS
    assert np.percentile(latency, 99) <= LATENCY_P99_MS
    position_ms = np.abs(gross.matched_detected - gross.matched_reference) * 1e3 / 360.0
    assert np.percentile(position_ms, 99) <= POSITION_P99_MS
    for (score, _), name in zip(scored, records, strict=True):
        # per record: no record collapses (worst measured: Se 99.61 %, +P 97.67 % (105))
        assert score.se >= 0.99, name
        assert score.ppv >= 0.97, name


@pytest.mark.slow
def test_early_decision_shortens_the_latency_tail(
        records: dict[str, EcgRecord], detections: dict[str, list[Beat]]) -> None:
    """Record 200 (tuning half; 826 ventricular beats): deciding a run 30 ms after its energy
    crossed the threshold, when it already passes every rule, reports the wide beats earlier
    (latency p99 measured 58.3 ms, 64.1 ms with ``decide_within_ms=0``) and finds the same
    beats (2595 / 1 / 3 both ways; R position error p99 25.0 ms both ways)."""
    rec = records["200"]
    early, early_lat = _score(rec, detections["200"])
    late, late_lat = _score(rec, detect_beats(rec.signal_mV, rec.fs_Hz,
                                              DetectorConfig(decide_within_ms=0.0)))
    assert (early.tp, early.fp, early.fn) == (late.tp, late.fp, late.fn)
    assert np.array_equal(early.matched_reference, late.matched_reference)
    assert np.percentile(early_lat, 99) <= np.percentile(late_lat, 99) - 3.0  # 1 sample + margin

    def position_p99(score: Score) -> float:
        return float(np.percentile(np.abs(score.matched_detected - score.matched_reference), 99))
    assert position_p99(early) <= position_p99(late)


@pytest.mark.slow
def test_beats_are_consistent(detections: dict[str, list[Beat]]) -> None:
    """Beats come out in order, at least the refractory period apart, never before their own
    R estimate, and none during the 2 s learning period."""
    for beats in detections.values():
        samples, reported = beat_arrays(beats)
        assert np.all(np.diff(samples) > 0)
        assert np.all(np.diff(reported) >= 0)
        assert np.all(reported >= samples)
        assert reported[0] >= round(SKIP_S * 360)
        assert all(b.latency_ms == (b.detected_sample - b.sample) * 1e3 / 360 for b in beats)
        # search-back beats (reported late, flagged) are few: 28 of about 17 200 here, at
        # most 0.64 % of a record's beats (106; 0.49 % before the search-back's second look)
        assert sum(b.searchback for b in beats) <= 0.01 * len(beats)


def _run(fs: float, chunks: list[np.ndarray], config: DetectorConfig | None = None) -> list:
    det = StreamingRDetector(fs, config)
    out: list[Beat] = []
    for chunk in chunks:
        out += det.process(chunk)
    return out + det.flush()


def test_same_beats_for_any_chunking(records: dict[str, EcgRecord]) -> None:
    """Record 119 (bigeminy), first 2 min: one chunk, random chunk sizes 1-700 samples
    (seed 3), empty chunks, and sample by sample over the first 20 s."""
    x = records["119"].signal_mV[:43200]
    whole = _run(360.0, [x])
    assert len(whole) > 100
    rng = np.random.default_rng(3)
    cuts = np.cumsum(rng.integers(1, 700, size=400))
    pieces = np.split(x, cuts[cuts < x.size])
    assert _run(360.0, pieces) == whole
    assert _run(360.0, [x[:5000], x[5000:5000], x[5000:]]) == whole
    n = 7200
    one_by_one = _run(360.0, np.split(x[:n], np.arange(1, n)))
    assert one_by_one == [b for b in whole if b.detected_sample < n]


@pytest.mark.slow
def test_same_beats_streamed_in_100ms_chunks(records: dict[str, EcgRecord],
                                            detections: dict[str, list[Beat]]) -> None:
    """The whole of record 105 (noisy: many candidates whose decision comes long after the
    feature peak) fed in 100 ms chunks gives exactly the one-chunk beats. An earlier version
    read slopes from trimmed history and differed here."""
    x = records["105"].signal_mV
    assert _run(360.0, np.split(x, np.arange(36, x.size, 36))) == detections["105"]


def test_same_beats_for_any_chunking_with_searchback(records: dict[str, EcgRecord]) -> None:
    """Search-back fires at a sample fixed by the detector state, not at a chunk end."""
    config = DetectorConfig(emit_searchback=True)
    x = records["106"].signal_mV[280800:334800]  # 780-930 s: missed ventricular beats
    whole = _run(360.0, [x], config)
    assert any(b.searchback for b in whole)
    assert _run(360.0, np.split(x, np.arange(97, x.size, 97)), config) == whole


def test_causal(records: dict[str, EcgRecord]) -> None:
    """Beats reported up to sample k do not change when everything after k is replaced."""
    x = records["200"].signal_mV[:36000].copy()
    k = 20000
    before = [b for b in _run(360.0, [x]) if b.detected_sample <= k]
    y = x.copy()
    y[k + 1:] = np.random.default_rng(5).normal(0.0, 2.0, size=x.size - k - 1)
    after = [b for b in _run(360.0, [y]) if b.detected_sample <= k]
    assert before == after and len(before) > 20


RATE_LATENCY_TOL_MS = 10.0
"""Median latency at another rate may differ from 360 Hz by one 125 Hz sample (8 ms) plus
the rounding of the filters' group delay to whole samples."""


def _score_resampled(rec: EcgRecord, fs: int, n: int) -> tuple[Score, np.ndarray]:
    y = resample_poly(rec.signal_mV[:n], fs, 360) if fs != 360 else rec.signal_mV[:n]
    ann = rec.annotations.beats_only().samples
    ref = np.round(ann[ann < n] * fs / 360.0).astype(np.int64)
    samples, reported = beat_arrays(detect_beats(y, fs))
    score = score_detections(ref, samples, fs, skip_s=SKIP_S)
    return score, latency_vs_reference_ms(score, reported, fs)


@pytest.mark.slow
@pytest.mark.parametrize("fs", [125, 250, 500, 1000])
def test_sampling_rates(records: dict[str, EcgRecord], fs: int) -> None:
    """Records 100 and 200 (first 10 min) resampled from 360 Hz with
    scipy.signal.resample_poly: Se and +P stay >= 99.5 % and the median latency stays within
    RATE_LATENCY_TOL_MS of the one at the original 360 Hz."""
    n = 216000
    for name in ("100", "200"):
        score, lat = _score_resampled(records[name], fs, n)
        _, lat_360 = _score_resampled(records[name], 360, n)
        assert score.se >= 0.995 and score.ppv >= 0.995, (name, fs)
        assert abs(np.median(lat) - np.median(lat_360)) <= RATE_LATENCY_TOL_MS, (name, fs)


def test_inverted_polarity(records: dict[str, EcgRecord]) -> None:
    """Record 119 negated (first 10 min): inverted complexes are still found."""
    rec = records["119"]
    n = 216000
    beats = detect_beats(-rec.signal_mV[:n], rec.fs_Hz)
    ann = rec.annotations.beats_only().samples
    score = score_detections(ann[ann < n], [b.sample for b in beats], rec.fs_Hz, skip_s=SKIP_S)
    assert score.se >= 0.995 and score.ppv >= 0.995


@pytest.mark.parametrize("fs", [0.0, -360.0, 100.0, 2000.0, float("nan")])
def test_bad_sampling_rate(fs: float) -> None:
    with pytest.raises(InputError):
        StreamingRDetector(fs)


def test_recovers_after_large_artefact(records: dict[str, EcgRecord]) -> None:
    """A 200 ms, 30 mV burst at 12 Hz (electrode knock) added to record 100 at 30 s: the
    detector reports beats again within 2 s, and Se stays >= 99 % from 32 s to 2 min (without
    the SPK update cap the first beat came back only after ~15 s)."""
    rec = records["100"]
    x = rec.signal_mV[:43200].copy()
    burst = slice(10800, 10872)
    x[burst] += 30.0 * np.sin(2 * np.pi * 12.0 * np.arange(72) / 360.0)
    beats = detect_beats(x, rec.fs_Hz)
    after = [b.sample for b in beats if b.sample > burst.stop]
    assert after[0] < burst.stop + 2 * 360
    ann = rec.annotations.beats_only().samples
    window = (ann > 32 * 360) & (ann < 43200 - 36)
    score = score_detections(ann[window], [s for s in after if s > 32 * 360 - 20], rec.fs_Hz)
    assert score.se >= 0.99


def test_flat_start_is_learned_again(records: dict[str, EcgRecord]) -> None:
    """5 s of flat line (lead off) before 2 min of record 100: the detector learns again once
    signal arrives, then finds the beats (Se and +P >= 99 % after 5 + 2 x 2 s); same beats when
    fed in 1 s chunks."""
    rec = records["100"]
    pad = 5 * 360
    x = np.concatenate((np.zeros(pad), rec.signal_mV[:43200]))
    beats = _run(360.0, [x])
    assert beats == _run(360.0, np.split(x, np.arange(360, x.size, 360)))
    ann = rec.annotations.beats_only().samples
    ref = ann[(ann < 43200 - 36)] + pad
    score = score_detections(ref, [b.sample for b in beats], 360.0, skip_s=9.0)
    assert score.se >= 0.99 and score.ppv >= 0.99


def test_baseline_steps_are_not_beats(records: dict[str, EcgRecord]) -> None:
    """24 baseline steps of 2 mV with an 11 ms edge (electrode movement, as in MIT-BIH 101 at
    175 s), alternately down and up, halfway between beats of record 100 (first 2 min): no
    beat within 100 ms of a step, Se and +P >= 99 %. With ``reject_baseline_shifts=False``
    every step is reported as a beat (the test can fail)."""
    rec = records["100"]
    n = 43200
    ann = rec.annotations.beats_only().samples
    ann = ann[ann < n - 36]
    steps = ((ann[:-1] + ann[1:]) // 2)[3::6]
    edge = np.clip(np.arange(n)[None, :] - steps[:, None], 0, 4) / 4.0
    sign = np.where(np.arange(steps.size) % 2 == 0, -1.0, 1.0)
    x = rec.signal_mV[:n] + 2.0 * (sign[:, None] * edge).sum(axis=0)
    window = round(0.1 * rec.fs_Hz)

    def at_steps(config: DetectorConfig) -> tuple[int, Score]:
        found = np.array([b.sample for b in detect_beats(x, rec.fs_Hz, config)])
        hits = sum(bool(np.any(np.abs(found - k) <= window)) for k in steps)
        return hits, score_detections(ann, found, rec.fs_Hz, skip_s=SKIP_S)

    hits, score = at_steps(DetectorConfig())
    assert hits == 0
    assert score.se >= 0.99 and score.ppv >= 0.99
    hits_off, _ = at_steps(DetectorConfig(reject_baseline_shifts=False))
    assert hits_off == steps.size


@pytest.mark.slow
def test_noise_rules_on_record_105(records: dict[str, EcgRecord],
                                   detections: dict[str, list[Beat]]) -> None:
    """Record 105 (heavy noise): each noise rule removes false positives (measured with the
    early decision of ``decide_within_ms``: 89 with neither rule, 56 with both; before it 90
    and 56) at a cost of at most 5 missed beats (measured 11 -> 16; before it 16 -> 17)."""
    rec = records["105"]
    ref = rec.annotations.beats_only().samples

    def score(beats: list[Beat]) -> Score:
        return score_detections(ref, [b.sample for b in beats], rec.fs_Hz, skip_s=SKIP_S)

    both = score(detections["105"])
    neither = score(detect_beats(rec.signal_mV, rec.fs_Hz, DetectorConfig(
        reject_baseline_shifts=False, slope_noise_check=False)))
    for off in ({"reject_baseline_shifts": False}, {"slope_noise_check": False}):
        one = score(detect_beats(rec.signal_mV, rec.fs_Hz, DetectorConfig(**off)))
        assert both.fp < one.fp < neither.fp, off
    assert both.fp <= neither.fp - 10
    assert both.fn <= neither.fn + 5


def test_flat_and_nan_input_gives_no_beats() -> None:
    """Flat line and NaN (treated as 0 mV) never produce a beat."""
    assert _run(360.0, [np.zeros(36000)]) == []
    assert _run(360.0, [np.full(36000, np.nan)]) == []
    assert _run(360.0, [np.full(36000, 1.5)]) == []
