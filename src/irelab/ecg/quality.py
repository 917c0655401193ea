"""Streaming ECG signal-quality monitor for synchronised delivery (fails closed).

A pulse may only be synchronised to an ECG that is trustworthy. This monitor consumes the same
chunks as the R-wave detector and flags, each with a reason, the sample index and a sentence:

- ``non_finite``: a NaN or infinite sample (a broken acquisition chain).
- ``saturation``: a sample at (or beyond) the ADC rails, when the rails are known (WFDB header:
  ``adc_gain``, ``baseline``, ``adc_res``), the signature of an amplifier driven into clipping.
- ``implausible_amplitude``: ``|x| > max_abs_mV``, physiologically impossible for a surface lead.
- ``flat_line``: the signal spans less than ``flat_range_mV`` for ``flat_ms`` (lead off, amplifier
  blanked, asystole).
- ``gap``: the caller's sample index jumps (a timestamp gap: samples lost).
- ``truncated``: the stream ended before the protocol it served was complete.

Written here (rather than taken from a library) because it is the product: the checks must be
causal, identical for any chunking, and name every hold. Each flag is raised once, at the first
bad sample of a bad stretch; the monitor also keeps the bad stretches so a gate can ask "when was
the signal last bad, up to sample n" (:meth:`SignalQualityMonitor.last_bad_sample`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d

__all__ = ["QualityConfig", "QualityFlag", "QualityReason", "SignalQualityMonitor"]


class QualityReason(StrEnum):
    """Why the ECG is not trustworthy."""

    NON_FINITE = "non_finite"
    SATURATION = "saturation"
    IMPLAUSIBLE_AMPLITUDE = "implausible_amplitude"
    FLAT_LINE = "flat_line"
    GAP = "gap"
    TRUNCATED = "truncated"
    VENTRICULAR_FIBRILLATION = "ventricular_fibrillation"
    """Raised by :class:`irelab.ecg.fibrillation.FibrillationDetector`, not by this monitor:
    ventricular flutter/fibrillation suspected, no R wave to synchronise to."""


@dataclass(frozen=True)
class QualityFlag:
    """One quality event: ``reason`` at stream sample ``sample``, with a sentence ``detail``."""

    reason: QualityReason
    sample: int
    detail: str


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of :class:`SignalQualityMonitor`, each with its justification."""

    flat_ms: float = 1000.0
    """A flat stretch this long is flagged. 1 s is longer than the isoelectric TP segment at any
    rate we deliver on (the rhythm guard also needs beats at least every 1/(1-0.2) x median RR),
    so a real ECG lead never stays this still; a shorter window would flag clean diastole."""
    flat_range_mV: float = 0.02
    """'Flat': max - min below this. Four quantisation steps of the MIT-BIH records (200 adu/mV,
    i.e. 5 uV per step, record headers): even a clean lead's baseline noise spans more."""
    max_abs_mV: float = 8.0
    """Implausible amplitude. More than twice the 3.5 mV Sokolow-Lyon voltage criterion for left
    ventricular hypertrophy (Sokolow & Lyon, Am Heart J 37:161-186, 1949), itself the *sum* of
    two chest-lead amplitudes, so no single surface lead reaches it physiologically."""
    rails_mV: tuple[float, float] | None = None
    """ADC rails (lowest, highest representable value) in mV, from the recording's header; None
    when unknown (then only ``max_abs_mV`` guards the amplitude)."""

    @classmethod
    def for_adc(cls, adc_gain: float, baseline: int, adc_res: int, adc_zero: int = 0,
                **overrides: float) -> QualityConfig:
        """A config whose rails are those of a WFDB-style ADC: digital values from
        ``adc_zero - 2**(adc_res-1)`` to ``adc_zero + 2**(adc_res-1) - 1``, physical
        ``(d - baseline) / adc_gain`` mV (WFDB header semantics)."""
        half = 2 ** (int(adc_res) - 1)
        low = (adc_zero - half - baseline) / adc_gain
        high = (adc_zero + half - 1 - baseline) / adc_gain
        return cls(rails_mV=(float(low), float(high)), **overrides)

    def __post_init__(self) -> None:
        if not (self.flat_ms > 0 and self.flat_range_mV > 0 and self.max_abs_mV > 0):
            raise ValueError("quality thresholds must be positive")
        if self.rails_mV is not None and not self.rails_mV[0] < self.rails_mV[1]:
            raise ValueError("rails_mV must be (low, high) with low < high")


_SIGNAL_REASONS = (QualityReason.NON_FINITE, QualityReason.SATURATION,
                   QualityReason.IMPLAUSIBLE_AMPLITUDE, QualityReason.FLAT_LINE)
"""The reasons this monitor raises sample by sample."""


class SignalQualityMonitor:
    """Causal, chunk-invariant quality flags over one ECG stream sampled at ``fs_Hz``."""

    def __init__(self, fs_Hz: float, config: QualityConfig | None = None) -> None:
        if not fs_Hz > 0:
            raise ValueError("fs_Hz must be positive")
        self.fs_Hz = float(fs_Hz)
        self.config = config or QualityConfig()
        self._window = max(2, int(round(self.config.flat_ms * 1e-3 * self.fs_Hz)))
        self._buffer = np.empty(0)  # last window-1 samples (non-finite as 0), for the flat test
        self._previous = {reason: False for reason in _SIGNAL_REASONS}
        self._seen = 0
        self._run_starts: list[int] = []
        self._run_stops: list[int] = []  # inclusive

    @property
    def samples_seen(self) -> int:
        """Index of the next sample the monitor expects."""
        return self._seen

    def process(self, chunk: np.ndarray, start_sample: int | None = None) -> list[QualityFlag]:
        """Consume ``chunk``; return the flags first raised in it, in sample order.

        ``start_sample``: the stream index of the chunk's first sample when the source carries
        one; a jump from the expected index raises ``gap`` (the lost stretch counts as bad)."""
        x = np.asarray(chunk, dtype=float).ravel()
        flags: list[QualityFlag] = []
        if start_sample is not None and start_sample != self._seen:
            if start_sample < self._seen:
                raise ValueError("start_sample goes back in time")
            flags.append(QualityFlag(
                QualityReason.GAP, self._seen,
                f"samples {self._seen}-{start_sample - 1} missing (stream gap of "
                f"{(start_sample - self._seen) * 1e3 / self.fs_Hz:.0f} ms)"))
            self._mark(self._seen, start_sample - 1)
            self._seen = start_sample
            self._buffer = np.empty(0)
        if x.size == 0:
            return flags
        masks = self._masks(x)
        n0 = self._seen
        for reason, mask in masks.items():
            before = np.concatenate(([self._previous[reason]], mask[:-1]))
            for i in np.flatnonzero(mask & ~before):
                flags.append(QualityFlag(reason, n0 + int(i), self._detail(reason, x, int(i))))
            self._previous[reason] = bool(mask[-1])
        bad = np.logical_or.reduce(list(masks.values()))
        self._record_runs(bad, n0)
        self._seen += x.size
        flags.sort(key=lambda f: f.sample)
        return flags

    def end_of_stream(self, complete: bool) -> list[QualityFlag]:
        """Close the stream; ``truncated`` when the protocol it served was not ``complete``."""
        if complete:
            return []
        self._mark(self._seen, self._seen)
        return [QualityFlag(QualityReason.TRUNCATED, self._seen,
                            f"the ECG ended at sample {self._seen} "
                            f"({self._seen / self.fs_Hz:.1f} s) before the protocol completed")]

    def last_bad_sample(self, upto: int) -> int | None:
        """The latest bad sample index <= ``upto`` (None if none), from what has been seen."""
        k = bisect.bisect_right(self._run_starts, upto) - 1
        if k < 0:
            return None
        return min(self._run_stops[k], upto)

    # -- internals ---------------------------------------------------------------------------

    def _masks(self, x: np.ndarray) -> dict[QualityReason, np.ndarray]:
        cfg = self.config
        finite = np.isfinite(x)
        safe = np.where(finite, x, 0.0)
        masks = {
            QualityReason.NON_FINITE: ~finite,
            QualityReason.IMPLAUSIBLE_AMPLITUDE: finite & (np.abs(safe) > cfg.max_abs_mV),
            QualityReason.SATURATION: np.zeros(x.size, dtype=bool),
            QualityReason.FLAT_LINE: self._flat(safe),
        }
        if cfg.rails_mV is not None:
            low, high = cfg.rails_mV
            masks[QualityReason.SATURATION] = finite & ((safe <= low) | (safe >= high))
        return masks

    def _flat(self, safe: np.ndarray) -> np.ndarray:
        """True at sample n when samples n-W+1..n span less than ``flat_range_mV``."""
        w = self._window
        ext = np.concatenate((self._buffer, safe))
        # trailing window [i-w+1, i]: origin (w-1)//2 shifts scipy's centred window back.
        hi = maximum_filter1d(ext, w, origin=(w - 1) // 2, mode="nearest")
        lo = minimum_filter1d(ext, w, origin=(w - 1) // 2, mode="nearest")
        first = self._seen - self._buffer.size  # stream index of ext[0]
        full = first + np.arange(ext.size) >= w - 1
        flat = full & ((hi - lo) < self.config.flat_range_mV)
        self._buffer = ext[-(w - 1):]
        return flat[ext.size - safe.size:]

    def _detail(self, reason: QualityReason, x: np.ndarray, i: int) -> str:
        t = (self._seen + i) / self.fs_Hz
        cfg = self.config
        texts = {
            QualityReason.NON_FINITE: f"non-finite sample ({x[i]}) at {t:.3f} s",
            QualityReason.IMPLAUSIBLE_AMPLITUDE:
                f"|{x[i]:.2f}| mV > {cfg.max_abs_mV} mV at {t:.3f} s (implausible for a lead)",
            QualityReason.SATURATION:
                f"{x[i]:.3f} mV at the ADC rail {cfg.rails_mV} at {t:.3f} s (clipping)",
            QualityReason.FLAT_LINE:
                f"signal within {cfg.flat_range_mV} mV for {cfg.flat_ms:.0f} ms up to {t:.3f} s"
                " (flat line: lead off or asystole)",
        }
        return texts[reason]

    def _record_runs(self, bad: np.ndarray, n0: int) -> None:
        edges = np.diff(np.concatenate(([False], bad, [False])).astype(np.int8))
        for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            self._mark(n0 + int(s), n0 + int(e) - 1)

    def _mark(self, start: int, stop: int) -> None:
        if self._run_stops and start <= self._run_stops[-1] + 1:
            self._run_stops[-1] = max(self._run_stops[-1], stop)
        else:
            self._run_starts.append(start)
            self._run_stops.append(stop)
