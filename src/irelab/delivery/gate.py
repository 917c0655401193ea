"""The ECG gate: may a pulse be fired at R + delay for this beat? (explicit rules, fails closed)

Why synchronise: in the first human IRE series, transient ventricular arrhythmia followed
unsynchronised pulses in 4 patients, after which ECG-synchronised delivery was used for the
remaining 30 (Thomson KR et al., J Vasc Interv Radiol 22(5):611-621, 2011); a systematic review
of 481 IRE patients found arrhythmia in 1.2 % (5/422) with cardiac synchronisation and 22.0 %
(13/59) without (PubMed 32483842, 2020). Even with a
synchronisation device, ventricular extrasystoles led to pulses in the relative refractory period
(case report, SpringerPlus 4:74, 2015): hence the rhythm guard below holds delivery on ectopy.

Rules, checked in this order; the first that fails names the skip (:class:`SkipReason`).
Every boundary is *allowed* (inclusive), and a 1e-9 ms tolerance absorbs float rounding only:

1. ``searchback``: a beat found by the detector's search-back is late by construction.
2. ``fibrillation``: a ventricular flutter/fibrillation alarm
   (:class:`irelab.ecg.fibrillation.FibrillationDetector`) within ``recovery_ms`` before the R
   peak or up to the moment the beat was decided: there is no R wave to synchronise to, and
   what the detector reports are flutter waves. Also resets the rhythm guard.
3. ``noise``: the detector's noise-peak level is more than ``max_noise_ratio`` of its QRS-peak
   level when it decided the beat (:attr:`irelab.ecg.Beat.noise_ratio`): a noisy ECG's beats
   may be noise. Also resets the rhythm guard.
4. ``quality_hold``: a bad ECG sample within ``recovery_ms`` before the R peak or up to the
   moment the beat was decided; also resets the rhythm guard (it must re-learn).
5. ``learning``: the rhythm guard needs ``learn_beats`` consecutive consistent RR intervals
   (each within the deviation limit of the median so far, between two beats of the same QRS
   shape when a similarity is given) after a start or a reset.
6. ``rate``: ``RR >= min_rr_ms`` (400 ms, i.e. at most 150/min).
7. ``irregular``: ``median - max_premature_fraction x median <= RR <= median +
   max_rr_deviation x median``, the median over the last ``learn_beats`` accepted RR intervals
   (ectopic beats, compensatory pauses, atrial fibrillation); also a
   beat whose *preceding* beat failed rules 6-8 (its RR interval starts at an ectopic beat:
   in bigeminy the normal beats' intervals are regular among themselves).
   ``relearn_after`` irregular beats in a row make the guard re-learn (a sustained new rate).
8. ``morphology``: when the caller gives the beat's QRS similarity to the template of accepted
   beats (:mod:`irelab.delivery.morphology`), it must be >= ``min_qrs_correlation``; these
   skips count towards ``relearn_after`` as irregular beats do.
9. ``late``: the beat must be decided before the pulse is due, with a processing margin:
   ``latency <= delay_ms - processing_margin_ms``. A late beat still counts for the rhythm.
10. ``window``: the pulse must end inside the safe window: ``delay + pulse duration <=
   safe_window_end_ms``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from irelab.ecg import Beat

_EPS_MS = 1e-9


class SkipReason(StrEnum):
    """Why a beat got no pulse."""

    SEARCHBACK = "searchback"
    FIBRILLATION = "fibrillation"
    """Ventricular flutter/fibrillation suspected (rhythm alarm): never synchronise to it."""
    NOISE = "noise"
    """The detector's noise level is too high relative to its QRS level (Beat.noise_ratio)."""
    QUALITY_HOLD = "quality_hold"
    LATE = "late"
    LEARNING = "learning"
    RATE = "rate"
    IRREGULAR = "irregular"
    WINDOW = "window"
    MORPHOLOGY = "morphology"
    NOT_READY = "not_ready"
    """The generator was recharging between trains (decided by the generator, not the gate)."""


@dataclass(frozen=True)
class GateConfig:
    """Timing and rhythm limits of :class:`PulseGate`."""

    delay_ms: float = 50.0
    """Pulse at R + 50 ms: the delay issue 3 prescribes (the commercial generator's ECG
    synchronisation, per our brief; we could not retrieve a primary source to check it, so it
    stays a configurable default). 50 ms after the R peak lies in the ST segment, inside the
    ventricles' absolute refractory period and well before the T wave."""
    processing_margin_ms: float = 5.0
    """Time the generator needs between knowing the beat and firing (design choice; solid-state
    switches need microseconds, so 5 ms is conservative)."""
    safe_window_end_ms: float = 150.0
    """The pulse must end by R + 150 ms (the issue's default). The vulnerable period lies on the
    T wave, whose onset follows the ST segment; at 150/min (our rate limit) the QT interval is
    still about 290 ms (Bazett with QTc 450 ms), so R + 150 ms keeps clear of the T wave."""
    min_rr_ms: float = 400.0
    """No pulses above 150/min (RR < 400 ms): tachycardia holds delivery (issue 3 rule)."""
    max_rr_deviation: float = 0.20
    """An RR more than 20 % off the running median is ectopic/irregular (issue 3 rule; the
    classic premature-beat criterion of 20 % prematurity)."""
    max_premature_fraction: float = 0.10
    """A beat more than 10 % early (RR < 0.9 x median) is premature, whatever the 20 % limit
    on the other side. With the symmetric 20 % limit, ventricular beats of MIT-BIH 200
    (tuning record) only 6-18 % early and close in shape got pulses (4 of 355 pulses);
    normal beat-to-beat variation at rest stays mostly within this (design choice; it costs
    pulses in sinus arrhythmia, never safety)."""
    learn_beats: int = 8
    """Running median over the last 8 accepted RR intervals, and 8 consistent RR intervals to
    (re-)learn: the mean-of-8 RR window of Pan & Tompkins (IEEE TBME 32:230-236, 1985, II-D)."""
    relearn_after: int = 8
    """Irregular beats in a row after which the guard discards its median and re-learns."""
    max_noise_ratio: float = 0.08
    """Hold when the detector's noise-peak level exceeds 8 % of its QRS-peak level (energy,
    i.e. noise peaks above ~28 % of the QRS amplitude). Measured on the tuning records (MLII):
    median 0.003-0.013 per record, 99th percentile up to 0.11 (0.22 in the noisy 105); with
    electrode-motion noise at 6 dB about 0.04, at 0 dB 0.16-0.22 (10th percentile 0.09). At
    0 dB the rhythm and shape rules alone let a pulse fall on a noise beat 830 ms after the
    last true R of record 100 (design choice)."""
    min_qrs_correlation: float = 0.9
    """Least QRS similarity to the accepted-beat template (see irelab.delivery.morphology)."""
    recovery_ms: float = 2000.0
    """Good signal needed before an R peak after a quality flag or a flutter/fibrillation
    alarm: the 2 s learning phase of Pan & Tompkins (ibid.), so the detector's thresholds have
    re-adapted (after an alarm the rhythm must also be re-learned, rule 5)."""

    def __post_init__(self) -> None:
        if self.delay_ms < 0 or self.processing_margin_ms < 0 or self.recovery_ms < 0:
            raise ValueError("delay, margin and recovery must be >= 0")
        if self.learn_beats < 1 or self.relearn_after < 1:
            raise ValueError("learn_beats and relearn_after must be >= 1")
        if not (0 < self.max_rr_deviation < 1 and 0 < self.max_premature_fraction < 1):
            raise ValueError("max_rr_deviation and max_premature_fraction must be in (0, 1)")


@dataclass(frozen=True)
class GateDecision:
    """The gate's answer for one beat: ``pulse_time_s`` when allowed, else ``reason``."""

    beat: Beat
    reason: SkipReason | None
    pulse_time_s: float | None
    rr_ms: float | None
    median_rr_ms: float | None

    @property
    def allowed(self) -> bool:
        return self.reason is None


class PulseGate:
    """Stateful gate over the beats of one stream, in order (see module docstring).

    ``pulse_duration_s``: how long the pulse (or burst) fired per beat lasts."""

    def __init__(self, config: GateConfig | None = None, pulse_duration_s: float = 90e-6) -> None:
        self.config = config or GateConfig()
        self.pulse_duration_s = float(pulse_duration_s)
        self._history: deque[float] = deque(maxlen=self.config.learn_beats)
        self._learned = False
        self._irregular_run = 0
        self._previous_r: int | None = None
        self._previous_ok = False  # did the previous beat pass the rhythm and shape checks?

    @property
    def learning_count(self) -> int:
        """RR intervals learned so far (0 right after a reset; learn_beats once learned)."""
        return len(self._history)

    def reset_rhythm(self) -> None:
        """Forget the learned rhythm (after a quality flag): it must re-learn."""
        self._history.clear()
        self._learned = False
        self._irregular_run = 0
        self._previous_ok = False

    def decide(self, beat: Beat, last_bad_sample: int | None = None,
               similarity: float | None = None,
               last_fibrillation_sample: int | None = None) -> GateDecision:
        """Apply the rules to ``beat``; ``last_bad_sample``: latest bad ECG sample known at
        ``beat.detected_sample`` (None when none); ``similarity``: QRS correlation with the
        accepted-beat template (None: rule not applied); ``last_fibrillation_sample``: latest
        sample inside a flutter/fibrillation alarm known then (None when none)."""
        cfg = self.config
        ms = 1e3 / beat.fs_Hz
        rr = None if self._previous_r is None else (beat.sample - self._previous_r) * ms
        self._previous_r = beat.sample
        median = float(np.median(self._history)) if self._learned else None

        def skip(reason: SkipReason) -> GateDecision:
            return GateDecision(beat, reason, None, rr, median)

        previous_ok, self._previous_ok = self._previous_ok, False
        if beat.searchback:
            return skip(SkipReason.SEARCHBACK)
        if last_fibrillation_sample is not None and (
                (beat.sample - last_fibrillation_sample) * ms <= cfg.recovery_ms + _EPS_MS):
            self.reset_rhythm()
            return skip(SkipReason.FIBRILLATION)
        if beat.noise_ratio > cfg.max_noise_ratio + 1e-12:
            self.reset_rhythm()
            return skip(SkipReason.NOISE)
        if last_bad_sample is not None and (
                (beat.sample - last_bad_sample) * ms <= cfg.recovery_ms + _EPS_MS):
            self.reset_rhythm()
            return skip(SkipReason.QUALITY_HOLD)
        different = similarity is not None and similarity < cfg.min_qrs_correlation - 1e-12
        if rr is None:
            self._previous_ok = not different
            return skip(SkipReason.LEARNING)
        if rr < cfg.min_rr_ms - _EPS_MS:
            if not self._learned:
                self.reset_rhythm()
            return skip(SkipReason.RATE)
        if not self._learned:
            if not previous_ok or different or (
                    self._history and not self._within(rr, float(np.median(self._history)))):
                self._history.clear()  # the run of consistent beats starts again
            if previous_ok and not different:
                self._history.append(rr)
            self._previous_ok = not different
            self._learned = len(self._history) == cfg.learn_beats
            return skip(SkipReason.LEARNING)
        irregular = None
        if not self._within(rr, median):
            irregular = SkipReason.IRREGULAR
        elif different:
            irregular = SkipReason.MORPHOLOGY
        if irregular is not None:
            self._irregular_run += 1
            if self._irregular_run >= cfg.relearn_after:
                self.reset_rhythm()
            return skip(irregular)
        self._irregular_run = 0
        self._previous_ok = True
        if not previous_ok:  # the interval starts at an irregular beat (e.g. a compensatory
            return skip(SkipReason.IRREGULAR)  # pause that happens to match the median)
        self._history.append(rr)
        if beat.latency_ms > cfg.delay_ms - cfg.processing_margin_ms + _EPS_MS:
            return skip(SkipReason.LATE)
        if cfg.delay_ms + self.pulse_duration_s * 1e3 > cfg.safe_window_end_ms + _EPS_MS:
            return skip(SkipReason.WINDOW)
        return GateDecision(beat, None, beat.time_s + cfg.delay_ms * 1e-3, rr, median)

    def _within(self, rr: float, median: float) -> bool:
        cfg = self.config
        early = min(cfg.max_premature_fraction, cfg.max_rr_deviation)
        return (median - early * median - _EPS_MS <= rr
                <= median + cfg.max_rr_deviation * median + _EPS_MS)
