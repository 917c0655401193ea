"""A synthetic ECG for ``irelab deliver --hr BPM``: a sum of Gaussian P, Q, R, S, T waves per
beat, after the ECGSYN model of McSharry PE, Clifford GD, Tarassenko L, Smith LA, IEEE TBME
50(3):289-294, 2003 (their Table 1 angles theta_i; their dynamical system is replaced here by the
closed-form sum of Gaussians in the beat phase, which is all a detector test needs).

Heart-rate variability: the RR series is modulated by respiratory sinus arrhythmia (0.25 Hz,
the high-frequency band of McSharry et al.) and Mayer waves (0.1 Hz, their low-frequency band),
each +-2 % of the mean RR, plus 1 % white jitter; fixed seed. Additive noise 0.02 mV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_THETA = np.array([-np.pi / 3, -np.pi / 12, 0.0, np.pi / 12, np.pi / 2])
"""Phase of P, Q, R, S, T relative to the R peak (McSharry et al. 2003, Table 1)."""
_AMPLITUDE_MV = np.array([0.15, -0.15, 1.2, -0.25, 0.3])
"""Wave amplitudes in mV: a normal lead-II-like beat (R 1.2 mV; design choice)."""
_WIDTH = np.array([0.25, 0.1, 0.1, 0.1, 0.4])
"""Gaussian widths in rad (McSharry et al. 2003, Table 1, b_i)."""


@dataclass(frozen=True)
class SyntheticEcg:
    """A synthetic record: ``signal_mV`` at ``fs_Hz`` and the true R-peak samples."""

    signal_mV: np.ndarray
    fs_Hz: float
    r_samples: np.ndarray


def synthetic_ecg(heart_rate_bpm: float, duration_s: float, fs_Hz: float = 360.0,  # noqa: N803
                  seed: int = 0) -> SyntheticEcg:
    """A synthetic ECG of ``duration_s`` at mean rate ``heart_rate_bpm`` (30-200 /min)."""
    if not 30 <= heart_rate_bpm <= 200:
        raise ValueError("heart_rate_bpm must be within 30-200")
    rng = np.random.default_rng(seed)
    mean_rr = 60.0 / heart_rate_bpm
    n_beats = int(duration_s / mean_rr) + 2
    t_nominal = np.arange(n_beats) * mean_rr
    rr = mean_rr * (1 + 0.02 * np.sin(2 * np.pi * 0.25 * t_nominal)
                    + 0.02 * np.sin(2 * np.pi * 0.1 * t_nominal)
                    + 0.01 * rng.standard_normal(n_beats))
    r_times = 0.5 + np.cumsum(rr) - rr[0]
    n = int(round(duration_s * fs_Hz))
    t = np.arange(n) / fs_Hz
    # each sample belongs to the beat whose R is nearest; its phase runs over one RR
    k = np.clip(np.searchsorted(r_times, t), 1, r_times.size - 1)
    k -= (t - r_times[k - 1]) < (r_times[k] - t)
    phase = 2 * np.pi * (t - r_times[k]) / rr[k]
    d = phase[:, None] - _THETA[None, :]
    signal = (_AMPLITUDE_MV * np.exp(-d**2 / (2 * _WIDTH**2))).sum(axis=1)
    signal += 0.02 * rng.standard_normal(n)
    r = np.round(r_times * fs_Hz).astype(np.int64)
    return SyntheticEcg(signal, float(fs_Hz), r[r < n])


_VFL_RATE_HZ = 4.5
"""Ventricular flutter: a regular sine-like wave at about 250-300 /min with no separate QRS,
ST or T (textbook description, e.g. Goldberger AL, *Clinical Electrocardiography*, 8th ed.,
Elsevier 2013, ch. 16); 4.5 Hz = 270 /min. Design value within that range."""
_VF_BAND_HZ = (3.0, 8.0)
"""Ventricular fibrillation: irregular undulations without QRS complexes, their dominant
frequency in humans mostly within 3-8 Hz (second-hand: frequency analyses of out-of-hospital
VF report median frequencies around 4-6 Hz); the band is our design value."""


def synthetic_ventricular_fibrillation(duration_s: float, fs_Hz: float = 360.0,  # noqa: N803
                                       flutter: bool = False, amplitude_mV: float = 1.0,
                                       seed: int = 0) -> np.ndarray:
    """A synthetic ventricular flutter (``flutter=True``: a 270 /min sine wave, its amplitude
    and rate slowly modulated by +-15 % and +-5 %) or fibrillation (Gaussian noise limited to
    3-8 Hz) of ``duration_s``, peak amplitude about ``amplitude_mV``, seeded; plus 0.02 mV of
    white noise as :func:`synthetic_ecg`."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * fs_Hz))
    t = np.arange(n) / fs_Hz
    if flutter:
        rate = _VFL_RATE_HZ * (1 + 0.05 * np.sin(2 * np.pi * 0.2 * t + rng.uniform(0, 6.3)))
        phase = 2 * np.pi * np.cumsum(rate) / fs_Hz
        envelope = 1 + 0.15 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6.3))
        x = amplitude_mV * envelope * np.sin(phase) / 1.15
    else:
        f = np.fft.rfftfreq(n, 1.0 / fs_Hz)
        spectrum = rng.standard_normal(f.size) + 1j * rng.standard_normal(f.size)
        spectrum[(f < _VF_BAND_HZ[0]) | (f > _VF_BAND_HZ[1])] = 0.0
        x = np.fft.irfft(spectrum, n)
        x *= amplitude_mV / (3.0 * x.std())
    return x + 0.02 * rng.standard_normal(n)
