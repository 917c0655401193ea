"""Evidence table and random-effects pooling against a hand DerSimonian-Laird computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from irelab.outcomes.evidence import (
    EVIDENCE,
    EvidenceRow,
    Outcome,
    evidence_comparisons,
    logit_effects,
    pool,
)

Z975 = 1.959963984540054  # standard normal 97.5 % quantile
EXACT = 1e-10


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


def test_pool_matches_hand_dersimonian_laird_on_three_series() -> None:
    rows = [
        EvidenceRow("A", 2011, Outcome.ARRHYTHMIA, 4, 20, "patients", "test"),
        EvidenceRow("B", 2012, Outcome.ARRHYTHMIA, 12, 40, "patients", "test"),
        EvidenceRow("C", 2013, Outcome.ARRHYTHMIA, 1, 25, "patients", "test"),
    ]
    y = np.log(np.array([4 / 16, 12 / 28, 1 / 24]))
    v = np.array([1 / 4 + 1 / 16, 1 / 12 + 1 / 28, 1 / 1 + 1 / 24])
    mu, low, high, tau2 = _hand_dersimonian_laird(y, v)
    assert tau2 > 0  # heterogeneous enough that the random effect matters
    got = pool(rows)
    assert got.estimate == pytest.approx(expit(mu), abs=EXACT)
    assert (got.low, got.high) == pytest.approx((expit(low), expit(high)), abs=EXACT)
    assert got.tau2 == pytest.approx(tau2, abs=EXACT)
    assert (got.events, got.total, got.series) == (17, 85, 3)


def test_continuity_correction_only_for_zero_or_all_events() -> None:
    y, v, corrected = logit_effects(np.array([0, 3, 10]), np.array([10, 10, 10]))
    assert corrected
    assert y == pytest.approx([np.log(0.5 / 10.5), np.log(3 / 7), np.log(10.5 / 0.5)])
    assert v[1] == pytest.approx(1 / 3 + 1 / 7)
    assert not logit_effects(np.array([1]), np.array([10]))[2]


def test_evidence_table_rows_are_sourced_and_consistent() -> None:
    assert EVIDENCE
    for row in EVIDENCE:
        assert 0 <= row.events <= row.total and row.source and row.unit
    comparisons = {c.outcome: c for c in evidence_comparisons()}
    arrhythmia = comparisons[Outcome.ARRHYTHMIA]
    assert arrhythmia.pooled is not None and arrhythmia.pooled.series == 2
    assert comparisons[Outcome.BLEEDING].pooled is None
    with pytest.raises(ValueError):
        pool(list(EVIDENCE[:1]))
