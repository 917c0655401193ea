"""The noise stress harness (irelab.ecg.noise): the synthesised spectra are the documented ones,
the calibration gives the requested SNR by nst's definition measured independently here, the
protocol is nst's default, outputs are reproducible; and the detector's accuracy under noise on
a tuning record stays above measured floors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from irelab.ecg import EcgRecord, Score, detect_beats, score_detections
from irelab.ecg.noise import NSTDB_SNRS_DB, NoiseKind, add_noise, nst_protocol, synth_noise

FS = 360.0


def band_fraction(x: np.ndarray, low: float, high: float) -> float:
    f, p = welch(x, FS, nperseg=2**14)
    return float(p[(f >= low) & (f <= high)].sum() / p.sum())


def test_spectra_are_the_documented_ones() -> None:
    """Welch PSD of 10 min of each kind: baseline wander below 1 Hz, muscle within 20-150 Hz
    (both > 99 % of the power, allowing the PSD's leakage); electrode motion's 1/f^2 slope
    fitted on 1-30 Hz within 0.2 of -2 (log-log least squares)."""
    n = int(600 * FS)
    bw = synth_noise(NoiseKind.BASELINE_WANDER, n, FS, seed=1)
    ma = synth_noise(NoiseKind.MUSCLE, n, FS, seed=2)
    em = synth_noise(NoiseKind.ELECTRODE_MOTION, n, FS, seed=3)
    assert band_fraction(bw, 0.0, 1.05) > 0.99
    assert band_fraction(ma, 19.0, 151.0) > 0.99
    f, p = welch(em, FS, nperseg=2**14)
    keep = (f >= 1) & (f <= 30)
    slope = np.polyfit(np.log(f[keep]), np.log(p[keep]), 1)[0]
    assert slope == pytest.approx(-2.0, abs=0.2)
    for x in (bw, ma, em):
        assert x.std() == pytest.approx(1.0)


@pytest.mark.parametrize("snr", NSTDB_SNRS_DB)
def test_calibrated_snr(records: dict[str, EcgRecord], snr: float) -> None:
    """Record 103 with electrode motion: S = (mean QRS peak-to-peak in R +- 50 ms)^2 / 8 from
    the clean record, N = mean over 1 s pieces of the variance of what was added in the noisy
    segments (nst measures noise in 1 s pieces with their mean removed, so slow drift does not
    count; the total mean square is 3.4 dB higher for this 1/f^2 noise); 10 log10(S/N) equals
    the requested SNR within 0.5 dB (nst trims 5 % of the measurements at each end and the
    segments' end ramps take a little power; neither is redone here)."""
    rec = records["103"]
    ref = rec.annotations.beats_only().samples
    stress = add_noise(rec.signal_mV, ref, FS, NoiseKind.ELECTRODE_MOTION, snr, seed=4)
    half = 18
    inner = ref[(ref > half) & (ref < ref.max() - half)]
    ptp = np.array([np.ptp(rec.signal_mV[r - half: r + half + 1]) for r in inner])
    signal_power = ptp.mean() ** 2 / 8
    added = (stress.signal_mV - rec.signal_mV)[stress.noisy]
    pieces = added[: added.size // 360 * 360].reshape(-1, 360)
    noise_power = pieces.var(axis=1).mean()
    assert 10 * np.log10(signal_power / noise_power) == pytest.approx(snr, abs=0.5)
    assert np.array_equal(stress.signal_mV[~stress.noisy], rec.signal_mV[~stress.noisy])


def test_protocol_and_reproducibility(records: dict[str, EcgRecord]) -> None:
    """nst's default protocol: clean for 5 min, then 2 min noisy / 2 min clean; the same seed
    gives the same samples, another seed others."""
    mask = nst_protocol(int(1800 * FS), FS)
    t = np.flatnonzero(np.diff(mask.astype(int))) / FS
    assert t[:4] == pytest.approx([300 - 1 / FS, 420 - 1 / FS, 540 - 1 / FS, 660 - 1 / FS])
    assert not mask[: int(300 * FS)].any()
    rec = records["100"]
    ref = rec.annotations.beats_only().samples
    a = add_noise(rec.signal_mV, ref, FS, NoiseKind.MUSCLE, 6.0, seed=9)
    b = add_noise(rec.signal_mV, ref, FS, NoiseKind.MUSCLE, 6.0, seed=9)
    c = add_noise(rec.signal_mV, ref, FS, NoiseKind.MUSCLE, 6.0, seed=10)
    assert np.array_equal(a.signal_mV, b.signal_mV)
    assert not np.array_equal(a.signal_mV, c.signal_mV)


NOISE_FLOORS = {
    (NoiseKind.ELECTRODE_MOTION, 12.0): (0.99, 0.99),
    (NoiseKind.MUSCLE, 6.0): (0.99, 0.99),
    (NoiseKind.BASELINE_WANDER, 0.0): (0.99, 0.99),
    (NoiseKind.ELECTRODE_MOTION, 0.0): (0.93, 0.60),
}
"""Se and +P floors on the noisy segments of record 119 (tuning record; bigeminy, 869 beats in
the noisy segments), measured (seed 0): 100.0/100.0, 100.0/100.0, 100.0/99.89 and 96.66/63.59 %
(0 dB electrode motion: 481 false beats, 424 before search-back beats were reported, when Se
was 94.82 % and +P 66.03 %; the gate's job there is to hold, tested in tests/delivery). The
floors leave about one per cent (three to six at 0 dB)."""


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "snr"), list(NOISE_FLOORS))
def test_detector_under_noise(records: dict[str, EcgRecord], kind: NoiseKind,
                              snr: float) -> None:
    rec = records["119"]
    ref = rec.annotations.beats_only().samples
    stress = add_noise(rec.signal_mV, ref, FS, kind, snr, seed=0)
    found = np.array([b.sample for b in detect_beats(stress.signal_mV, FS)])
    score = score_detections(ref[stress.noisy[ref]], found[stress.noisy[found]], FS)
    se, ppv = NOISE_FLOORS[(kind, snr)]
    assert score.se >= se and score.ppv >= ppv, Score.gross([score])
