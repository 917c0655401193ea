"""Noise stress test: calibrated noise added to a clean ECG, as the MIT-BIH Noise Stress Test.

The MIT-BIH Noise Stress Test Database (Moody GB, Muldrow WE, Mark RG, "A noise stress test for
arrhythmia detectors", Computers in Cardiology 11:381-384, 1984) adds recorded baseline wander
(``bw``), electrode motion (``em``) and muscle artefact (``ma``) to clean records with the WFDB
program ``nst`` at signal-to-noise ratios of 24, 18, 12, 6, 0 and -6 dB. The recorded noise is not
available here, so each kind is synthesised as Gaussian noise with a documented spectrum:

- ``baseline_wander``: respiration and slow electrode drift, spectrum below about 0.5-1 Hz
  (Sörnmo L, Laguna P, *Bioelectrical Signal Processing in Cardiac and Neurological
  Applications*, Elsevier 2005, sect. 7.2: baseline wander is usually below 0.5 Hz, rising with
  body movement). Synthesised as Brownian (1/f^2) noise band-limited to 0.05-1 Hz.
- ``electrode_motion``: skin-electrode impedance changes; its spectrum overlaps the QRS complex
  (most of it within 1-10 Hz, Sörnmo & Laguna, ibid., sect. 7.1), which makes it the hardest
  noise for a detector, as Moody et al. (1984) chose it for the standard records 118e/119e.
  Synthesised as Brownian (1/f^2) noise band-limited to 0.5-40 Hz.
- ``muscle``: surface electromyogram, broadband with its dominant energy within 50-150 Hz and
  usable energy up to 500 Hz (De Luca CJ, "The use of surface electromyography in
  biomechanics", J Appl Biomech 13(2):135-163, 1997). Synthesised as white noise band-limited
  to 20 Hz - 0.45 fs (up to 150 Hz at least where the sampling rate allows).

Calibration follows ``nst`` (WFDB Applications Guide, nst(1), "Signal-to-noise ratios"): the
signal power is S = A^2 / 8, A the mean peak-to-peak QRS amplitude over the reference beats
(the power of a sine of that peak-to-peak amplitude); the noise power N is the mean over 1 s
pieces of the noise's mean-removed mean square; in both means the largest and smallest 5 % of
the measurements are dropped (as we read the manual; we could not re-check this detail against
the ``nst`` source here). The gain a makes 10 log10(S / (a^2 N)) equal the requested SNR.
The QRS amplitude is measured in R +- 50 ms (about a normal QRS, Surawicz et al., Circulation
119:e235-e240, 2009). Protocol, also as ``nst``'s default: the first 5 minutes are clean (the
detector's learning period), then 2-minute noisy and clean segments alternate.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

__all__ = [
    "NSTDB_SNRS_DB",
    "NoiseKind",
    "NoiseStress",
    "add_noise",
    "noise_gain",
    "nst_protocol",
    "synth_noise",
]

NSTDB_SNRS_DB: tuple[float, ...] = (24.0, 18.0, 12.0, 6.0, 0.0)
"""The SNRs of the MIT-BIH Noise Stress Test Database records (its -6 dB level omitted)."""

_LEARNING_S = 300.0
"""nst's default protocol: a five-minute noise-free learning period first."""
_SEGMENT_S = 120.0
"""then two-minute noisy and clean segments alternately (nst default protocol)."""
_QRS_HALF_S = 0.05
_TRIM = 0.05


class NoiseKind(StrEnum):
    """The three noise kinds of the MIT-BIH Noise Stress Test (see the module docstring)."""

    BASELINE_WANDER = "baseline_wander"
    ELECTRODE_MOTION = "electrode_motion"
    MUSCLE = "muscle"


_BANDS_HZ: dict[NoiseKind, tuple[float, float, float]] = {
    NoiseKind.BASELINE_WANDER: (0.05, 1.0, 2.0),
    NoiseKind.ELECTRODE_MOTION: (0.5, 40.0, 2.0),
    NoiseKind.MUSCLE: (20.0, 150.0, 0.0),
}
"""Per kind: band edges in Hz and the spectral exponent alpha of 1/f^alpha (module docstring)."""


@dataclass(frozen=True)
class NoiseStress:
    """A noisy record: the noisy signal, the gain applied, and which samples carry noise."""

    signal_mV: np.ndarray
    gain: float
    noisy: np.ndarray
    """Boolean mask, True where noise was added (nst protocol segments)."""


def synth_noise(kind: NoiseKind, n: int, fs_Hz: float, seed: int) -> np.ndarray:  # noqa: N803
    """``n`` samples of unit-variance noise of ``kind`` (spectrum: module docstring), built in
    the frequency domain (Gaussian amplitudes, 1/f^alpha shaping, band edges), seeded."""
    rng = np.random.default_rng(seed)
    low, high, alpha = _BANDS_HZ[NoiseKind(kind)]
    high = min(high, 0.45 * fs_Hz)
    f = np.fft.rfftfreq(n, 1.0 / fs_Hz)
    spectrum = rng.standard_normal(f.size) + 1j * rng.standard_normal(f.size)
    inside = (f >= low) & (f <= high)
    shape = np.zeros(f.size)
    shape[inside] = f[inside] ** (-alpha / 2.0)
    x = np.fft.irfft(spectrum * shape, n)
    return x / x.std()


def noise_gain(clean_mV: np.ndarray, beat_samples: np.ndarray, noise: np.ndarray,
               fs_Hz: float, snr_dB: float) -> float:  # noqa: N803
    """Gain a for ``noise`` so that the record has ``snr_dB`` by nst's definition."""
    half = max(1, round(_QRS_HALF_S * fs_Hz))
    beats = np.asarray(beat_samples, dtype=np.int64)
    beats = beats[(beats >= half) & (beats < clean_mV.size - half)]
    if beats.size == 0:
        raise ValueError("no reference beats to measure the QRS amplitude on")
    windows = clean_mV[beats[:, None] + np.arange(-half, half + 1)[None, :]]
    amplitude = _trimmed_mean(windows.max(axis=1) - windows.min(axis=1))
    piece = max(1, round(fs_Hz))
    usable = noise[: noise.size // piece * piece].reshape(-1, piece)
    power = _trimmed_mean(usable.var(axis=1))
    signal_power = amplitude**2 / 8.0
    return float(np.sqrt(signal_power / (power * 10.0 ** (snr_dB / 10.0))))


def _trimmed_mean(values: np.ndarray) -> float:
    v = np.sort(np.asarray(values, dtype=np.float64))
    k = int(_TRIM * v.size)
    return float(v[k: v.size - k].mean()) if v.size - 2 * k > 0 else float(v.mean())


def nst_protocol(n: int, fs_Hz: float) -> np.ndarray:  # noqa: N803
    """True where nst's default protocol adds noise: after 5 min, 2 min on / 2 min off."""
    t = np.arange(n) / fs_Hz - _LEARNING_S
    return (t >= 0) & (np.floor(t / _SEGMENT_S) % 2 == 0)


def add_noise(clean_mV: np.ndarray, beat_samples: np.ndarray, fs_Hz: float,  # noqa: N803
              kind: NoiseKind, snr_dB: float, seed: int = 0) -> NoiseStress:
    """``clean_mV`` plus ``kind`` noise at ``snr_dB`` in nst's default protocol segments.

    As nst does, the noise level is calibrated on the whole noise signal and the offset is
    chosen so that the output has no step where a noisy segment starts or ends (the noise
    inside each segment is shifted to start and end near zero by subtracting its first value
    and a linear ramp to its last)."""
    clean = np.asarray(clean_mV, dtype=np.float64)
    noise = synth_noise(kind, clean.size, fs_Hz, seed)
    gain = noise_gain(clean, beat_samples, noise, fs_Hz, snr_dB)
    mask = nst_protocol(clean.size, fs_Hz)
    added = np.zeros(clean.size)
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).astype(np.int8)))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        seg = noise[start:stop]
        ramp = np.linspace(seg[0], seg[-1], seg.size)
        added[start:stop] = gain * (seg - ramp)
    return NoiseStress(clean + added, gain, mask)

