"""Multi-lead R-wave detection: the first lead decides, a second lead rescues its misses.

One :class:`~irelab.ecg.qrs.StreamingRDetector` runs on every lead. The first lead (MLII on
MIT-BIH, the lead the reference R peaks are marked in) is the primary: its beats are reported
as they come, with their own latency, so fusion adds no latency to them. A beat of another lead
that no primary beat matches within ``match_ms`` is a beat the primary lead missed (a QRS small
or isoelectric in that lead); it is reported once the primary lead has had ``hold_ms`` after
that R to report it, if the other lead has been trustworthy: at least ``min_agreement`` of its
last ``track_beats`` beats were confirmed by the primary lead. Its R is that lead's R plus the
median offset between the two leads' R estimates over the confirmed beats. Rescued beats
are late by construction (``hold_ms`` > the gate's latency limit), so the gate never pulses on
them, but they keep the RR history whole; a rescued beat that the other lead found by
search-back keeps its ``searchback`` flag (the gate refuses such beats outright).

Measured on the eight tuning records (MLII + second lead): false positives 63 and missed beats
38 against 59 and 39 with MLII alone, i.e. no gain where the primary lead is good; with
electrode-motion noise at 0 dB on MLII only, missed beats 542 against 502 (the noisy primary's
false beats stop the second lead from being trusted). Choosing, beat by beat, the lead with the
higher SPK/NPK ratio was also tried: it cut those noisy-primary false positives threefold (2848
-> 944) but missed 180-386 beats instead of 39 on the clean records, so it is not used. Fusion
is therefore an option (benchmarks/ecg_detect.py reports it), not the default.

Why rescue only, not a fused feature: summing the leads' normalised QRS energies (tried first)
took the false positives on the eight tuning records from 72 to 339 and the misses from 46 to
128, because a noise burst in either lead then makes a candidate; so does an "or" of the
leads without the agreement test. Vetoing primary beats that the other lead lacks would have to
wait for that lead and add latency to every beat.

Chunk invariance: each lead's detector is chunk-invariant; the merge handles the primary beats
at their decision samples and the other leads' beats at ``max(decision, R + hold)``, in sample
order, so any chunking gives the same beats.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from irelab.ecg.qrs import Beat, DetectorConfig, StreamingRDetector
from irelab.errors import InputError

__all__ = ["FusionConfig", "MultiLeadDetector", "detect_beats_multilead"]


@dataclass(frozen=True)
class FusionConfig:
    """Rules of :class:`MultiLeadDetector` (design choices, each explained)."""

    match_ms: float = 150.0
    """Two leads' R estimates of one beat agree within the EC57 match window (150 ms)."""
    hold_ms: float = 80.0
    """Time after a secondary R the primary lead gets to report the same beat: above the
    primary's 99th-percentile latency after its own R estimate on the tuning records."""
    track_beats: int = 32
    """Secondary beats over which the agreement with the primary lead is counted."""
    min_agreement: float = 1.0
    """All of the last 32 secondary beats confirmed by the primary lead before it may rescue:
    with 14 of 16 the tuning records got 154 false positives instead of 59 (most unmatched
    beats of a second lead are its own false detections, not the primary's misses)."""

    min_rr_fraction: float = 0.8
    """A rescued beat comes at least this fraction of the primary lead's median RR (last 8
    intervals) after the previous beat: a beat the primary lead missed fills a gap in its
    rhythm, while most unmatched beats of another lead are its T waves or noise soon after a
    QRS (design choice)."""

    def __post_init__(self) -> None:
        if not (self.match_ms > 0 and self.hold_ms >= 0 and self.track_beats >= 1
                and 0 < self.min_agreement <= 1):
            raise ValueError("match_ms > 0, hold_ms >= 0, track_beats >= 1 and "
                             "min_agreement in (0, 1] are required")


@dataclass
class _Lead:
    detector: StreamingRDetector
    pending: list[Beat]
    agreed: deque[bool]
    offsets: deque[int]


class MultiLeadDetector:
    """Causal multi-lead R detector fed chunks of shape (n, n_leads) (module docstring)."""

    def __init__(self, fs_Hz: float, n_leads: int, config: DetectorConfig | None = None,
                 fusion: FusionConfig | None = None) -> None:
        if n_leads < 1:
            raise InputError("MultiLeadDetector", "n_leads", "at least one lead", n_leads)
        self.fs_Hz = float(fs_Hz)
        self.n_leads = int(n_leads)
        self.fusion = fusion or FusionConfig()
        f = self.fusion
        self._leads = [_Lead(StreamingRDetector(fs_Hz, config), [], deque(maxlen=f.track_beats),
                             deque(maxlen=f.track_beats)) for _ in range(self.n_leads)]
        self._match = round(f.match_ms * 1e-3 * self.fs_Hz)
        self._hold = round(f.hold_ms * 1e-3 * self.fs_Hz)
        self._refractory = round(self._leads[0].detector.config.refractory_ms * 1e-3
                                 * self.fs_Hz)
        self._primary: deque[int] = deque(maxlen=64)  # recent primary R samples
        self._last_r: int | None = None
        self._seen = 0

    def process(self, chunk: np.ndarray) -> list[Beat]:
        """Consume ``chunk`` (mV, shape (n, n_leads)); return the beats decided in it."""
        x = np.asarray(chunk, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_leads:
            raise InputError("MultiLeadDetector", "chunk",
                             f"an array of shape (n, {self.n_leads})", x.shape)
        events: list[tuple[int, int, int, Beat]] = []
        for k, lead in enumerate(self._leads):
            beats = lead.detector.process(x[:, k])
            if k == 0:
                events += [(b.detected_sample, 0, 0, b) for b in beats]
            else:
                lead.pending += beats
        end = self._seen + x.shape[0]
        for k, lead in enumerate(self._leads[1:], start=1):
            due = [b for b in lead.pending if max(b.detected_sample, b.sample + self._hold) < end]
            lead.pending = lead.pending[len(due):]
            events += [(max(b.detected_sample, b.sample + self._hold), 1, k, b) for b in due]
        self._seen = end
        out: list[Beat] = []
        for at, _, k, beat in sorted(events, key=lambda e: (e[0], e[1], e[2])):
            if k == 0:
                self._primary.append(beat.sample)
                if self._last_r is None or beat.sample - self._last_r >= self._refractory:
                    self._last_r = beat.sample
                    out.append(beat)
                continue
            rescued = self._secondary(self._leads[k], beat, at)
            if rescued is not None:
                out.append(rescued)
        return out

    def flush(self) -> list[Beat]:
        """End of stream: nothing is pending that a causal decision could still make."""
        return []

    def _secondary(self, lead: _Lead, beat: Beat, at: int) -> Beat | None:
        """Confirm a secondary beat against the primary lead, or rescue it (module doc)."""
        near = [r for r in self._primary if abs(r - beat.sample) <= self._match]
        if near:
            nearest = min(near, key=lambda r: abs(r - beat.sample))
            lead.agreed.append(True)
            lead.offsets.append(nearest - beat.sample)
            return None
        trusted = (len(lead.agreed) == lead.agreed.maxlen
                   and np.mean(lead.agreed) >= self.fusion.min_agreement)
        lead.agreed.append(False)
        if not trusted or lead.detector.config.learning_s * self.fs_Hz > beat.sample:
            return None
        r = beat.sample + int(np.median(lead.offsets))
        if self._last_r is not None and r - self._last_r < self._refractory:
            return None
        if len(self._primary) > 2:
            rr = float(np.median(np.diff(np.asarray(self._primary)[-9:])))
            if self._last_r is not None and r - self._last_r < self.fusion.min_rr_fraction * rr:
                return None
        self._last_r = r
        return Beat(sample=r, detected_sample=at, fs_Hz=self.fs_Hz, searchback=beat.searchback)


def detect_beats_multilead(signals_mV: np.ndarray, fs_Hz: float,
                           config: DetectorConfig | None = None,
                           fusion: FusionConfig | None = None) -> list[Beat]:
    """Run :class:`MultiLeadDetector` over whole signals of shape (n, n_leads)."""
    x = np.asarray(signals_mV, dtype=np.float64)
    if x.ndim != 2:
        raise InputError("detect_beats_multilead", "signals_mV", "shape (n, n_leads)", x.shape)
    detector = MultiLeadDetector(fs_Hz, x.shape[1], config, fusion)
    return detector.process(x) + detector.flush()
