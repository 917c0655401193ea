"""Evidence table, provenance of each row and random-effects pooling (hand DerSimonian-Laird)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from irelab.outcomes.evidence import (
    ESTIMATES,
    EVIDENCE,
    IPG445_AS_QUOTED,
    RECURRENCE_FREE_SURVIVAL,
    EvidenceEstimate,
    EvidenceRow,
    Outcome,
    Provenance,
    evidence_comparisons,
    survival_comparisons,
)
from irelab.outcomes.pooling import logit_effects, pool

Z975 = 1.959963984540054  # standard normal 97.5 % quantile
EXACT = 1e-10
#: Figures of the NICE IPG445 overview as quoted second-hand: (outcome, events, total, unit).
NICE_QUOTED = {
    (Outcome.ARRHYTHMIA, 7, 28, "procedures"),
    (Outcome.PNEUMOTHORAX, 7, 50, "as quoted (unit not stated)"),
    (Outcome.LOCAL_RECURRENCE, 3, 54, "tumours"),
}


def _hand_dersimonian_laird(y: np.ndarray, v: np.ndarray) -> tuple[float, float, float, float]:
    """DerSimonian & Laird (Control Clin Trials 1986;7:177-188), written out step by step."""
    w = 1 / v
    fixed = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - fixed) ** 2)
    c = np.sum(w) - np.sum(w**2) / np.sum(w)
    tau2 = max(0.0, (q - (len(y) - 1)) / c)
    w_star = 1 / (v + tau2)
    mu = np.sum(w_star * y) / np.sum(w_star)
    se = np.sqrt(1 / np.sum(w_star))
    return mu, mu - Z975 * se, mu + Z975 * se, tau2


def _hand_logit(events: list[int], totals: list[int]) -> tuple[np.ndarray, np.ndarray]:
    e = np.array(events, dtype=float)
    f = np.array(totals, dtype=float) - e
    return np.log(e / f), 1 / e + 1 / f


def test_pool_matches_hand_dersimonian_laird_on_three_series() -> None:
    rows = [
        EvidenceRow("A", 2011, Outcome.ARRHYTHMIA, 4, 20, "patients", "test"),
        EvidenceRow("B", 2012, Outcome.ARRHYTHMIA, 12, 40, "patients", "test"),
        EvidenceRow("C", 2013, Outcome.ARRHYTHMIA, 1, 25, "patients", "test"),
    ]
    y, v = _hand_logit([4, 12, 1], [20, 40, 25])
    mu, low, high, tau2 = _hand_dersimonian_laird(y, v)
    assert tau2 > 0  # heterogeneous enough that the random effect matters
    got = pool(rows)
    assert got.estimate == pytest.approx(expit(mu), abs=EXACT)
    assert (got.low, got.high) == pytest.approx((expit(low), expit(high)), abs=EXACT)
    assert got.tau2 == pytest.approx(tau2, abs=EXACT)
    assert (got.events, got.total, got.series, got.unverified) == (17, 85, 3, 0)


def test_continuity_correction_only_for_zero_or_all_events() -> None:
    y, v, corrected = logit_effects(np.array([0, 3, 10]), np.array([10, 10, 10]))
    assert corrected
    assert y == pytest.approx([np.log(0.5 / 10.5), np.log(3 / 7), np.log(10.5 / 0.5)])
    assert v[1] == pytest.approx(1 / 3 + 1 / 7)
    assert not logit_effects(np.array([1]), np.array([10]))[2]


def test_every_quoted_count_is_in_the_table_marked_as_quoted() -> None:
    quoted = [r for r in EVIDENCE if r.provenance is Provenance.AS_QUOTED]
    assert {(r.outcome, r.events, r.total, r.unit) for r in quoted} == NICE_QUOTED
    for row in quoted:
        assert not row.verified and row.year is None
        assert row.source == IPG445_AS_QUOTED
        assert "not identified/verified" in row.source and "IPG445" in row.source
    for row in EVIDENCE:
        assert 0 <= row.events <= row.total and row.source and row.unit
        assert row.verified == (row.provenance is Provenance.ABSTRACT)
        if row.verified:
            assert "abstract" in row.source


def test_quoted_recurrence_free_survival_is_two_time_points_not_counts() -> None:
    got = {(e.outcome, e.time_months, e.estimate, e.n) for e in ESTIMATES}
    assert got == {
        (RECURRENCE_FREE_SURVIVAL, 6.0, 0.95, None),
        (RECURRENCE_FREE_SURVIVAL, 12.0, 0.60, None),
    }
    assert all(not e.verified and e.source == IPG445_AS_QUOTED for e in ESTIMATES)
    assert [c.time_months for c in survival_comparisons()] == [6.0, 12.0]
    assert all(c.registry == () for c in survival_comparisons())  # no report: no registry
    with pytest.raises(ValueError):
        EvidenceEstimate("x", "y", 6.0, 1.5, None, "", "")


def test_pooled_arrhythmia_equals_hand_dersimonian_laird_of_the_table() -> None:
    # Thomson 2011 6/38 patients, JVIR 2014 1/36 procedures, IPG445 as quoted 7/28 procedures
    comparisons = {c.outcome: c for c in evidence_comparisons()}
    arrhythmia = comparisons[Outcome.ARRHYTHMIA]
    assert sorted((r.events, r.total) for r in arrhythmia.rows) == [(1, 36), (6, 38), (7, 28)]
    y, v = _hand_logit([6, 1, 7], [38, 36, 28])
    mu, low, high, tau2 = _hand_dersimonian_laird(y, v)
    p = arrhythmia.pooled
    assert p is not None
    assert (p.series, p.events, p.total, p.unverified) == (3, 14, 102, 1)
    assert p.estimate == pytest.approx(expit(mu), abs=1e-9)
    assert (p.low, p.high) == pytest.approx((expit(low), expit(high)), abs=1e-9)
    assert p.tau2 == pytest.approx(tau2, abs=1e-9)
    assert p.units == ("patients", "procedures")
    # sensitivity: the two verified series alone
    s = arrhythmia.pooled_verified
    assert s is not None and (s.series, s.events, s.total, s.unverified) == (2, 7, 74, 0)
    y2, v2 = _hand_logit([6, 1], [38, 36])
    assert s.estimate == pytest.approx(expit(_hand_dersimonian_laird(y2, v2)[0]), abs=1e-9)


def test_single_series_outcomes_are_not_pooled() -> None:
    comparisons = {c.outcome: c for c in evidence_comparisons()}
    for outcome in (
        Outcome.PNEUMOTHORAX,
        Outcome.BLEEDING,
        Outcome.LOCAL_RECURRENCE,
        Outcome.NO_LOCAL_RECURRENCE,
    ):
        assert comparisons[outcome].pooled is None
        assert comparisons[outcome].pooled_verified is None
    with pytest.raises(ValueError):
        pool(list(EVIDENCE[:1]))
    with pytest.raises(ValueError):
        EvidenceRow("x", None, Outcome.BLEEDING, 5, 4, "patients", "test")
