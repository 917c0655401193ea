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
