"""Beat-by-beat scoring of a QRS detector against reference annotations.

Sensitivity Se = TP / (TP + FN) and positive predictivity +P = TP / (TP + FP), with a detection
matching a reference beat when they are at most ``window_ms`` apart: 150 ms is the match
window of ANSI/AAMI EC57:2012 (section 4.2.1.1 / 3.4 "beat-by-beat comparison"), as used by the
WFDB ``bxb`` tool (Moody, PhysioNet WFDB Applications Guide, "bxb").

Matching is one-to-one and optimal: within each cluster of reference beats and detections
linked by the window, :func:`scipy.optimize.linear_sum_assignment` first maximises the number
of matches and then minimises the summed time error. ``bxb`` matches greedily in time order;
on beats at least 200 ms apart the two agree, and where they differ the optimal matching can
only give more matches and smaller errors, never credit a detection twice.

``skip_s`` drops a learning period at the start, as EC57 (4.2.1.1) allows a detector's
start-up: reference beats before it are not scored, and detections before it are never counted
as false positives (those within the window of a scored reference beat may still match it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

EC57_WINDOW_MS = 150.0
"""ANSI/AAMI EC57 beat-matching window (150 ms)."""


@dataclass(frozen=True)
class Score:
    """Beat-by-beat comparison. ``matched_reference``/``matched_detected`` are paired sample
    indices; ``matched_detection_index`` indexes the detections passed in (for latency)."""

    tp: int
    fp: int
    fn: int
    matched_reference: np.ndarray
    matched_detected: np.ndarray
    matched_detection_index: np.ndarray

    @property
    def se(self) -> float:
        """Sensitivity TP / (TP + FN) (NaN when there are no reference beats)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def ppv(self) -> float:
        """Positive predictivity +P = TP / (TP + FP) (NaN when nothing was detected)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @classmethod
    def gross(cls, scores: Iterable[Score]) -> Score:
        """Gross (pooled) score: TP, FP and FN summed over records, as EC57 reports it.

        The matched-pair arrays of different records index different signals, so the gross
        score carries them concatenated only for statistics such as latency percentiles."""
        scores = list(scores)
        return cls(
            tp=sum(s.tp for s in scores),
            fp=sum(s.fp for s in scores),
            fn=sum(s.fn for s in scores),
            matched_reference=np.concatenate([s.matched_reference for s in scores] or [[]]),
            matched_detected=np.concatenate([s.matched_detected for s in scores] or [[]]),
            matched_detection_index=np.concatenate(
                [s.matched_detection_index for s in scores] or [[]]).astype(np.int64),
        )


def score_detections(
    reference_samples: np.ndarray,
    detected_samples: np.ndarray,
    fs_Hz: float,
    window_ms: float = EC57_WINDOW_MS,
    skip_s: float = 0.0,
) -> Score:
    """Match detections to reference beats one-to-one within ``window_ms``; see module doc."""
    ref = np.sort(np.asarray(reference_samples, dtype=np.int64).ravel())
    det_raw = np.asarray(detected_samples, dtype=np.int64).ravel()
    order = np.argsort(det_raw, kind="stable")
    det = det_raw[order]
    window = window_ms * 1e-3 * fs_Hz
    skip = skip_s * fs_Hz
    ref = ref[ref >= skip]
    lo = np.searchsorted(det, ref - window, side="left")
    hi = np.searchsorted(det, ref + window, side="right")
    pairs_r: list[np.ndarray] = []
    pairs_d: list[np.ndarray] = []
    start = 0
    n = ref.size
    while start < n:  # loop over clusters of reference beats sharing candidate detections
        stop = start + 1
        reach = hi[start]
        while stop < n and lo[stop] < reach:
            reach = max(reach, hi[stop])
            stop += 1
        d0 = lo[start]
        if reach > d0:
            r_idx, d_idx = _match_cluster(ref[start:stop], det[d0:reach], window)
            pairs_r.append(r_idx + start)
            pairs_d.append(d_idx + d0)
        start = stop
    r_m = np.concatenate(pairs_r) if pairs_r else np.zeros(0, dtype=np.int64)
    d_m = np.concatenate(pairs_d) if pairs_d else np.zeros(0, dtype=np.int64)
    unmatched = np.ones(det.size, dtype=bool)
    unmatched[d_m] = False
    fp = int(np.count_nonzero(unmatched & (det >= skip)))
    tp = int(r_m.size)
    return Score(
        tp=tp,
        fp=fp,
        fn=int(ref.size - tp),
        matched_reference=ref[r_m],
        matched_detected=det[d_m],
        matched_detection_index=order[d_m].astype(np.int64),
    )


def _match_cluster(ref: np.ndarray, det: np.ndarray, window: float) -> tuple[np.ndarray, ...]:
    """Maximum-cardinality, then minimum-total-error matching of one small cluster."""
    if ref.size == 1 and det.size == 1:
        ok = abs(int(det[0]) - int(ref[0])) <= window
        idx = np.zeros(int(ok), dtype=np.int64)
        return idx, idx
    dist = np.abs(ref[:, None] - det[None, :]).astype(np.float64)
    feasible = dist <= window
    # An infeasible pair costs more than all feasible pairs together, so the assignment first
    # maximises the number of feasible pairs, then minimises their summed distance.
    big = (window + 1.0) * (min(ref.size, det.size) + 1)
    rows, cols = linear_sum_assignment(np.where(feasible, dist, big))
    keep = feasible[rows, cols]
    return rows[keep].astype(np.int64), cols[keep].astype(np.int64)


def latency_vs_reference_ms(
    score: Score, detected_at_samples: np.ndarray, fs_Hz: float
) -> np.ndarray:
    """Per matched beat: (time the detector reported it - annotated R time) in ms.

    ``detected_at_samples`` holds, for each detection passed to :func:`score_detections`, the
    sample index at which it was reported (``Beat.detected_sample``)."""
    at = np.asarray(detected_at_samples, dtype=np.int64)[score.matched_detection_index]
    return (at - score.matched_reference) * 1e3 / fs_Hz
