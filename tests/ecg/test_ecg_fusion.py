"""Two-lead detection (irelab.ecg.fusion): a beat the first lead misses is rescued from the
second, late (never in time for a pulse), the first lead's beats pass unchanged, and any
chunking gives the same beats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb

from irelab.delivery import GateConfig
from irelab.ecg import detect_beats, score_detections
from irelab.ecg.fusion import FusionConfig, MultiLeadDetector, detect_beats_multilead
from irelab.errors import InputError

FS = 360.0


@pytest.fixture(scope="module")
def two_leads(mitdb_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Record 100, first 10 min, both leads (MLII, V5), and its N/A/V reference beats."""
    x = wfdb.rdrecord(str(mitdb_dir / "100"), sampto=216000).p_signal
    ann = wfdb.rdann(str(mitdb_dir / "100"), "atr", sampto=216000)
    ref = np.array([s for s, y in zip(ann.sample, ann.symbol, strict=True) if y in "NAV"])
    return x, ref[ref < 216000 - 40]


def test_rescues_beats_missing_in_the_first_lead(two_leads: tuple[np.ndarray, np.ndarray]) -> None:
    """Every 40th beat after 60 s has its MLII QRS (R +- 60 ms) shrunk to 15 %: MLII alone
    misses all 18 in real time (its search-back finds all 18 late, flagged, since its second
    look (``searchback_dominance``); 5 of them without it); with V5 all 18 are found
    (measured), each too late for the gate's pulse (measured at least 72 ms after its R:
    hold_ms after the V5 R, moved by the leads' offset) but before MLII's search-back, whose
    beats they replace, and no false beat is added."""
    x, ref = two_leads
    x = x.copy()
    small = ref[ref > 60 * FS][::40]
    gain = np.ones(x.shape[0])
    for r in small:
        gain[r - 22: r + 22] = 0.15
    x[:, 0] *= gain
    single = detect_beats(np.ascontiguousarray(x[:, 0]), FS)
    fused = detect_beats_multilead(x, FS)

    def found(beats: list) -> int:
        samples = np.array([b.sample for b in beats])
        return int(sum(np.any(np.abs(samples - r) <= 54) for r in small))

    real_time = [b for b in single if not b.searchback]
    late = found(single)
    assert found(real_time) == 0 and found(fused) == small.size == 18
    assert late == sum(b.searchback for b in single) == small.size
    extra = [b for b in fused if b not in single]
    assert len(extra) == small.size and not any(b.searchback for b in fused)
    gate = GateConfig()
    assert min(b.latency_ms for b in extra) > gate.delay_ms - gate.processing_margin_ms
    s1 = score_detections(ref, [b.sample for b in single], FS, skip_s=2.0)
    s2 = score_detections(ref, [b.sample for b in fused], FS, skip_s=2.0)
    assert s2.fp == s1.fp and s2.tp == s1.tp + small.size - late
    assert all(b in fused for b in real_time)


def test_same_beats_for_any_chunking(two_leads: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = two_leads
    x = x[: int(180 * FS)]
    whole = detect_beats_multilead(x, FS)
    detector = MultiLeadDetector(FS, 2)
    cuts = np.cumsum(np.random.default_rng(4).integers(1, 500, size=400))
    chunked = [b for piece in np.split(x, cuts[cuts < x.shape[0]]) for b in
               detector.process(piece)] + detector.flush()
    assert chunked == whole and len(whole) > 200


def test_bad_input() -> None:
    with pytest.raises(InputError):
        MultiLeadDetector(FS, 0)
    with pytest.raises(InputError):
        MultiLeadDetector(FS, 2).process(np.zeros(100))
    with pytest.raises(InputError):
        detect_beats_multilead(np.zeros(100), FS)
    with pytest.raises(ValueError):
        FusionConfig(min_agreement=0.0)
