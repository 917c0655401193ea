"""An ECG record in memory: one lead in mV, its sampling rate, and optional reference beats.

The beat-annotation codes are those of the MIT-BIH Arrhythmia Database / WFDB annotation
convention (PhysioNet, "MIT-BIH Arrhythmia Database Directory", table of beat annotations;
Moody & Mark, IEEE Eng Med Biol 20(3):45-50, 2001). Only these symbols mark beats; the others
(``+`` rhythm change, ``~`` signal quality, ``|`` isolated artefact, ``"`` comment, ...) do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BEAT_SYMBOLS: frozenset[str] = frozenset("NLRBAaJSVrFejnE/fQ?")
"""WFDB beat-annotation symbols (MIT-BIH directory; ANSI/AAMI EC57 counts exactly these)."""

FS_RANGE_HZ: tuple[float, float] = (125.0, 1000.0)
"""Sampling rates the readers accept. 125 Hz is the lowest rate of the common clinical and
Holter recorders (and of the records the detector was checked on after resampling); 1000 Hz
covers research front ends. Outside this range the detector's filters are not designed for."""


@dataclass(frozen=True)
class BeatAnnotations:
    """Reference annotations: sample indices and WFDB symbols, same length, sorted by sample."""

    samples: np.ndarray
    symbols: tuple[str, ...]

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.int64)
        if samples.ndim != 1 or samples.size != len(self.symbols):
            raise ValueError("samples and symbols must be 1-D and the same length")
        object.__setattr__(self, "samples", samples)

    def beats_only(self) -> BeatAnnotations:
        """Keep only beat annotations (:data:`BEAT_SYMBOLS`), dropping rhythm/noise/comments."""
        keep = np.fromiter((s in BEAT_SYMBOLS for s in self.symbols), dtype=bool,
                           count=len(self.symbols))
        return BeatAnnotations(
            samples=self.samples[keep],
            symbols=tuple(s for s, k in zip(self.symbols, keep, strict=True) if k),
        )


@dataclass(frozen=True)
class EcgRecord:
    """One ECG lead (the first channel; MLII for MIT-BIH) in mV, sampled at ``fs_Hz``.

    ``adc_rails_mV``: the lowest and highest values the recorder could represent, in mV, when
    the file says (WFDB ``adc_res``/``adc_zero``/``baseline``/``adc_gain``; EDF physical
    minimum/maximum); a signal sitting there was clipped. None when unknown (CSV)."""

    signal_mV: np.ndarray
    fs_Hz: float
    name: str
    annotations: BeatAnnotations | None = None
    adc_rails_mV: tuple[float, float] | None = None

    @property
    def duration_s(self) -> float:
        """Length of the record in seconds."""
        return self.signal_mV.size / self.fs_Hz
