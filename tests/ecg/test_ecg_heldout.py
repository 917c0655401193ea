"""The streaming detector on held-out MIT-BIH records (104, 203, 208 in tests/data/mitdb): no
value of the detector was chosen on them (the tuning half is 100, 101, 103, 105, 106, 119, 200,
232). The floors pin the measured figures so that a change tuned on the other half cannot make
them worse unnoticed; the targets (Se and +P >= 99.5 %) are NOT met on 203 and only partly on
the others: see benchmarks/ecg_detect.py for all eight held-out records and the peers.

Scoring as in test_ecg_detector.py (EC57, 150 ms, beats only, first 2 s skipped)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from irelab.ecg import (
    DetectorConfig,
    EcgRecord,
    Score,
    detect_beats,
    latency_vs_reference_ms,
    read_record,
    score_detections,
)

HELD_OUT = {"104": (0.998, 0.993), "203": (0.978, 0.988), "208": (0.994, 0.997)}
"""Se and +P floors per record, about 0.1 point under the measured 99.96/99.37 (104, paced,
lead V5), 97.95/98.95 (203, multiform ventricular beats, atrial flutter/fibrillation, noise),
99.53/99.80 % (208, 992 ventricular and 373 fusion beats), re-pinned to these values
(benchmarks/ecg_detect.py, one run) when the search-back's second look
(``searchback_dominance``, chosen on the tuning half) came in: it took Se from 97.35 to
97.95 (203) and 99.42 to 99.53 % (208), and +P from 99.14 to 98.95 (203, 25 -> 31 false) and
99.86 to 99.80 % (208, 4 -> 6 false); 104 unchanged. Earlier, reporting the search-back beats
(chosen on the tuning half) took Se from 99.78 to 99.96 (104), 95.80 to 97.35 (203) and 99.29
to 99.42 % (208), and +P on 203 from 99.23 to 99.14 % (22 -> 25 false); before it, the early
decision (``decide_within_ms``, also chosen on the tuning half) had cost +P: 99.46 -> 99.37 on
104 (12 -> 14 false), 99.34 -> 99.23 on 203 (19 -> 22 false)."""
LATENCY_MEDIAN_MS = 40.0
LATENCY_P99_MS = 117.0
"""Over the real-time detections (the search-back beats, reported late and never used by the
gate, excluded). Target 40 ms median; the 99th percentile target of 100 ms is not met on these
records (wide ventricular beats of 203 and 208; 113.9 ms on 208 alone), so the limit pins the
measurement with a few ms to spare."""


@pytest.fixture(scope="module")
def held_out(mitdb_dir: Path) -> dict[str, EcgRecord]:
    return {name: read_record(mitdb_dir / name) for name in HELD_OUT}


@pytest.mark.slow
def test_held_out_accuracy_and_latency(held_out: dict[str, EcgRecord]) -> None:
    skip = DetectorConfig().learning_s
    scores, lats = [], []
    for name, rec in held_out.items():
        beats = detect_beats(rec.signal_mV, rec.fs_Hz)
        score = score_detections(rec.annotations.beats_only().samples,
                                 [b.sample for b in beats], rec.fs_Hz, skip_s=skip)
        se, ppv = HELD_OUT[name]
        assert score.se >= se and score.ppv >= ppv, (name, score.tp, score.fp, score.fn)
        scores.append(score)
        late = np.array([b.searchback for b in beats], dtype=bool)[score.matched_detection_index]
        lats.append(latency_vs_reference_ms(score, [b.detected_sample for b in beats],
                                            rec.fs_Hz)[~late])  # real-time detections only
    latency = np.concatenate(lats)
    assert np.median(latency) <= LATENCY_MEDIAN_MS
    assert np.percentile(latency, 99) <= LATENCY_P99_MS
    gross = Score.gross(scores)
    assert gross.tp + gross.fn > 8000
