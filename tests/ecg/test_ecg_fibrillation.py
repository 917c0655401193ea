"""The ventricular flutter/fibrillation alarm (irelab.ecg.fibrillation): alarms on synthetic
flutter and fibrillation within one analysis window of the onset and for as long as it lasts,
never on the MLII leads of the tuning records, identical for any chunking."""

from __future__ import annotations

import numpy as np
import pytest

from irelab.delivery.synthetic import synthetic_ventricular_fibrillation
from irelab.ecg import EcgRecord
from irelab.ecg.fibrillation import FibrillationConfig, FibrillationDetector
from irelab.ecg.quality import QualityReason

FS = 360.0
TUNING = ("100", "101", "103", "105", "106", "119", "200", "232")


def spliced(rec: EcgRecord, start_s: float, length_s: float, flutter: bool,
            seed: int = 0) -> np.ndarray:
    """Record ``rec`` with ``length_s`` of synthetic VF/VFL replacing it from ``start_s``."""
    x = rec.signal_mV[: int((start_s + length_s + 60) * FS)].copy()
    a, b = int(start_s * FS), int((start_s + length_s) * FS)
    x[a:b] = synthetic_ventricular_fibrillation(length_s, FS, flutter=flutter, seed=seed) \
        + x[a - 1]
    return x


@pytest.mark.parametrize("flutter", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alarm_on_synthetic_flutter_and_fibrillation(records: dict[str, EcgRecord],
                                                     flutter: bool, seed: int) -> None:
    """20 s of synthetic VFL/VF spliced into record 100 at 60 s: one alarm, raised within one
    window (3 s) of the onset, naming the reason; it covers the episode and ends within
    clear_windows + one window after it."""
    config = FibrillationConfig()
    x = spliced(records["100"], 60.0, 20.0, flutter, seed)
    detector = FibrillationDetector(FS, config)
    flags = detector.process(x)
    assert len(flags) == 1
    flag = flags[0]
    assert flag.reason == QualityReason.VENTRICULAR_FIBRILLATION
    assert 60.0 <= flag.sample / FS <= 60.0 + config.window_s
    assert "flutter/fibrillation" in flag.detail
    [(first, last)] = detector.episodes()
    assert first == flag.sample
    assert 80.0 <= last / FS <= 80.0 + config.window_s + config.clear_windows * config.step_s
    assert detector.last_alarm_sample(int(70 * FS)) == int(70 * FS)
    assert detector.last_alarm_sample(first - 1) is None


@pytest.mark.slow
@pytest.mark.parametrize("name", TUNING)
def test_no_alarm_on_tuning_records(records: dict[str, EcgRecord], name: str) -> None:
    """None of the 8 tuning records (MLII; sinus rhythm, ectopy, ventricular tachycardia in
    106 and 200, noise in 105) has ventricular flutter/fibrillation, and none alarms: the
    thresholds were chosen so (see FibrillationConfig). The held-out records are reported by
    benchmarks/ecg_detect.py."""
    detector = FibrillationDetector(FS)
    assert detector.process(records[name].signal_mV) == []
    assert len(detector.windows) == int(records[name].duration_s) - 2


def test_same_alarm_for_any_chunking(records: dict[str, EcgRecord]) -> None:
    x = spliced(records["119"], 30.0, 15.0, flutter=False, seed=5)
    whole = FibrillationDetector(FS)
    flags = whole.process(x)
    rng = np.random.default_rng(2)
    cuts = np.cumsum(rng.integers(1, 900, size=200))
    pieces = FibrillationDetector(FS)
    chunked = [f for piece in np.split(x, cuts[cuts < x.size]) for f in pieces.process(piece)]
    assert chunked == flags and len(flags) == 1
    assert pieces.episodes() == whole.episodes()
    assert pieces.windows == whole.windows


def test_flat_and_nan_input_never_alarm() -> None:
    detector = FibrillationDetector(FS)
    assert detector.process(np.zeros(int(20 * FS))) == []
    assert detector.process(np.full(int(20 * FS), np.nan)) == []


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        FibrillationConfig(step_s=4.0)
    with pytest.raises(ValueError):
        FibrillationConfig(level=1.5)
