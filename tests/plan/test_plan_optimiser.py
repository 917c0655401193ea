"""The planner on small anatomies: limits respected, failures named, coverage honest."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from plan_cases import case_track, rod_case, sphere_case

from irelab.field import FieldSolver
from irelab.plan import PlanLimits, build_target, plan_treatment
from irelab.plan.layout import crosses_keep_out


def _check_limits(result, limits: PlanLimits) -> None:
    """Every limit of the planner that does not depend on coverage, checked on the result itself
    (not on the planner's own checks): probes, exposed length, voltage, current, spacing,
    parallel shafts clear of critical structures, thermal damage in critical tissue."""
    lay = result.layout
    assert limits.min_probes <= lay.n_probes <= limits.max_probes
    assert limits.min_exposed_m <= lay.exposed_m <= limits.max_exposed_m + 1e-12
    assert max(lay.voltages_V) <= limits.max_voltage_V
    assert result.fine.max_current_A <= limits.max_current_A
    assert np.all(lay.spacings_m() >= limits.min_spacing_m - 1e-12)
    assert np.all(lay.spacings_m() <= limits.max_spacing_m + 1e-12)
    assert lay.min_probe_distance_m() >= limits.min_spacing_m - 1e-12
    assert not crosses_keep_out(lay, result.target)
    assert result.fine.exact
    if result.thermal is not None:
        for name in result.target.critical:
            region = result.thermal.regions.get(name)
            assert region is None or region.damage_volume_cm3 == 0.0


@pytest.mark.slow
def test_small_tumour_plan_meets_limits_and_its_coverage_recomputes(quick_options) -> None:
    """A 4 mm tumour (+3 mm margin) beside a 3 mm vessel: full coverage within the limits.

    Independent recomputation: the plan (a case) is solved again here with a fresh
    FieldSolver per pair (no planner code), |E| maximised over pairs, compared with the local
    e_irr over the target minus the needle track.
    """
    result = plan_treatment(sphere_case((36, 36, 30), 4.0, vessel_y_mm=9.0), quick_options)
    limits = quick_options.limits
    _check_limits(result, limits)
    assert result.coverage == 1.0, result.failures
    assert result.feasible, result.failures
    assert result.fine.max_current_A <= limits.max_current_A
    assert result.layout.n_positions == 1

    plan = result.case
    problem = plan.field_problem()
    assert problem.grid == result.target.grid
    target = build_target(problem, quick_options.margin_m)
    max_e = np.zeros(problem.grid.shape)
    for pair in plan.protocol.pairs:
        sol = FieldSolver(problem).solve_pair(pair.anode, pair.cathode, pair.voltage_V)
        max_e = np.maximum(max_e, sol.e_field_V_per_m)
        assert pair.predicted_current_A == pytest.approx(sol.current_A, abs=0.01)
    counted = target.target & ~case_track(plan, problem.grid)
    lethal = max_e >= target.lethal_threshold_V_per_m
    assert (lethal & counted).sum() / counted.sum() == pytest.approx(result.coverage, abs=1e-9)
    assert result.thermal is not None
    assert "blood" in result.thermal.regions


@pytest.mark.slow
def test_uncoverable_tumour_is_reported_with_the_failing_constraint(quick_options) -> None:
    """A tumour needing 3000 V/cm over 20 mm cannot be covered at <= 3000 V and <= 50 A.

    The tumour's irreversible threshold is set to 4000 V/cm (above what 3000 V across >= 5 mm
    spacing gives away from the needles), so the best plan must say 'tumour NOT covered' while
    still respecting the voltage and current limits.
    """
    hard = {"sigma0_S_per_m": 0.2, "sigma1_S_per_m": 0.4, "e_rev_V_per_cm": 3000,
            "e_irr_V_per_cm": 4000, "source": "test: a threshold no generator reaches"}
    options = replace(quick_options, thermal=False)
    result = plan_treatment(sphere_case((40, 40, 30), 7.0, tumour=hard), options)
    assert not result.feasible
    assert result.coverage < 1.0
    tumour_failures = [f for f in result.failures if f.startswith("tumour NOT covered")]
    assert tumour_failures and not result.margin.tumour_covered
    assert result.margin.achieved_mm is None
    # which constraint stops it, and by how much
    message = tumour_failures[0]
    assert "below their lethal threshold" in message and "% below it" in message
    assert "3000 V limit" in message or "50 A current limit" in message
    need = float(message.split("would need about ")[1].split(" V")[0])
    assert need > options.limits.max_voltage_V
    _check_limits(result, options.limits)
    assert result.fine.max_current_A <= options.limits.max_current_A


@pytest.mark.slow
def test_pullbacks_appear_exactly_when_the_target_outgrows_one_placement(quick_options) -> None:
    """A 6 mm-wide tumour rod 50 mm long (+3 mm margin: 56 mm) cannot be covered from one
    placement of 40 mm electrodes (plus the 3 mm overhang assumed at each end): the plan has
    two positions, written as ``protocol.pullback_steps_mm``, and the fine grid confirms the
    whole target. The same rod 30 mm long (36 mm with the margin) plans from one position
    with no pullback."""
    options = replace(quick_options, thermal=False)
    long_plan = plan_treatment(rod_case((24, 24, 72), 3.0, 50.0), options)
    assert long_plan.layout.n_positions == 2
    _check_limits(long_plan, options.limits)
    assert long_plan.feasible and long_plan.margin.tumour_covered, long_plan.failures
    protocol = long_plan.case.protocol
    assert protocol.pullbacks and protocol.positions == 2
    tips = long_plan.layout.tips_m
    assert protocol.pullback_steps_mm == (pytest.approx((tips[1] - tips[0]) * 1e3),)
    assert 0 < protocol.pullback_steps_mm[0] < long_plan.layout.exposed_m * 1e3  # overlap

    short_plan = plan_treatment(rod_case((24, 24, 52), 3.0, 30.0), options)
    assert short_plan.layout.n_positions == 1
    assert short_plan.case.protocol.positions == 1 and not short_plan.case.protocol.pullbacks
    assert short_plan.feasible and short_plan.margin.tumour_covered, short_plan.failures
