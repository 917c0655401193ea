"""The signal-quality monitor: each flag at the exact first bad sample, identical flags for any
chunking, no flag on the real MIT-BIH records, and the bad-stretch lookup the gate uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb

from irelab.ecg import read_record
from irelab.ecg.quality import QualityConfig, QualityReason, SignalQualityMonitor

FS = 360.0
RECORDS = ("100", "101", "103", "105", "106", "119", "200", "232")


def faulty_signal() -> np.ndarray:
    """20 s of noise-like ECG stand-in with a 2 s flat stretch at 5 s, a NaN at 10 s, a
    saturated stretch at the +5.115 mV rail at 12 s and a 9 mV spike at 15 s."""
    rng = np.random.default_rng(7)
    x = 0.3 * np.sin(2 * np.pi * 1.2 * np.arange(int(20 * FS)) / FS)
    x += 0.05 * rng.standard_normal(x.size)
    x[1800:2520] = 0.1
    x[3600] = np.nan
    x[4320:4340] = 5.115
    x[5400] = 9.0
    return x


def run(x: np.ndarray, chunk: int) -> list[tuple[str, int]]:
    monitor = SignalQualityMonitor(FS, QualityConfig(rails_mV=(-5.12, 5.115)))
    flags = []
    for start in range(0, x.size, chunk):
        flags += monitor.process(x[start:start + chunk])
    return [(str(f.reason), f.sample) for f in flags]


def test_flags_at_first_bad_sample() -> None:
    """Flat: the 1 s window (360 samples) ending at 1800 + 359 is the first that is flat; the
    9 mV spike is both beyond the rail and implausible."""
    assert sorted(run(faulty_signal(), 10_000)) == sorted([
        ("flat_line", 1800 + 359), ("non_finite", 3600), ("saturation", 4320),
        ("implausible_amplitude", 5400), ("saturation", 5400)])


@pytest.mark.parametrize("chunk", [1, 13, 256, 7200])
def test_chunk_invariance(chunk: int) -> None:
    assert run(faulty_signal(), chunk) == run(faulty_signal(), 10_000)


def test_last_bad_sample_lookup() -> None:
    monitor = SignalQualityMonitor(FS)
    monitor.process(faulty_signal())
    assert monitor.last_bad_sample(1000) is None
    assert monitor.last_bad_sample(2200) == 2200  # inside the flat stretch
    assert monitor.last_bad_sample(3000) == 2519  # the flat stretch's last flat window end
    assert monitor.last_bad_sample(3700) == 3600


def test_gap_and_truncation() -> None:
    monitor = SignalQualityMonitor(FS)
    monitor.process(np.sin(np.arange(100)))
    flags = monitor.process(np.sin(np.arange(100)), start_sample=150)
    assert [(f.reason, f.sample) for f in flags] == [(QualityReason.GAP, 100)]
    assert monitor.last_bad_sample(200) == 149
    end = monitor.end_of_stream(complete=False)
    assert [(f.reason, f.sample) for f in end] == [(QualityReason.TRUNCATED, 250)]
    assert monitor.end_of_stream(complete=True) == []


@pytest.mark.parametrize("name", RECORDS)
def test_no_flags_on_real_records(mitdb: Path, name: str) -> None:
    """Real MLII leads never stay within 0.02 mV for 1 s, never touch the ADC rails (from the
    WFDB header: gain 200 adu/mV, 11 bits, zero 1024 -> -5.12 / +5.115 mV) nor exceed 8 mV."""
    header = wfdb.rdheader(str(mitdb / name))
    config = QualityConfig.for_adc(header.adc_gain[0], header.baseline[0], header.adc_res[0],
                                   header.adc_zero[0])
    assert config.rails_mV == pytest.approx((-5.12, 5.115))
    record = read_record(mitdb / name)
    assert SignalQualityMonitor(record.fs_Hz, config).process(record.signal_mV) == []
