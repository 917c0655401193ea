"""Causal detection of pacemaker stimulus artefacts ("pace spikes") in a band-limited ECG.

Why: a pacemaker stimulus is a very steep, very narrow spike. An R detector that takes it for
the R wave times the pulse from the stimulus, not from the paced QRS, whose peak can come 50 ms
or more later; on a fusion beat (stimulus and native activation together) the pulse then falls
before the R. So the delivery gate holds every beat with a spike in its QRS window (skip reason
``paced``), and the flutter/fibrillation alarm analyses the ECG with the spikes removed.

What a spike is. The standards for ECG monitors define the pacemaker pulses a heart-rate meter
must reject: amplitude 2 to 700 mV, width 0.1 to 2 ms, rise time 10 to 100 us (IEC 60601-2-27,
pacemaker pulse rejection; AAMI EC13, same ranges; as we recall them, the clause numbers not
re-checked here). A pulse of at most 2 ms is shorter than one sample interval of a 360-500 Hz
recording, so what a recording keeps of it is the impulse response of its front end: on the
MIT-BIH recordings (0.1-100 Hz band, Moody & Mark, IEEE Eng Med Biol 20(3):45-50, 2001) a spike
rises and falls within one or two samples (about 3-6 ms). The narrowest deflections of a QRS
complex last 15-40 ms (its power lies within about 5-25 Hz: Thakor, Webster & Tompkins, IEEE
TBME 31(11):702-706, 1984). A slew-rate test alone cannot tell the two apart (a 3 mV R wave is as
steep as a small spike at 360 Hz); the width can. We measure it as the *curvature* over one
spike half-width, ``c[n] = x[n] - (x[n - s] + x[n + s]) / 2`` with ``s`` = ``half_width_ms``:
a spike of height A gives ``|c|`` about A/4 at 360 Hz, a QRS wave of the same height under A/20
(a Gaussian wave of sigma >= 7 ms), so a spike is a local maximum of ``|c|`` that is at least
``min_relative`` of the signal's peak-to-peak range within ``+-context_ms`` and at least
``min_curvature_mV``.

The two thresholds are design choices set on the tuning records (MIT-BIH 100, 101, 103, 105,
106, 119, 200, 232, MLII, none paced): with 0.15 mV and 15 % they hold 39 spike-like samples in
those 4 hours (records 101, 105, 106 and 200: artefacts and noise), at 0.10 mV 173. The held-out
paced record 104 was not used to choose them (its figures are in tests/delivery and the
benchmark). A stimulus that the recording does not show (bipolar pacing leads give spikes
under 1 mV at the skin, and a recorder band-limited to 40 Hz smears them) cannot be seen here:
paced beats are then handled as wide beats by the QRS-shape rule of the gate, and the pulse is
timed from the paced QRS.

Causal with a look-ahead of ``context_ms``: a spike at sample n is known once n + context has
been seen (10 ms, inside the gate's decision delay). Chunk-invariant.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d

__all__ = ["PaceConfig", "PaceDetector", "blank_pace_spikes", "pace_spikes"]


@dataclass(frozen=True)
class PaceConfig:
    """Width and height of a pacemaker spike (module docstring)."""

    half_width_ms: float = 3.0
    """Half-width over which the curvature is taken: a 2 ms pulse (the widest the monitor
    standards define) seen through a recorder's front end lasts a few ms (module docstring);
    one sample at 360 Hz, three at 1000 Hz."""
    context_ms: float = 10.0
    """The spike's curvature is compared with the signal's range within +-10 ms: the spike
    itself, not the QRS that follows a ventricular stimulus (design choice)."""
    min_relative: float = 0.15
    """Curvature at least 15 % of the local peak-to-peak range: a QRS wave reaches about 5 %
    (a Gaussian wave of sigma 7 ms at 360 Hz), a pacemaker spike about 25 % (design choice;
    see the module docstring)."""
    min_curvature_mV: float = 0.15
    """Absolute floor against sample-to-sample noise (design choice on the tuning records)."""
    blank_ms: float = 10.0
    """Samples within +-10 ms of a spike are replaced by a straight line for analyses that must
    not see it (:func:`blank_pace_spikes`)."""

    def __post_init__(self) -> None:
        if not (self.half_width_ms > 0 and self.context_ms > 0 and 0 < self.min_relative < 1
                and self.min_curvature_mV > 0 and self.blank_ms >= 0):
            raise ValueError("inconsistent pace spike settings")


def _samples(ms: float, fs_Hz: float) -> int:
    return max(1, round(ms * 1e-3 * fs_Hz))


def _reach(c: PaceConfig, fs_Hz: float) -> int:
    """Samples on either side that a spike decision reads."""
    return max(_samples(c.context_ms, fs_Hz), 2 * _samples(c.half_width_ms, fs_Hz))


def pace_spikes(x: np.ndarray, fs_Hz: float, config: PaceConfig | None = None) -> np.ndarray:
    """Sample indices of the pacemaker spikes of ``x`` (mV), each decided on samples within
    ``+-context_ms``; samples closer than that to either end are not decided."""
    c = config or PaceConfig()
    x = np.nan_to_num(np.asarray(x, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    s, w = _samples(c.half_width_ms, fs_Hz), _samples(c.context_ms, fs_Hz)
    edge = _reach(c, fs_Hz)
    if x.size < 2 * edge + 1:
        return np.zeros(0, dtype=np.int64)
    curvature = np.zeros(x.size)
    curvature[s:-s] = np.abs(x[s:-s] - 0.5 * (x[:-2 * s] + x[2 * s:]))
    span = maximum_filter1d(x, 2 * w + 1) - minimum_filter1d(x, 2 * w + 1)
    peak = curvature >= maximum_filter1d(curvature, 2 * s + 1)
    spike = peak & (curvature >= c.min_curvature_mV) & (curvature >= c.min_relative * span)
    spike[:edge] = spike[x.size - edge:] = False
    return np.flatnonzero(spike).astype(np.int64)


def blank_pace_spikes(x: np.ndarray, spikes: np.ndarray, fs_Hz: float,
                      config: PaceConfig | None = None) -> np.ndarray:
    """``x`` with the samples within ``+-blank_ms`` of each spike replaced by the straight line
    between the samples on either side (a copy)."""
    c = config or PaceConfig()
    y = np.array(x, dtype=float)
    if spikes.size == 0 or y.size == 0:
        return y
    b = round(c.blank_ms * 1e-3 * fs_Hz)
    hit = np.zeros(y.size + 1)
    np.add.at(hit, np.clip(spikes - b, 0, y.size), 1.0)
    np.add.at(hit, np.clip(spikes + b + 1, 0, y.size), -1.0)
    masked = np.cumsum(hit[:-1]) > 0
    keep = np.flatnonzero(~masked)
    if keep.size == 0:
        return np.zeros_like(y)
    y[masked] = np.interp(np.flatnonzero(masked), keep, y[keep])
    return y


class PaceDetector:
    """Streaming :func:`pace_spikes` over one lead: feed chunks of any size; spikes are known
    ``context_ms`` after they occur, at the same samples for any chunking."""

    def __init__(self, fs_Hz: float, config: PaceConfig | None = None) -> None:
        self.fs_Hz = float(fs_Hz)
        self.config = config or PaceConfig()
        c = self.config
        self._reach = _reach(c, fs_Hz)
        self._tail = np.zeros(0)
        self._tail_start = 0
        self._spikes: list[int] = []
        self._decided = 0  # samples below this index are decided

    def process(self, chunk: np.ndarray) -> list[int]:
        """Consume ``chunk`` (mV); return the spikes decided with it."""
        x = np.asarray(chunk, dtype=float).ravel()
        if x.size == 0:
            return []
        ext = np.concatenate((self._tail, x))
        found = pace_spikes(ext, self.fs_Hz, self.config) + self._tail_start
        end = self._tail_start + ext.size
        new = [int(k) for k in found if self._decided <= k < end - self._reach]
        self._decided = max(self._decided, end - self._reach)
        self._spikes += new
        keep = 4 * self._reach + 1  # two reaches either side of the first undecided sample
        self._tail_start = end - min(keep, ext.size)
        self._tail = ext[ext.size - min(keep, ext.size):]
        return new

    @property
    def delay(self) -> int:
        """Samples after a spike that must be seen before it is decided."""
        return self._reach

    @property
    def spikes(self) -> tuple[int, ...]:
        """Every spike decided so far."""
        return tuple(self._spikes)

    def last_spike_sample(self, known_at: int) -> int | None:
        """The latest spike that any chunking has decided once sample ``known_at`` has been
        seen (a spike at most ``delay`` samples before it); None when none."""
        k = bisect.bisect_right(self._spikes, known_at - self._reach) - 1
        return self._spikes[k] if k >= 0 else None
