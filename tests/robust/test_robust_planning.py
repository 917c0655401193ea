"""Robust planning: the threshold factor chosen from the samples' field reserve, and the loop
end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
from robust_cases import SMALL_PLAN

from irelab.case import parse_case
from irelab.robust import ClusterSettings, RobustOptions, UncertaintyModel, plan_robust
from irelab.robust.planning import (
    FACTOR_STEP,
    MIN_DECIDING_SAMPLES,
    allowed_misses,
    raised_threshold_factor,
)


def test_the_next_factor_is_the_quantile_of_the_field_needed() -> None:
    reserves = 1 / np.linspace(1.01, 1.10, 10)  # ten samples needing 1 % .. 10 % more field
    # 90 % of the samples must be covered: the 9th smallest need is 9 % more field, on top of
    # the factor planned with, rounded up to half a per cent
    assert raised_threshold_factor(1.0, reserves, 10, 0.9) == 1.09
    assert raised_threshold_factor(1.04, reserves, 10, 0.9) == 1.135  # 1.04 * 1.09 = 1.1336
    # a need the last factor already covers still raises it by one step
    covered = np.full(10, 1.2)
    assert raised_threshold_factor(1.0, covered, 10, 0.9) == 1.0 + FACTOR_STEP
    # a sample that could not be simulated is a miss: a higher quantile of the rest
    assert raised_threshold_factor(1.0, reserves[:9], 10, 0.8) == 1.08  # 8 of the 9
    assert raised_threshold_factor(1.0, reserves[:9], 10, 0.85) == 1.09  # 8.5: all 9
    # when they alone are more misses than the goal allows, no field helps
    assert raised_threshold_factor(1.0, reserves[:5], 10, 0.9) == math.inf
    # shaped like the demo's first check: 24 of 32 samples short by 0.1-3 %, 8 covered
    demo = np.concatenate([1 / np.linspace(1.001, 1.03, 24), np.full(8, 1.05)])
    assert raised_threshold_factor(1.0, demo, 32, 0.95) == 1.03


def test_a_check_is_decided_by_the_misses_the_goal_allows() -> None:
    """A goal of 0.95 over 100 samples allows 5 misses (95/100 reaches it, 94/100 does not);
    the early stop waits for a power-of-two block of the Sobol sequence."""
    assert [allowed_misses(100, 0.95), allowed_misses(200, 0.95), allowed_misses(8, 0.5),
            allowed_misses(100, 0.951), allowed_misses(3, 0.9)] == [5, 10, 4, 4, 0]
    for n, p in ((100, 0.95), (200, 0.95), (8, 0.5), (37, 0.8)):
        k = allowed_misses(n, p)
        assert (n - k) / n >= p > (n - k - 1) / n
    assert MIN_DECIDING_SAMPLES & (MIN_DECIDING_SAMPLES - 1) == 0


@pytest.mark.slow
def test_robust_plan_meets_its_goal_or_says_why(tmp_path, scheduler) -> None:
    """The small anatomy planned on a 2 mm grid (2.2 mm probes, thicker than the grid's spacing)
    with a 1 mm margin, then planned against raised thresholds until half the samples cover the
    tumour (a goal the small case can reach in a few rounds) or the planner cannot reach the
    field; 8 samples per round on the session's cluster (test time)."""
    from irelab.plan import PlanLimits, PlanOptions
    from irelab.thermal import PulseSchedule

    anatomy = {k: v for k, v in SMALL_PLAN.items() if k not in ("probes", "protocol")}
    anatomy["domain"] = {"size_mm": [48, 48, 40], "spacing_mm": 2.0}
    case = parse_case(anatomy, source="<small anatomy>")
    options = PlanOptions(margin_m=1e-3, coarse_spacing_m=2e-3, fine_spacing_m=2e-3,
                          screen_keep=2, refine=False,
                          limits=PlanLimits(probe_diameter_m=2.2e-3),
                          schedule=PulseSchedule(pulses_per_pair=20, cooldown_s=5.0))
    stages = []
    result = plan_robust(case, options, 0.5, UncertaintyModel.for_case(case),
                         RobustOptions(samples=8, thermal_samples=0,
                                       cluster=ClusterSettings(scheduler=scheduler[0])),
                         stage=lambda text, fraction: stages.append(text))
    factors = [s.threshold_factor for s in result.steps]
    caps = [s.current_cap_A for s in result.steps]
    assert factors[0] == 1.0 and caps[0] == options.limits.max_current_A
    assert len(set(zip(factors, caps, strict=True))) == len(factors)  # no round twice
    for k, step in enumerate(result.steps):  # no round asks for more than one not reached
        if not step.reached:
            assert all(f < step.threshold_factor for f in factors[k + 1:])
    assert all(s.margin_mm == 1.0 for s in result.steps)
    assert any("Monte Carlo check" in text for text in stages)
    # against the tissues' own thresholds the plain round's healthy volume is the planner's
    assert result.steps[0].healthy_cm3 == pytest.approx(result.steps[0].plan.healthy_cm3,
                                                        rel=1e-12)
    for step in result.steps:
        # the plan file keeps the tissues' own thresholds whatever it was planned against
        assert dict(step.plan.case.tissues) == dict(case.tissues)
        assert step.plan.options.threshold_factor == step.threshold_factor
    if result.met:
        assert result.chosen.probability >= 0.5 and result.chosen.safe
        assert result.stopped_because is None
    else:
        assert result.chosen.probability < 0.5 or not result.chosen.safe
        assert result.stopped_because
        assert result.summary_lines()[-1] == f"stopped: {result.stopped_because}"
    price = result.price()
    assert price["threshold_factor"] == pytest.approx(result.chosen.threshold_factor - 1.0)
    assert set(price) >= {"healthy_volume_cm3", "probes", "placements", "max_voltage_V"}
    assert any(line.startswith("goal P >= 0.5") for line in result.summary_lines())
    # the report of the plan chosen shows every round and the price
    import html

    from irelab.plan.report import write_report

    page = write_report(result.chosen.plan, tmp_path / "plan.html", "small.yaml", 1.0,
                        robustness=result.summary_lines()).read_text(encoding="utf-8")
    assert "<h2>Robustness under the uncertainty model</h2>" in page
    assert all(html.escape(line) in page for line in result.summary_lines())
    assert "input file\nsmall.yaml;" in page


@pytest.fixture
def no_tracks(monkeypatch):
    """Rounds built by :func:`_step` have no probes, hence no needle tracks."""
    import irelab.robust.planning as planning

    monkeypatch.setattr(planning, "track_mask",
                        lambda layout, target: np.zeros(target.tumour.shape, dtype=bool))


def _step(margin_mm: float, covered: int, trials: int, stopped_after: int | None,
          factor: float = 1.0, reserves: np.ndarray | None = None, reached: bool = True,
          over_limit: int | None = None, delivered: int | None = None):
    """A round with just what its description reads (a plan of two pairs, one placement);
    ``over_limit``: samples whose current would pass the generator's limit (None: no figure);
    ``delivered``: samples covered as delivered (None: no figure)."""
    from types import SimpleNamespace

    from irelab.robust.planning import RobustPlanStep
    from irelab.robust.statistics import Interval

    protocol = SimpleNamespace(pairs=[SimpleNamespace(voltage_V=2000.0, predicted_current_A=30.0),
                                      SimpleNamespace(voltage_V=2400.0, predicted_current_A=35.0)],
                               positions=1)
    plan = SimpleNamespace(case=SimpleNamespace(protocol=protocol, probes=[1, 2, 3]),
                           feasible=True, coverage=1.0, healthy_cm3=40.0 + margin_mm, checks=(),
                           margin=SimpleNamespace(tumour_covered=reached),
                           target=SimpleNamespace(
                               lethal_threshold_V_per_m=np.full(4, 100.0),
                               target=np.array([True, True, False, False]),
                               tumour=np.array([True, False, False, False]),
                               critical_any=np.zeros(4, dtype=bool),
                               grid=SimpleNamespace(voxel_volume_m3=1e-6)),
                           fine=SimpleNamespace(layout=None,
                                                max_e_V_per_m=np.array([200.0, 99.0, 96.0, 90.0])))
    study = SimpleNamespace(statistics=SimpleNamespace(
        coverage_probability=Interval.of(covered, trials),
        reserve_values=(np.linspace(0.97, 1.05, trials) if reserves is None else reserves),
        samples=trials,
        current_over_limit=None if over_limit is None else Interval.of(over_limit, trials),
        coverage_probability_as_delivered=None if delivered is None
        else Interval.of(delivered, trials)),
        nominal=SimpleNamespace(
        margin_mm=margin_mm + 1.0, covered=True), samples=[None] * 100,
        stopped_after=stopped_after)
    return RobustPlanStep(margin_mm, factor, plan, study)


def test_a_round_stopped_early_says_so(no_tracks) -> None:
    from irelab.robust.planning import RobustPlanResult

    first = _step(5.0, 7, 32, 32, over_limit=25)
    second = _step(5.0, 96, 100, None, factor=1.045, over_limit=0)
    result = RobustPlanResult(0.95, (first, second), second, True)
    lines = result.summary_lines()
    # samples whose current would pass the generator's limit: said where there are any
    assert lines[0].endswith("; current over the generator's limit in 25/32 samples")
    assert "generator" not in lines[1]
    # with the coverage as delivered: said after the count
    delivering = _step(5.0, 7, 32, 32, over_limit=25, delivered=5)
    with_delivery = RobustPlanResult(0.95, (delivering,), delivering, False)
    assert with_delivery.summary_lines()[0].endswith(
        "; current over the generator's limit in 25/32 samples (with those pairs delivered "
        "again at the generator's suggested voltage, P(100 % coverage) 0.156)")
    assert with_delivery.to_json()["rounds"][0]["coverage_probability_as_delivered"][
        "successes"] == 5
    assert [r["current_over_limit_probability"]["successes"]
            for r in result.to_json()["rounds"]] == [25, 0]
    assert "(95 % interval" in lines[0] and "stopped after 32 of 100 samples: 25 misses, " \
        "more than the goal allows)" in lines[0]
    assert "P(100 % coverage) 0.960" in lines[1] and "100 samples)" in lines[1]
    rounds = result.to_json()["rounds"]
    assert [r["stopped_after"] for r in rounds] == [32, None]
    assert [r["samples_drawn"] for r in rounds] == [100, 100]
    assert [r["threshold_factor"] for r in rounds] == [1.0, 1.045]
    # the raised round's healthy volume is against the tissues' own thresholds: the voxel at
    # 96 V/m of 100 (dead at 100 / 1.045 = 95.7) counts, the one at 90 does not; the plain
    # round's threshold is 100 and kills neither
    assert [r["healthy_volume_cm3"] for r in rounds] == [0.0, 1.0]
    assert "planned against the tissues' lethal thresholds" in lines[0]
    assert "planned against 1.045 x the lethal thresholds ->" in lines[1]
    assert lines[-1].startswith("goal P >= 0.95 met with round 2")
    assert lines[-1].endswith("lethal thresholds planned against +4.5%")
    assert result.to_json()["stopped_because"] is None


def test_a_goal_out_of_reach_says_why(no_tracks) -> None:
    from irelab.robust.planning import RobustPlanResult

    first = _step(5.0, 7, 32, 32)
    second = _step(5.0, 9, 32, 32, factor=1.085)
    second.plan.margin.tumour_covered = False
    second.plan.margin.tumour_short, second.plan.margin.tumour_worst_ratio = 12, 1.031
    second.plan.tried = ()
    from irelab.robust.planning import _out_of_reach

    why = _out_of_reach(second)
    assert why.startswith("out of reach: against 1.085 x the lethal thresholds the planner "
                          "could not cover the tumour within the limits (12 tumour voxels "
                          "short, the worst 3.0 % below)")
    result = RobustPlanResult(0.95, (first, second), second, False, why)
    lines = result.summary_lines()
    assert "1.085 x the lethal thresholds, tumour NOT covered against them" in lines[1]
    assert lines[-2].startswith("goal P >= 0.95 NOT met with round 2")
    assert lines[-1] == f"stopped: {why}"
    assert result.to_json()["stopped_because"] == why


def test_the_planner_covers_against_the_raised_thresholds(small_plan) -> None:
    from dataclasses import replace

    from irelab.plan import PlanOptions
    from irelab.plan.context import PlanContext
    from irelab.plan.journal import Journal

    plain = PlanContext(small_plan, PlanOptions(fine_spacing_m=2e-3), Journal())
    raised = PlanContext(small_plan, replace(plain.options, threshold_factor=1.08), Journal())
    assert np.array_equal(raised.fine_target.lethal_threshold_V_per_m,
                          plain.fine_target.lethal_threshold_V_per_m * 1.08)
    with pytest.raises(ValueError, match="threshold_factor"):
        PlanOptions(threshold_factor=0.0)


def _needing(more: float, trials: int = 32) -> np.ndarray:
    """Field reserves of ``trials`` samples of which the worst needs ``more`` times the field."""
    return 1 / np.linspace(1.0, more, trials)


def test_the_rounds_close_in_on_the_field_that_can_be_planned(no_tracks) -> None:
    """Shaped like the demo: the plain plan's samples want 1.9 x the field, beyond the 1.5 x
    allowed; the planner reaches 1.125 x but not 1.25 x."""
    from irelab.robust.planning import MAX_THRESHOLD_FACTOR, next_threshold_factor

    plain = _step(5.0, 7, 32, 32, reserves=_needing(1.9))
    steps = [plain]
    assert next_threshold_factor(steps, 0.95) == (MAX_THRESHOLD_FACTOR, "")  # the most allowed
    steps.append(_step(5.0, 0, 32, 32, factor=1.5, reached=False))
    assert next_threshold_factor(steps, 0.95) == (1.25, "")  # half-way to what failed
    steps.append(_step(5.0, 0, 32, 32, factor=1.25, reached=False))
    assert next_threshold_factor(steps, 0.95) == (1.125, "")
    # a reached round whose samples want less than the lowest failure: that factor
    steps.append(_step(5.0, 20, 32, 32, factor=1.125, reserves=_needing(1.09)))
    assert next_threshold_factor(steps, 0.95) == (1.225, "")  # 1.125 * 1.0872 = 1.2231
    # wanting more than the lowest failure: half-way again, 1.125 .. 1.25
    steps[-1] = _step(5.0, 20, 32, 32, factor=1.125, reserves=_needing(1.2))
    assert next_threshold_factor(steps, 0.95) == (1.19, "")  # 1.1875 rounded up
    # nothing left between the highest reached and the lowest failure (31st of 32 needs: 1.290)
    close = [_step(5.0, 7, 32, 32, reserves=_needing(1.3)),
             _step(5.0, 0, 32, 32, factor=1.005, reached=False)]
    factor, why = next_threshold_factor(close, 0.95)
    assert factor is None and why == (
        "out of reach: the goal needs about 1.295 x the lethal thresholds' field; the planner "
        "reached 1.000 x and could not cover the tumour against 1.005 x")
    # the largest factor allowed was reached and is not enough
    top = [plain, _step(5.0, 20, 32, 32, factor=1.5, reserves=_needing(1.5))]
    factor, why = next_threshold_factor(top, 0.95)
    assert factor is None and why.endswith("the 1.5 x planned at most was reached")
    # too many samples could not be simulated
    factor, why = next_threshold_factor([_step(5.0, 7, 32, 32, reserves=_needing(1.1, 20))],
                                        0.95)
    assert factor is None and "cannot be placed" in why


def test_the_loop_chooses_the_most_probable_round(monkeypatch, no_tracks) -> None:
    """The loop against a model world: the planner reaches factors up to 1.2, and a plan it
    could not reach carries only 1.1 x the field (as when it ends lowering voltages); a sample
    is covered when the plan's field reaches its need (needs spread up to 1.3 x). The rounds
    go 1.0 -> 1.295 (wanted; not reached) -> 1.15 (half-way) -> 1.225 (wanted 1.295 again, so
    half-way; not reached) -> 1.19 (half-way again), and the plan chosen is the 1.19 round, the
    most probable."""
    from types import SimpleNamespace

    import irelab.robust.planning as planning
    from irelab.plan import PlanOptions
    from irelab.robust.statistics import Interval

    needs = np.linspace(1.0, 1.3, 32)

    def plan_treatment(case, options, progress):
        factor = options.threshold_factor
        step = _step(5.0, 0, 32, None, factor=factor, reached=factor <= 1.2)
        return replace(step.plan, options=options)

    def robust_study(plan_case, model, study, progress, stop):
        factor = plan_case.options.threshold_factor
        reserves = (factor if factor <= 1.2 else 1.1) / needs
        return SimpleNamespace(
            probability=float(np.mean(reserves >= 1)), samples=[None] * 32, stopped_after=None,
            nominal=SimpleNamespace(covered=True, margin_mm=5.0),
            statistics=SimpleNamespace(
                coverage_probability=Interval.of(int((reserves >= 1).sum()), 32),
                reserve_values=reserves, samples=32, current_over_limit=None,
                coverage_probability_as_delivered=None))

    def replace(plan, options):
        plan.options = options
        plan.case = SimpleNamespace(options=options, protocol=plan.case.protocol,
                                    probes=plan.case.probes)
        return plan

    monkeypatch.setattr(planning, "plan_treatment", plan_treatment)
    monkeypatch.setattr(planning, "robust_study", robust_study)
    result = planning.plan_robust(object(), PlanOptions(), 0.95, None,
                                  RobustOptions(samples=32, thermal_samples=0))
    assert [s.threshold_factor for s in result.steps] == [1.0, 1.295, 1.15, 1.225, 1.19]
    assert [s.reached for s in result.steps] == [True, False, True, False, True]
    assert result.chosen is result.steps[4] and not result.met
    assert result.stopped_because == "5 rounds planned and checked"


def test_a_round_whose_current_cost_coverage_is_planned_again_with_headroom(monkeypatch,
                                                                           no_tracks) -> None:
    """The loop against a model world in which the generator's current limit stops pairs: a
    plan made to the full 50 A covers 24 of 32 samples as planned but only 10 as delivered;
    made to 40 A (the first rung of the headroom ladder), as many as delivered as planned. The
    goal is judged as delivered: round 1 (50 A) is not the one chosen although it is the most
    probable as planned, round 2 plans the same field to 40 A, and the rounds after it raise
    the field at 40 A."""
    from types import SimpleNamespace

    import irelab.robust.planning as planning
    from irelab.plan import PlanOptions
    from irelab.robust.planning import HEADROOM_LADDER
    from irelab.robust.statistics import Interval

    assert HEADROOM_LADDER[0] == 0.8
    seen = []

    def plan_treatment(case, options, progress):
        seen.append((options.threshold_factor, options.limits.max_current_A))
        step = _step(5.0, 0, 32, None, factor=options.threshold_factor,
                     reached=options.threshold_factor <= 1.2)
        step.plan.options = options
        step.plan.case = SimpleNamespace(options=options, protocol=step.plan.case.protocol,
                                         probes=step.plan.case.probes)
        return step.plan

    def robust_study(plan_case, model, study, progress, stop):
        options = plan_case.options
        full = options.limits.max_current_A == 50.0
        covered = 24 if full else round(18 * options.threshold_factor)
        delivered = 10 if full else covered
        reserves = np.concatenate([np.full(covered, 1.05), np.full(32 - covered, 0.95)])
        return SimpleNamespace(
            samples=[None] * 32, stopped_after=None,
            nominal=SimpleNamespace(covered=True, margin_mm=5.0),
            statistics=SimpleNamespace(
                coverage_probability=Interval.of(covered, 32), reserve_values=reserves,
                samples=32, current_over_limit=Interval.of(20 if full else 3, 32),
                coverage_probability_as_delivered=Interval.of(delivered, 32)))

    monkeypatch.setattr(planning, "plan_treatment", plan_treatment)
    monkeypatch.setattr(planning, "robust_study", robust_study)
    result = planning.plan_robust(object(), PlanOptions(), 0.9, None,
                                  RobustOptions(samples=32, thermal_samples=0))
    assert seen[:2] == [(1.0, 50.0), (1.0, 40.0)]  # the same field, with headroom
    assert all(cap == 40.0 for _, cap in seen[1:])  # the field is raised at 40 A
    assert seen[2][0] > 1.0
    first = result.steps[0]
    assert first.study.statistics.coverage_probability.successes == 24
    assert first.probability == pytest.approx(10 / 32)  # judged as delivered
    assert result.chosen is not first
    assert result.chosen.probability == max(s.probability for s in result.steps) > 10 / 32
    rounds = result.to_json()["rounds"]
    assert [r["current_cap_A"] for r in rounds][:2] == [50.0, 40.0]
    assert rounds[0]["judged_as"] == "delivered"
    lines = result.summary_lines()
    assert ", currents to at most 40 A -> " in lines[1]
    assert "(judged as delivered)" in lines[len(result.steps)]
    assert result.price()["current_cap_A"] == -10.0
