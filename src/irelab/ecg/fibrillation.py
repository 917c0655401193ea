"""Streaming detection of ventricular flutter and fibrillation (VF/VFL): delivery must stop.

In VF/VFL there is no R wave to synchronise to and any pulse falls on the vulnerable myocardium;
the R detector's beats there are flutter waves or noise, and a ventricular flutter at 250-300
/min whose every second wave is detected even looks regular to an RR guard. So a rhythm-level
detector that does not rely on beats watches the same stream.

Algorithm: the threshold crossing sample count (TCSC) of Arafat MA, Chowdhury AW, Hasan MK, "A
simple time domain algorithm for the detection of ventricular fibrillation in
electrocardiogram", Signal Image Video Process 5:1-10 (2011), which had the largest area under
the ROC curve of the eight algorithms they compared on the MIT-BIH arrhythmia and CU databases.
Every ``step_s`` (1 s, as the continuous analysis of Amann A, Tratnig R, Unterkofler K, BioMed
Eng OnLine 4:60, 2005) the last ``window_s`` (3 s) of the band-passed ECG are tapered at both
ends (``taper_s``), normalised by their largest absolute value, and the percentage of samples
whose magnitude exceeds ``level`` (0.2) is counted. Our addition: the window must also have
most of its power in the band of fibrillation/flutter waves (``vf_band_Hz``), as the spectral
VF detectors compared by Amann et al. (2005) use the dominant frequency. Sinus rhythm is mostly
isoelectric between narrow QRS complexes, so few samples exceed a fifth of the largest; a
flutter sine wave exceeds it about 87 % of the time (1 - (2/pi) asin 0.2) and fibrillation most
of the time. The band-pass (1-30 Hz, 2nd order) stands for the preprocessing of Amann et al.
(2005: drift suppression and a 30 Hz low-pass), as we recall it; we could not re-read the paper
here. The thresholds were chosen by us on the tuning records (no alarm on MLII) and synthetic
flutter/fibrillation (:func:`irelab.delivery.synthetic.synthetic_ventricular_fibrillation`);
Arafat et al.'s own threshold is not used.

Fails closed: an alarm lasts from the first window over the threshold until ``clear_windows``
windows in a row are under it; ventricular tachycardia and some noise also raise it (holding
delivery there is intended). Decisions are made at sample indices that are multiples of the
step, so any chunking gives the same flags.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from irelab.ecg.quality import QualityFlag, QualityReason

__all__ = ["FibrillationConfig", "FibrillationDetector"]


@dataclass(frozen=True)
class FibrillationConfig:
    """Window, level and threshold of :class:`FibrillationDetector` (module docstring)."""

    window_s: float = 3.0
    """Analysis window (Arafat et al. 2011: 3 s segments)."""
    step_s: float = 1.0
    """A decision every second (Amann et al. 2005)."""
    taper_s: float = 0.25
    """Cosine taper at each end of the window, so a QRS cut by the window edge does not
    count as a wide deflection (design choice, a QRS plus margin)."""
    level: float = 0.2
    """Threshold as a fraction of the window's largest magnitude (Arafat et al. 2011: 0.2)."""
    alarm_percent: float = 35.0
    """TCSC part of the alarm: more than this percentage of the window's samples exceed
    ``level``. Alone it is not specific: on the tuning records (MLII) 105 (noise), 106
    (ventricular tachycardia) and 232 (bradycardia with wide QRS and large T waves) reached
    50-66 %, more than synthetic fibrillation (39-57 %); hence the spectral condition."""
    vf_band_Hz: tuple[float, float] = (2.5, 8.0)
    """Band of the fibrillation/flutter waves (their rate, 150-480 /min); sinus rhythm spreads
    its power over the QRS band (5-25 Hz) and the slow T wave."""
    min_band_fraction: float = 0.7
    """Spectral part of the alarm: more than this fraction of the window's 1-30 Hz power lies
    in ``vf_band_Hz``. With 35 % and 0.7, no window of the eight tuning records alarms (at
    0.6, 15 windows of 105, 106 and 232 did; a 2-10 Hz band alarmed on 48); synthetic flutter
    and fibrillation alarm in every window (design choice; the fibrillation is synthesised in
    3-8 Hz, so its spectral test is partly by construction: real VF is unverified here)."""
    clear_windows: int = 3
    """Windows in a row under the threshold that end an alarm (3 s of rhythm without VF)."""
    band_Hz: tuple[float, float] = (1.0, 30.0)
    """Preprocessing band (after Amann et al. 2005, see the module docstring)."""

    def __post_init__(self) -> None:
        if not (0 < self.step_s <= self.window_s and 0 <= 2 * self.taper_s < self.window_s
                and 0 < self.level < 1 and 0 < self.alarm_percent < 100
                and self.clear_windows >= 1):
            raise ValueError("inconsistent fibrillation detector settings")


class FibrillationDetector:
    """Causal VF/VFL alarm over one ECG lead; flags use ``QualityReason.VENTRICULAR_FIBRILLATION``
    so the delivery session pauses on them as on any untrustworthy ECG."""

    def __init__(self, fs_Hz: float, config: FibrillationConfig | None = None) -> None:  # noqa: N803
        self.fs_Hz = float(fs_Hz)
        self.config = config or FibrillationConfig()
        c = self.config
        self._sos = sps.butter(2, np.asarray(c.band_Hz) / (self.fs_Hz / 2.0), btype="bandpass",
                               output="sos")
        self._zi = np.zeros((self._sos.shape[0], 2))
        self._window = round(c.window_s * self.fs_Hz)
        self._step = round(c.step_s * self.fs_Hz)
        n_taper = round(c.taper_s * self.fs_Hz)
        taper = np.ones(self._window)
        if n_taper:
            ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n_taper) / n_taper)
            taper[:n_taper], taper[-n_taper:] = ramp, ramp[::-1]
        self._taper = taper
        self._buffer = np.zeros(0)
        self._seen = 0
        self._alarm = False
        self._clear = 0
        self._starts: list[int] = []
        self._stops: list[int] = []  # inclusive; the open episode's stop grows
        self._freqs = np.fft.rfftfreq(self._window, 1.0 / self.fs_Hz)
        self.windows: list[tuple[int, float, float]] = []
        """(decision sample, TCSC percentage, VF-band power fraction) of every window."""

    def process(self, chunk: np.ndarray) -> list[QualityFlag]:
        """Consume ``chunk`` (mV); return the alarm onsets decided in it."""
        x = np.asarray(chunk, dtype=np.float64).ravel()
        if x.size == 0:
            return []
        x = np.where(np.isfinite(x), x, 0.0)
        y, self._zi = sps.sosfilt(self._sos, x, zi=self._zi)
        start = self._seen - self._buffer.size  # stream index of ext[0]
        ext = np.concatenate((self._buffer, y))
        end = self._seen + x.size
        first = max(self._window, -(-(self._seen + 1) // self._step) * self._step)
        flags: list[QualityFlag] = []
        for at in range(first, end + 1, self._step):  # one decision per second of signal
            seg = ext[at - self._window - start: at - start] * self._taper
            peak = float(np.max(np.abs(seg)))
            pct = 100.0 * np.count_nonzero(np.abs(seg) > self.config.level * peak) / seg.size \
                if peak > 0 else 0.0
            spec = np.abs(np.fft.rfft(seg)) ** 2
            f = self._freqs
            total = spec[(f >= self.config.band_Hz[0]) & (f <= self.config.band_Hz[1])].sum()
            band = (f >= self.config.vf_band_Hz[0]) & (f <= self.config.vf_band_Hz[1])
            frac = spec[band].sum() / total if total > 0 else 0.0
            self.windows.append((at - 1, pct, frac))
            flag = self._decide(at - 1, pct, frac)
            if flag is not None:
                flags.append(flag)
        self._seen = end
        self._buffer = ext[-(self._window - 1):] if self._window > 1 else np.zeros(0)
        return flags

    def _decide(self, sample: int, pct: float, frac: float) -> QualityFlag | None:
        c = self.config
        if pct > c.alarm_percent and frac > c.min_band_fraction:
            self._clear = 0
            if self._alarm:
                self._stops[-1] = sample
                return None
            self._alarm = True
            self._starts.append(sample)
            self._stops.append(sample)
            return QualityFlag(
                QualityReason.VENTRICULAR_FIBRILLATION, sample,
                f"ventricular flutter/fibrillation suspected at {sample / self.fs_Hz:.1f} s: "
                f"{pct:.0f} % of the last {c.window_s:g} s above {c.level:g} of its peak "
                f"(limit {c.alarm_percent:g} %), {100 * frac:.0f} % of its power within "
                f"{c.vf_band_Hz[0]:g}-{c.vf_band_Hz[1]:g} Hz "
                f"(limit {100 * c.min_band_fraction:g} %)")
        if self._alarm:
            self._stops[-1] = sample
            self._clear += 1
            if self._clear >= self.config.clear_windows:
                self._alarm = False
        return None

    @property
    def in_alarm(self) -> bool:
        """Whether the last decision left the alarm on."""
        return self._alarm

    def last_alarm_sample(self, upto: int) -> int | None:
        """The latest sample <= ``upto`` that lay inside an alarm (None if none so far)."""
        k = bisect.bisect_right(self._starts, upto) - 1
        if k < 0:
            return None
        return min(self._stops[k], upto)

    def episodes(self) -> list[tuple[int, int]]:
        """Alarm episodes so far as (first, last) decision samples."""
        return list(zip(self._starts, self._stops, strict=True))
