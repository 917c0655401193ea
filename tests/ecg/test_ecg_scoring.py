"""score_detections on hand-made cases: each expected count is worked out by hand in the test
(150 ms window = 54 samples at 360 Hz, ANSI/AAMI EC57); and cross-checked against the WFDB
package's own scorer on real detections."""

from __future__ import annotations

import numpy as np
import pytest

from irelab.ecg import EcgRecord, Score, latency_vs_reference_ms, score_detections

FS = 360.0


def test_exact_and_within_window_matches() -> None:
    s = score_detections([100, 500, 900], [100, 530, 954], FS)
    assert (s.tp, s.fp, s.fn) == (3, 0, 0)
    assert s.se == 1.0 and s.ppv == 1.0


def test_just_outside_window_is_one_fn_and_one_fp() -> None:
    """954 - 900 = 54 samples = 150 ms matches; 955 (150.3 ms) does not."""
    s = score_detections([900], [955], FS)
    assert (s.tp, s.fp, s.fn) == (0, 1, 1)
    assert s.se == 0.0 and s.ppv == 0.0


def test_double_detection_counts_once() -> None:
    s = score_detections([1000], [990, 1010], FS)
    assert (s.tp, s.fp, s.fn) == (1, 1, 0)
    assert s.matched_detected.tolist() == [990]  # equal distance: either is fine, one is kept


def test_optimal_matching_beats_nearest_greedy() -> None:
    """References 0 and 100, detections 52 and 150 (window 54 samples). Matching the nearest
    pair first takes 100<-52 (48) and leaves 0 without a partner (150 is too far): TP 1. The
    maximum matching is 0<-52 (52) and 100<-150 (50): TP 2, which the scorer must find."""
    s = score_detections([0, 100], [52, 150], FS)
    assert (s.tp, s.fp, s.fn) == (2, 0, 0)
    assert s.matched_reference.tolist() == [0, 100]
    assert s.matched_detected.tolist() == [52, 150]


def test_unsorted_detections_and_detection_index() -> None:
    s = score_detections([100, 500], [505, 98], FS)
    assert s.tp == 2
    assert s.matched_detection_index.tolist() == [1, 0]
    lat = latency_vs_reference_ms(s, np.array([505 + 36, 98 + 18]), FS)
    assert lat.tolist() == pytest.approx([16 * 1e3 / FS, 41 * 1e3 / FS])


def test_skip_learning_period() -> None:
    """skip_s = 1 s (360 samples): reference 100 is not scored, detection 120 is not an FP,
    detection 200 before the boundary is not an FP either."""
    s = score_detections([100, 1000], [120, 200, 1000], FS, skip_s=1.0)
    assert (s.tp, s.fp, s.fn) == (1, 0, 0)


def test_empty_inputs() -> None:
    s = score_detections([], [], FS)
    assert (s.tp, s.fp, s.fn) == (0, 0, 0)
    assert np.isnan(s.se) and np.isnan(s.ppv)
    s = score_detections([10, 400], [], FS)
    assert (s.tp, s.fp, s.fn) == (0, 0, 2)


def test_gross_sums_counts() -> None:
    a = score_detections([100, 500], [100], FS)
    b = score_detections([100], [100, 700], FS)
    g = Score.gross([a, b])
    assert (g.tp, g.fp, g.fn) == (2, 1, 1)
    assert g.se == pytest.approx(2 / 3) and g.ppv == pytest.approx(2 / 3)


def test_window_in_ms_scales_with_fs() -> None:
    """At 1000 Hz a 150 ms window is 150 samples."""
    assert score_detections([1000], [1150], 1000.0).tp == 1
    assert score_detections([1000], [1151], 1000.0).tp == 0


@pytest.mark.parametrize("name", ["100", "105", "200", "232"])
def test_agrees_with_wfdb_compare_annotations(records: dict[str, EcgRecord], name: str) -> None:
    """The same detections (the streaming detector's, whole record, no learning period
    skipped) scored by ``wfdb.processing.compare_annotations(ref, test, window_width=54)``
    (wfdb 4.x; 54 samples = 150 ms at 360 Hz; a greedy matcher written independently of ours)
    give the same TP, FP and FN. Measured: identical on all four (e.g. 105: 2553 / 56 / 19)."""
    from wfdb import processing

    from irelab.ecg import detect_beats

    rec = records[name]
    ref = rec.annotations.beats_only().samples
    found = np.array([b.sample for b in detect_beats(rec.signal_mV, rec.fs_Hz)])
    ours = score_detections(ref, found, rec.fs_Hz)
    theirs = processing.compare_annotations(ref, found, 54)
    assert (ours.tp, ours.fp, ours.fn) == (theirs.tp, theirs.fp, theirs.fn)
    assert ours.se == pytest.approx(theirs.sensitivity)
    assert ours.ppv == pytest.approx(theirs.positive_predictivity)


def test_wfdb_greedy_matcher_differs_where_documented() -> None:
    """The module docstring's claim: on references 0, 100 and detections 52, 150 the greedy
    wfdb matcher finds one match and ours two (the maximum)."""
    from wfdb import processing

    theirs = processing.compare_annotations(np.array([0, 100]), np.array([52, 150]), 54)
    assert theirs.tp == 1
    assert score_detections([0, 100], [52, 150], FS).tp == 2
