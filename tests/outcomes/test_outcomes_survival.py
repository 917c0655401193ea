"""Kaplan-Meier, cluster bootstrap, Aalen-Johansen and Wilson intervals against hand values."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from lifelines import AalenJohansenFitter, KaplanMeierFitter

from irelab.outcomes.proportions import IntervalMethod, proportion
from irelab.outcomes.survival import (
    TimeToEvent,
    cluster_bootstrap,
    cumulative_incidence,
    kaplan_meier,
    kaplan_meier_clustered,
    weighted_product_limit,
)

#: Remission times (weeks) of the 6-MP arm of the Freireich et al. leukaemia trial
#: (Blood 1963;21:699-716), the classic Kaplan-Meier example (Gehan EA, Biometrika 1965;52:
#: 203-223; Kleinbaum DG, Klein M, Survival Analysis: A Self-Learning Text, ch. 2).
#: Negative = censored.
SIX_MP = (6, 6, 6, -6, 7, -9, 10, -10, -11, 13, 16, -17, -19, -20, 22, 23, -25, -32, -32, -34, -35)
EXACT = 1e-12  # both sides are the same product of fractions in floating point


def _six_mp() -> TimeToEvent:
    t = np.array(SIX_MP, dtype=float)
    return TimeToEvent(np.abs(t), t > 0)


def test_kaplan_meier_matches_hand_product_limit_of_6mp() -> None:
    """S(t) = prod (1 - d_j / n_j) over event times, computed here with exact fractions.

    Event times (d, n): 6 (3, 21), 7 (1, 17), 10 (1, 15), 13 (1, 12), 16 (1, 11), 22 (1, 7),
    23 (1, 6). Landmarks (weeks read as months): S(6) = 18/21 = 0.857, S(12) = S(10) = 0.753,
    S(24) = S(23) = 0.448, the textbook values.
    """
    steps = [(6, 3, 21), (7, 1, 17), (10, 1, 15), (13, 1, 12), (16, 1, 11), (22, 1, 7), (23, 1, 6)]

    def s(t: float) -> float:
        value = Fraction(1)
        for time, d, n in steps:
            if time <= t:
                value *= 1 - Fraction(d, n)
        return float(value)

    est = kaplan_meier("6-MP", "patients", _six_mp())
    assert est.n == 21 and est.events == 9
    got = {m.months: m for m in est.landmarks}
    for t in (6.0, 12.0, 24.0):
        assert got[t].estimate == pytest.approx(s(t), abs=EXACT)
        assert got[t].low < got[t].estimate < got[t].high
    assert got[6.0].estimate == pytest.approx(0.857, abs=5e-4)
    assert got[12.0].estimate == pytest.approx(0.753, abs=5e-4)
    assert got[24.0].estimate == pytest.approx(0.448, abs=5e-4)
    assert got[12.0].at_risk == 12
    assert est.median_months == 23.0


def test_weighted_product_limit_with_unit_weights_equals_lifelines() -> None:
    data = _six_mp()
    at = np.linspace(0, 40, 81)
    ours = weighted_product_limit(data.months, data.events, np.ones((1, 21)), at)[0]
    ref = KaplanMeierFitter().fit(data.months, data.events).survival_function_at_times(at)
    np.testing.assert_allclose(ours, ref.to_numpy(), atol=EXACT)


def _exponential_cohort(n: int, seed: int) -> TimeToEvent:
    rng = np.random.default_rng(seed)
    event = rng.exponential(20.0, n)
    censor = rng.uniform(5.0, 40.0, n)
    return TimeToEvent(np.minimum(event, censor), event <= censor, np.arange(n))


def _width(marks, i: int = 1) -> float:
    return marks[i].high - marks[i].low


def test_cluster_bootstrap_equals_naive_for_one_tumour_per_patient() -> None:
    """Independent observations: the percentile bootstrap and Greenwood agree.

    200 patients, 2000 resamples; widths at 12 months agree within 20 % (Monte-Carlo error of
    the percentile interval plus the log(-log) asymmetry of lifelines' interval).
    """
    est = kaplan_meier_clustered("x", "tumours", _exponential_cohort(200, 1), 2000, 3)
    assert _width(est.cluster_landmarks) == pytest.approx(_width(est.landmarks), rel=0.20)


def test_cluster_bootstrap_wider_than_naive_for_duplicated_tumours() -> None:
    """Each patient's tumour duplicated (perfect within-patient correlation).

    The naive interval shrinks by about 1/sqrt(2) (it believes there are twice as many
    independent tumours); the patient-level bootstrap is unchanged (same resamples of the same
    patients give the same estimates), so it is about sqrt(2) wider than the naive one.
    """
    single = _exponential_cohort(200, 1)
    double = TimeToEvent(
        np.repeat(single.months, 2), np.repeat(single.events, 2), np.repeat(single.clusters, 2)
    )
    one = kaplan_meier_clustered("x", "tumours", single, 2000, 3)
    two = kaplan_meier_clustered("x", "tumours", double, 2000, 3)
    assert [m.estimate for m in two.landmarks] == pytest.approx(
        [m.estimate for m in one.landmarks], abs=EXACT
    )
    np.testing.assert_allclose(
        cluster_bootstrap(double, resamples=50, seed=5),
        cluster_bootstrap(single, resamples=50, seed=5),
        atol=EXACT,
    )
    assert _width(two.cluster_landmarks) == pytest.approx(_width(one.cluster_landmarks), rel=1e-9)
    assert _width(two.landmarks) == pytest.approx(_width(one.landmarks) / np.sqrt(2), rel=0.1)
    assert _width(two.cluster_landmarks) > 1.25 * _width(two.landmarks)


def test_aalen_johansen_matches_hand_computation() -> None:
    """Six subjects: LTP (1) at 1 and 4, death (2) at 2 and 5, censored at 3 and 6.

    F1(t) = sum S(t_j-) d1_j / n_j: at 1, 1 * 1/6 = 1/6; S drops to 5/6, then 4/6 after the
    death at 2; at 4 (n = 3), + 4/6 * 1/3 = 2/9; so F1(6 months) = 1/6 and F1(12) = 7/18.
    With the competing event tied with the LTP at time 4 the value is the same (ties are
    resolved deterministically, no random jitter, no warning).
    """
    months = np.array([1, 2, 3, 4, 5, 6.0]) * 2  # scale so that 6 and 12 months are landmarks
    months[1] = 5.0
    events = np.array([1, 2, 0, 1, 2, 0])
    est = cumulative_incidence("CIF", "tumours", TimeToEvent(months, events), 1)
    got = {m.months: m.estimate for m in est.landmarks}
    assert got[6.0] == pytest.approx(1 / 6, abs=EXACT)
    assert got[12.0] == pytest.approx(7 / 18, abs=EXACT)
    assert got[24.0] is None  # beyond the longest follow-up
    tied = months.copy()
    tied[4] = tied[3]  # a death at the same time as the second LTP
    est_tied = cumulative_incidence("CIF", "tumours", TimeToEvent(tied, events), 1)
    assert est_tied.landmarks[1].estimate == pytest.approx(7 / 18, abs=1e-9)
    assert est_tied.landmarks[1].low < 7 / 18 < est_tied.landmarks[1].high


def test_aalen_johansen_is_fitted_without_timeline(monkeypatch: pytest.MonkeyPatch) -> None:
    """lifelines 0.30.3 returns wrong values with ``fit(..., timeline=...)``: we never pass it."""
    calls: list[dict] = []
    original = AalenJohansenFitter.fit

    def spy(self, *args, **kwargs):
        calls.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AalenJohansenFitter, "fit", spy)
    cumulative_incidence("CIF", "t", TimeToEvent(np.array([1.0, 7, 13]), np.array([1, 2, 1])), 1)
    assert calls and all("timeline" not in kw for kw in calls)


def test_wilson_interval_matches_newcombe_1998() -> None:
    """Newcombe RG, Stat Med 1998;17:857-872, Table II, method 3 (Wilson score, no continuity
    correction), printed to 4 decimals. 0/20 distinguishes it from the Wald default (0, 0)."""
    table = {
        (81, 263): (0.2553, 0.3662),
        (15, 148): (0.0624, 0.1605),
        (0, 20): (0.0, 0.1611),
        (1, 29): (0.0061, 0.1718),
    }
    for (x, n), (low, high) in table.items():
        p = proportion(x, n)
        assert p.method is IntervalMethod.WILSON
        assert (p.low, p.high) == pytest.approx((low, high), abs=5e-5)  # 4-decimal table
    assert proportion(0, 0).estimate is None
    assert proportion(3, 10).text() == "3/10 (30.0 %, 95 % CI 10.8-60.3)"
