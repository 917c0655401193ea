"""QRS morphology guard: is this beat shaped like the beats the rhythm guard accepted?

An RR-only guard cannot see a run of ventricular beats at a steady rate (on MIT-BIH 200 it let
5 of 62 pulses follow ventricular beats), nor a late-coupled ventricular beat. Ventricular
ectopic beats are wide and differently shaped (that is how annotators and classifiers tell
them apart: de Chazal P, O'Dwyer M, Reilly RB, IEEE TBME 51(7):1196-1206, 2004, use QRS width
and morphology features), so the gate also compares the beat's causal QRS window with a
running template of accepted beats, on three features, each of which can hold the beat:

1. *Shape*: the window ``[R - before_ms, R + after_ms]``, aligned over lags of
   +-``max_lag_ms``, centred lead by lead, and correlated with the template over all leads at
   once (the leads' windows stacked): the largest Pearson correlation over the lags must reach
   the gate's limit. Stacking weighs each lead by its own QRS amplitude, so a lead whose normal
   QRS is small counts little unless the beat is large in it, as a ventricular beat often is
   in a precordial lead. (Requiring every lead to match its own template, as first tried with
   the second MIT-BIH lead, held so many beats that records 106 and 200 kept under 4 % of
   their pulses: small leads are noisy.)
2. *Amplitude*: the peak-to-peak amplitude in the window, at the best lag, within 1/1.7 to
   1.7 times the template's, in the lead where the template is largest.
3. *Width*: a ventricular beat spreads from cell to cell instead of through the conduction
   system, so its QRS is wide (>= 120 ms against <= 100-110 ms normally: Surawicz et al.,
   AHA/ACCF/HRS recommendations part III, Circulation 119:e235-e240, 2009) and its initial
   deflection slow (the slow initial activation that the wide-complex tachycardia criteria use:
   Vereckei A et al., Heart Rhythm 5:89-98, 2008; Pava LF et al., Heart Rhythm 7:922-926, 2010,
   R-wave peak time >= 50 ms in lead II). Measured causally, before the QRS ends, as the
   *steepness*: the largest slope (smoothed over ``slope_smooth_ms``) up to the window's main
   deflection, over the peak-to-peak amplitude in the window. A beat whose steepness is under
   ``min_steepness_ratio`` of the template's in the lead where the template is largest is
   wide. Late-coupled ventricular
   beats of MIT-BIH 119 and 106 that correlate at 0.93-0.95 with the template in MLII
   (the window ends before their wide part) have 0.4-0.7 of its steepness.

The session decides a beat once all the window's samples were seen (a beat without a complete
window or template gets similarity 0: skipped). The template is the running mean of the last
``template_beats`` accepted windows. Thresholds are design choices checked on the tuning
records (tests/delivery), never on the held-out ones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


@dataclass(frozen=True)
class MorphologyConfig:
    """Window, alignment and similarity threshold of :class:`MorphologyGuard`."""

    before_ms: float = 100.0
    """Window start before R: the PR segment and the QRS upstroke (a ventricular beat has no
    P wave and a slow, wide upstroke)."""
    after_ms: float = 15.0
    """Window end after R: the downstroke, where wide ventricular QRS differ most. The gate
    decides a beat once R + after + lag has been seen (35 ms <= 45 ms latency limit)."""
    max_lag_ms: float = 20.0
    """Alignment search: the detector's R estimate jitters by up to about 20-40 ms against the
    annotated R on MIT-BIH 106/119/200 (measured), and with 8 ms consecutive normal beats of
    119 correlated at a median of only 0.46."""
    max_amplitude_ratio: float = 1.7
    """The beat's peak-to-peak amplitude in the window, at the best lag, must lie within
    1/1.7 to 1.7 times the template's; otherwise the similarity is 0. A correlation ignores
    amplitude, and ventricular beats of MIT-BIH 200 (tuning record) that were close in shape
    but larger got pulses. 1.5 also removed them but cost 106 six tenths of its pulses, 2.0
    left two (design choice among 1.5, 1.7 and 2.0)."""
    template_beats: int = 8
    """Accepted windows averaged into the template (as many as the RR median's beats)."""
    slope_smooth_ms: float = 8.0
    """The slopes of the steepness test are averaged over 8 ms, as the detector's QRS slope
    (``irelab.ecg.DetectorConfig.slope_smooth_ms``), so one noisy sample does not make a wide
    beat look steep."""
    min_steepness_ratio: float = 0.7
    """A beat whose steepness is under 0.7 of the template's is wide: its QRS lasts at least
    1/0.7 = 1.43 times as long, e.g. 85 -> 120 ms (the ventricular limit above). On the tuning
    records (MLII) ventricular beats of 119 have 0.4-0.58 of the template's steepness, half of
    those of 106 under 0.68; normal beats of 100 and 105 under 0.7 are 1-5 % (noise), which
    costs pulses, never safety (design choice among 0.6, 0.7 and 0.8)."""


class MorphologyGuard:
    """Causal QRS template of accepted beats and the similarity of a new beat to it."""

    def __init__(self, fs_Hz: float, config: MorphologyConfig | None = None) -> None:
        self.config = config or MorphologyConfig()
        c = self.config
        self.before = int(round(c.before_ms * 1e-3 * fs_Hz))
        self.after = int(round(c.after_ms * 1e-3 * fs_Hz))
        self.lag = int(round(c.max_lag_ms * 1e-3 * fs_Hz))
        n_smooth = max(1, round(c.slope_smooth_ms * 1e-3 * fs_Hz))
        self._smooth = np.full(n_smooth, 1.0 / n_smooth)
        self._windows: deque[np.ndarray] = deque(maxlen=c.template_beats)
        self._buffer = np.empty((0, 1))
        self._buffer_start = 0
        self._keep = int(2 * fs_Hz)  # 2 s: beats are reported well within that

    def feed(self, chunk: np.ndarray, seen_before: int) -> None:
        """Append ``chunk`` (starting at stream sample ``seen_before``) to the recent signal."""
        x = np.nan_to_num(np.asarray(chunk, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
        x = x[:, None] if x.ndim == 1 else x
        if self._buffer.size == 0:
            self._buffer_start = seen_before
            self._buffer = np.empty((0, x.shape[1]))
        self._buffer = np.concatenate((self._buffer, x))

    def trim(self, before_sample: int) -> None:
        """Forget samples older than ``before_sample`` minus the guard's reach."""
        drop = before_sample - self._keep - self._buffer_start
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop

    def reset(self) -> None:
        self._windows.clear()

    @property
    def reach(self) -> int:
        """Samples after R the similarity needs (window end plus the alignment search)."""
        return self.after + self.lag

    @property
    def ready(self) -> bool:
        return len(self._windows) >= self.config.template_beats

    def _segment(self, r: int, extra: int, upto: int) -> np.ndarray | None:
        lo, hi = r - self.before - extra, min(r + self.after + extra, upto)
        if hi < r + self.after or lo < self._buffer_start or (
                hi - self._buffer_start >= self._buffer.shape[0]):
            return None
        return self._buffer[lo - self._buffer_start: hi - self._buffer_start + 1]

    def similarity(self, r: int, detected: int) -> float | None:
        """Best correlation of beat ``r``'s window with the template over all leads (of
        however many windows the template has); 0 when the amplitude or the width is off;
        None without any template, 0 when the window (with its alignment margin) was not
        complete at ``detected`` (fails closed)."""
        if not self._windows:
            return None
        seg = self._segment(r, self.lag, detected)
        if seg is None:
            return 0.0
        template = self._template()
        views, corr = self._aligned(seg, template)
        best = int(np.argmax(corr))
        lead = int(np.argmax(np.ptp(template, axis=0)))
        beat = views[best, lead]
        if not (self._amplitude_matches(beat, template[:, lead])
                and self._steepness(beat) >= self.config.min_steepness_ratio
                * self._steepness(template[:, lead])):
            return 0.0
        return float(corr[best])

    def _template(self) -> np.ndarray:
        template = np.mean(self._windows, axis=0)
        return template - template.mean(axis=0)

    @staticmethod
    def _aligned(seg: np.ndarray, template: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The centred windows of ``seg`` at every lag, shape (lags, leads, size), and their
        correlation with ``template`` over all leads at once."""
        views = sliding_window_view(seg, template.shape[0], axis=0)
        views = views - views.mean(axis=2, keepdims=True)
        flat_t = template.T.ravel()
        flat_v = views.reshape(views.shape[0], -1)
        denom = np.linalg.norm(flat_v, axis=1) * np.linalg.norm(flat_t)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.where(denom > 0, flat_v @ flat_t / np.where(denom > 0, denom, 1), 0.0)
        return views, corr

    def _amplitude_matches(self, beat: np.ndarray, template: np.ndarray) -> bool:
        size, ref = float(np.ptp(beat)), float(np.ptp(template))
        limit = self.config.max_amplitude_ratio
        return ref > 0 and ref / limit <= size <= ref * limit

    def _steepness(self, window: np.ndarray) -> float:
        """Largest smoothed slope up to the window's main deflection (its largest deviation
        from the window's median), over the peak-to-peak amplitude, per sample: the initial
        deflection, which a ventricular beat draws slowly even when its end is steep."""
        main = int(np.argmax(np.abs(window - np.median(window))))
        rise = np.diff(window[:main + 1])
        ptp = float(np.ptp(window))
        if ptp <= 0 or rise.size < self._smooth.size:
            return 0.0
        return float(np.abs(np.convolve(rise, self._smooth, mode="valid")).max()) / ptp

    def accept(self, r: int, detected: int) -> None:
        """Add beat ``r``'s window to the template (when complete at ``detected``), aligned to
        the template at its best lag: averaging windows whose R estimates jitter by up to
        +-``max_lag_ms`` would smear the template and make it look wider than the beats."""
        if not self._windows:
            seg = self._segment(r, 0, detected)
            if seg is not None:
                self._windows.append(seg - seg.mean(axis=0))
            return
        seg = self._segment(r, self.lag, detected)
        if seg is not None:
            views, corr = self._aligned(seg, self._template())
            self._windows.append(views[int(np.argmax(corr))].T.copy())
