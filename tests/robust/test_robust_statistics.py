"""Aggregating samples: the Clopper-Pearson interval, order independence, sensitivity."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from irelab.robust import Aggregator, Interval, Parameter, SampleOutcome, SampleSet
from irelab.robust.statistics import MIN_SENSITIVITY_SAMPLES, json_number


def test_interval_is_clopper_pearson() -> None:
    """Clopper CJ, Pearson ES, Biometrika 26:404-413, 1934: the bounds of k successes in n
    trials are the alpha/2 quantile of Beta(k, n - k + 1) and the 1 - alpha/2 quantile of
    Beta(k + 1, n - k)."""
    for k, n in ((190, 200), (0, 20), (20, 20), (7, 40)):
        interval = Interval.of(k, n)
        low = stats.beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
        high = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
        assert interval.low == pytest.approx(low, abs=1e-9)
        assert interval.high == pytest.approx(high, abs=1e-9)
        assert interval.estimate == k / n and interval.method == "Clopper-Pearson"


def _synthetic(n: int, rng) -> tuple[SampleSet, list[SampleOutcome]]:
    """Margin = 3 - x1^2 (a symmetric effect of the first parameter), x2 irrelevant; field
    reserve = 1 + x2 / 10 (the second parameter's alone)."""
    x = rng.normal(size=(n, 2))
    params = (Parameter("array lateral a", "array", "mm"), Parameter("P1 tilt a", "probe P1",
                                                                     "deg"))
    samples = SampleSet(params, x, tuple(None for _ in range(n)))
    shape = (4, 4, 4)
    outcomes = []
    for k in range(n):
        margin = 3.0 - x[k, 0] ** 2
        lethal = np.zeros(shape, dtype=bool)
        lethal[: k % 4] = True
        outcomes.append(SampleOutcome(index=k, simulated=True, coverage=1.0 if margin >= 0
                                      else 0.9, margin_mm=margin, lethal_bits=np.packbits(lethal),
                                      shape=shape, field_reserve=1.0 + x[k, 1] / 10))
    return samples, outcomes


def test_statistics_do_not_depend_on_arrival_order() -> None:
    rng = np.random.default_rng(5)
    samples, outcomes = _synthetic(64, rng)
    first = Aggregator(samples, (4, 4, 4))
    second = Aggregator(samples, (4, 4, 4))
    for o in outcomes:
        first.add(o)
    for k in rng.permutation(len(outcomes)):
        second.add(outcomes[k])
    second.add(outcomes[0])  # a retried task delivered twice counts once
    a, b = first.statistics(), second.statistics()
    assert a.coverage_probability == b.coverage_probability
    np.testing.assert_array_equal(a.probability, b.probability)
    np.testing.assert_array_equal(a.margin_values, b.margin_values)
    assert a.sensitivity == b.sensitivity
    # voxel layer i is lethal in the samples with k % 4 > i
    np.testing.assert_allclose(a.probability[:, 0, 0], [0.75, 0.5, 0.25, 0.0])


def test_sensitivity_finds_a_symmetric_effect() -> None:
    """RBD-FAST (SALib) on margin = 3 - x1^2: x1 explains all of the variance; a linear
    regression would give x1 a coefficient near zero (the effect is even)."""
    samples, outcomes = _synthetic(256, np.random.default_rng(1))
    agg = Aggregator(samples, (4, 4, 4))
    for o in outcomes:
        agg.add(o)
    s1 = {s.parameter: s.s1 for s in agg.statistics().sensitivity}
    assert s1["array lateral a"] > 0.8
    assert abs(s1["P1 tilt a"]) < 0.1
    # the field reserve has its own indices: the second parameter's alone
    s1 = {s.parameter: s.s1 for s in agg.statistics().sensitivity_reserve}
    assert s1["P1 tilt a"] > 0.8
    assert abs(s1["array lateral a"]) < 0.1


def test_missing_samples_are_an_error() -> None:
    samples, outcomes = _synthetic(4, np.random.default_rng(2))
    agg = Aggregator(samples, (4, 4, 4))
    agg.add(outcomes[1])
    with pytest.raises(RuntimeError, match="have not arrived"):
        agg.statistics()


def test_an_undetermined_sensitivity_interval_is_null_in_json_not_a_warning() -> None:
    """64 samples that all miss by the same half voxel but one: some of RBD-FAST's bootstrap
    resamples then have no variance and SALib divides 0 by 0 (seen on the demo plan). The
    statistics come without a warning (warnings are errors here) and every number reaches JSON
    as a number or null, never NaN (which JSON does not have)."""
    n = MIN_SENSITIVITY_SAMPLES
    x = np.random.default_rng(3).normal(size=(n, 2))
    params = (Parameter("array lateral a", "array", "mm"), Parameter("P1 tilt a", "probe P1",
                                                                     "deg"))
    shape = (4, 4, 4)
    agg = Aggregator(SampleSet(params, x, tuple(None for _ in range(n))), shape)
    for k in range(n):
        agg.add(SampleOutcome(index=k, simulated=True, coverage=0.99,
                              margin_mm=2.0 if k == 0 else -0.5,
                              lethal_bits=np.packbits(np.zeros(shape, dtype=bool)), shape=shape))
    stats = agg.statistics()
    assert len(stats.sensitivity) == 2
    assert any(not np.isfinite(s.conf) for s in stats.sensitivity)  # the case this is about
    numbers = [[json_number(s.s1, 4), json_number(s.conf, 4)] for s in stats.sensitivity]
    text = json.dumps({"sensitivity": numbers, "margin": stats.margin_mm.to_json(3),
                       "p": stats.coverage_probability.to_json()}, allow_nan=False)
    assert "null" in text
    assert json_number(float("nan"), 3) is None and json_number(float("inf"), 3) is None
    assert json_number(1.23456, 3) == 1.235


@pytest.mark.parametrize("n", [MIN_SENSITIVITY_SAMPLES - 1, MIN_SENSITIVITY_SAMPLES])
def test_sensitivity_needs_enough_samples_for_its_bootstrap(n: int) -> None:
    """SALib's bootstrap corrects resamples of half the samples by ``1 / (1 - 2 M / (n / 2))``
    (M = 10): 40 samples divided by zero. Below the minimum no indices are given; at it they
    are finite and the effect is found (margin = 3 - x1^2)."""
    samples, outcomes = _synthetic(n, np.random.default_rng(4))
    agg = Aggregator(samples, (4, 4, 4))
    for o in outcomes:
        agg.add(o)
    sensitivity = agg.statistics().sensitivity
    if n < MIN_SENSITIVITY_SAMPLES:
        assert sensitivity == ()
    else:
        assert all(np.isfinite([s.s1, s.conf]).all() for s in sensitivity)
        assert max(sensitivity, key=lambda s: s.s1).parameter == "array lateral a"


def test_a_stop_rule_ends_at_the_same_sample_whatever_the_order_of_arrival() -> None:
    """The rule sees the first ``k`` outcomes in sample order; a sample that arrives early
    waits for those before it. The statistics are then those of the first ``k`` alone, even
    where later samples had arrived."""
    rng = np.random.default_rng(7)
    samples, outcomes = _synthetic(64, rng)

    def stop(first) -> bool:
        return sum(not o.covered for o in first) > 2

    misses = np.cumsum([not o.covered for o in outcomes])
    expected = int(np.argmax(misses > 2)) + 1
    assert misses[-1] > 2 and expected < 64
    reference = Aggregator(samples, (4, 4, 4))
    for o in outcomes[:expected]:
        reference.add(o)
    for order in (range(64), rng.permutation(64), range(63, -1, -1)):
        agg = Aggregator(samples, (4, 4, 4))
        found = None
        for k in order:
            agg.add(outcomes[k])
            if (found := agg.advance(stop)) is not None:
                break
        assert found == expected
        a, b = agg.statistics(found), reference.statistics(expected)
        assert a.samples == expected and a.coverage_probability == b.coverage_probability
        np.testing.assert_array_equal(a.probability, b.probability)
        np.testing.assert_array_equal(a.margin_values, b.margin_values)
        assert [o.index for o in agg.outcomes(found)] == list(range(expected))


def test_samples_whose_current_would_pass_the_generators_limit_are_counted() -> None:
    """A sample counts when its largest first-pulse current is above the first-pulse limit
    (at the limit it does not); a sample that could not be simulated has no current and is
    left out of the trials. Without a limit there is no figure."""
    shape = (4, 4, 4)
    params = (Parameter("array lateral a", "array", "mm"),)
    currents = (30.0, 42.0, 42.0001, 60.0, None)
    samples = SampleSet(params, np.zeros((len(currents), 1)), tuple(None for _ in currents))
    outcomes = [SampleOutcome(index=k, simulated=i is not None, coverage=1.0, margin_mm=1.0,
                              lethal_bits=np.packbits(np.zeros(shape, dtype=bool)), shape=shape,
                              max_current_A=i or 0.0)
                for k, i in enumerate(currents)]
    limited = Aggregator(samples, shape, first_pulse_limit_A=42.0)
    free = Aggregator(samples, shape)
    for o in outcomes:
        limited.add(o)
        free.add(o)
    over = limited.statistics().current_over_limit
    assert (over.successes, over.trials) == (2, 4)
    assert free.statistics().current_over_limit is None


def test_coverage_as_delivered_counts_the_samples_covered_after_re_delivery() -> None:
    """Four samples: covered as planned and as delivered; covered as planned only (a pair
    re-delivered at a lower voltage left a voxel); missed both ways; not simulated (a miss).
    The as-delivered probability is 1/4 against 2/4 as planned; a study that did not evaluate
    it (a sample without the figure) has none."""
    shape = (4, 4, 4)
    params = (Parameter("array lateral a", "array", "mm"),)
    rows = ((1.0, 1.0), (1.0, 0.98), (0.9, 0.9), None)
    samples = SampleSet(params, np.zeros((len(rows), 1)), tuple(None for _ in rows))
    empty = np.packbits(np.zeros(shape, dtype=bool))
    outcomes = [SampleOutcome(index=k, simulated=r is not None, coverage=r[0] if r else 0.0,
                              margin_mm=1.0, lethal_bits=empty, shape=shape,
                              coverage_as_delivered=r[1] if r else None)
                for k, r in enumerate(rows)]
    agg = Aggregator(samples, shape)
    for o in outcomes:
        agg.add(o)
    stats = agg.statistics()
    assert (stats.coverage_probability.successes, stats.coverage_probability.trials) == (2, 4)
    delivered = stats.coverage_probability_as_delivered
    assert (delivered.successes, delivered.trials) == (1, 4)
    assert delivered == Interval.of(1, 4)
    unknown = Aggregator(samples, shape)
    for o in outcomes[:3]:
        unknown.add(SampleOutcome(index=o.index, simulated=True, coverage=o.coverage,
                                  margin_mm=1.0, lethal_bits=empty, shape=shape))
    unknown.add(outcomes[3])
    assert unknown.statistics().coverage_probability_as_delivered is None


def test_the_studys_current_limit_is_the_planners() -> None:
    """One current model: the first-pulse current the study holds a sample to is the one the
    planner holds a pair to for the same pulses (the generator's limit over the rise of the
    current across the train), and fewer pulses allow more current."""
    from dataclasses import replace

    from irelab.delivery import GeneratorConfig, first_pulse_current_limit_A
    from irelab.plan import PlanOptions
    from irelab.plan.context import with_current_rise

    limits = []
    for pulses in (90, 70):
        options = PlanOptions()
        options = with_current_rise(replace(options, schedule=replace(
            options.schedule, pulses_per_pair=pulses)))
        study_limit = first_pulse_current_limit_A(GeneratorConfig(), pulses)
        assert study_limit == pytest.approx(options.limits.initial_current_limit_A, rel=1e-12)
        assert study_limit < options.limits.max_current_A
        limits.append(study_limit)
    assert limits[1] > limits[0]
