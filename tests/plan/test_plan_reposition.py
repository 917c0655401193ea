"""Repositioning: placements of the probe array moved sideways, in the layout, the evaluator,
the written plan, and a plan that needs one (its coverage recomputed from plan.yaml alone)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import yaml
from plan_cases import anatomy, case_track, sphere_case

from irelab.case import case_text, load_case, parse_case, write_case
from irelab.field import FieldSolver
from irelab.plan import PlanLimits, PlanOptions, build_target, plan_treatment
from irelab.plan.evaluate import Evaluator, LayoutEvaluation
from irelab.plan.layout import ProbeLayout, crosses_keep_out, track_mask
from irelab.plan.output import plan_case
from irelab.plan.search import shortfall
from irelab.thermal import PulseSchedule

PAIR = ProbeLayout(((-4.5e-3, 0.5e-3), (3.5e-3, 0.5e-3)), 0.01, (-0.005, -0.005), ((0, 1),),
                   (2000.0,), shifts_m=((0.0, 0.0), (0.0, 3e-3)))
"""Two probes 8 mm apart on voxel-centre columns of the 1 mm grids below, placed twice: as
written and moved 3 mm along e2 (+y)."""


def _evaluated(layout: ProbeLayout, target, currents) -> LayoutEvaluation:
    """An evaluation of ``layout`` with the given currents (for the writer only: no solve)."""
    shape = target.grid.shape
    return LayoutEvaluation(layout=layout, coverage=1.0, healthy_m3=0.0,
                            lethal=np.zeros(shape, bool), max_e_V_per_m=np.zeros(shape),
                            currents_A=currents, converged=True, counted=target.target)


def test_a_shifted_placement_moves_tips_tracks_and_the_keep_out_check() -> None:
    """World tips move by the shift; the needle track holds the columns of both placements;
    a shift that takes a probe into a vessel's keep-out makes the layout cross it although
    its first placement is clear; a further placement is inserted after the one it copies."""
    target = build_target(anatomy(sphere_case((30, 30, 20), 3.0, vessel_y_mm=9.0), 1e-3),
                          margin_m=2e-3)
    first, second = (PAIR.world_tip_m(target, 1, p) for p in (0, 1))
    assert np.allclose(second - first, 3e-3 * target.e2)
    assert PAIR.repositioned
    moved = [PAIR.conductors(target, p)[0][1] for p in (0, 1)]  # probe P2's electrode
    assert moved[0].name == moved[1].name == "P2"
    assert np.allclose(np.subtract(moved[1].start_m, moved[0].start_m), 3e-3 * target.e2)
    track = track_mask(PAIR, target)
    grid = target.grid
    for p in range(2):
        tip = PAIR.world_tip_m(target, 0, p) + 2e-3 * target.axis
        index = tuple(np.round((tip - np.asarray(grid.origin_m)) / grid.spacing_m).astype(int))
        assert track[index]
    assert not crosses_keep_out(replace(PAIR, tips_m=(-0.005,), shifts_m=()), target)
    assert not crosses_keep_out(PAIR, target)
    into_vessel = PAIR.with_placement(-0.005, (0.0, 8e-3), after=0)
    assert crosses_keep_out(into_vessel, target)
    assert into_vessel.shifts_m == ((0.0, 0.0), (0.0, 8e-3), (0.0, 3e-3))


def test_the_plan_file_writes_placements_the_case_layer_reads_back() -> None:
    """Sideways placements are written as protocol.placements (back_mm, shift_mm relative to
    the first placement, where the probes are written); irelab.case puts every probe of every
    placement where the layout has it. Pullbacks alone keep pullback_steps_mm."""
    base = sphere_case((30, 30, 30), 3.0)
    target = build_target(anatomy(base, 1e-3), margin_m=2e-3)
    layout = replace(PAIR, tips_m=(-0.008, -0.004, -0.004),
                     shifts_m=((1e-3, 0.0), (1e-3, 0.0), (1e-3, -3e-3)))
    currents = ((10.0,), (12.0,), (11.0,))
    plan = plan_case(base, _evaluated(layout, target, currents), target, PlanOptions())
    mapping = yaml.safe_load(case_text(plan))
    protocol = mapping["protocol"]
    assert "pullback_steps_mm" not in protocol
    assert protocol["placements"] == [
        {"back_mm": 0, "shift_mm": [0, 0, 0]},
        {"back_mm": 4, "shift_mm": [0, 0, 0]},
        {"back_mm": 4, "shift_mm": [0, -3, 0]}]
    assert protocol["pairs"][0]["predicted_currents_A"] == [10.0, 12.0, 11.0]
    assert protocol["pairs"][0]["predicted_current_A"] == 12.0
    case = parse_case(yaml.safe_load(yaml.safe_dump(mapping)), source="plan")
    assert case.positions == 3
    for p, placement in enumerate(case.protocol.placements):
        for k, probe in enumerate(case.probes):
            assert np.allclose(placement.tip_mm(probe) * 1e-3,
                               layout.world_tip_m(target, k, p), atol=1e-9)
    pullbacks = replace(layout, tips_m=(-0.008, -0.004, 0.0), shifts_m=())
    written = yaml.safe_load(case_text(plan_case(base, _evaluated(pullbacks, target, currents),
                                                 target, PlanOptions())))
    assert written["protocol"]["pullback_steps_mm"] == [4, 4]
    assert "placements" not in written["protocol"]


def test_a_further_placement_solves_only_its_pairs_from_translated_starts() -> None:
    """Adding a placement keeps the fields of the placements already solved (the same arrays)
    and solves only the new one's pairs, starting from the copied placement's solution moved
    by the shift; that start changes the result by less than the solver's tolerance (a cold
    solve of the same placement agrees to 1 % in |E| and current)."""
    problem = anatomy(sphere_case((24, 24, 16), 3.0), 1e-3)
    target = build_target(problem, margin_m=2e-3)
    evaluator = Evaluator(problem, target)
    single = replace(PAIR, tips_m=(-0.005,), shifts_m=())
    base = evaluator.evaluate(single)
    assert evaluator.solves == 1
    two = single.with_placement(-0.005, (0.0, 3e-3), after=0)
    ev = evaluator.evaluate(two, base=base)
    assert evaluator.solves == 2 and ev.exact
    assert ev.fields[0] is base.fields[0]
    cold = Evaluator(problem, target).evaluate(two)
    assert ev.currents_A[1][0] == pytest.approx(cold.currents_A[1][0], rel=0.01)
    tissue = ~track_mask(two, target)
    rtol = 0.01  # the solver's default nonlinear tolerance is 2e-3 on the potential update
    assert np.allclose(ev.fields[1][tissue], cold.fields[1][tissue],
                       rtol=rtol, atol=rtol * float(cold.fields[1][tissue].max()))


PAIR_CASE = {
    "name": "pair-case",
    "domain": {"size_mm": [40, 40, 30], "spacing_mm": 1.0},
    "anatomy": {"background": "liver", "regions": [
        {"tissue": "tumour", "sphere": {"center_mm": [0, 0, 0], "radius_mm": 5}},
        {"tissue": "blood", "cylinder": {"start_mm": [-20, 13, 0], "end_mm": [20, 13, 0],
                                         "radius_mm": 1.5}},
    ]},
    "tissues": {"liver": {"like": "liver-sel2005"}, "tumour": {"like": "tumour-sel2005"}},
}
"""A 10 mm tumour (+3 mm margin) for a planner allowed only 2 probes and 2200 V: one pair's
zone is too narrow for the 16 mm target, so the pair is placed twice, with a vessel 4.5 mm beyond
the margin for the keep-out and thermal checks. The Sel 2005 tissues are pinned: the measurement
was made with them, and the repositioning is under test."""


@pytest.mark.slow
def test_a_plan_that_needs_two_placements_writes_them_and_its_coverage_recomputes(
        tmp_path) -> None:
    """The planner adds a sideways placement, every limit holds at every placement, the thermal
    model sees both placements' pulses (its duration counts the repositioning pause), and
    plan.yaml alone reproduces the coverage: loaded with irelab.case.load_case, each placement
    solved with a fresh FieldSolver, |E| maximised over pairs and placements and compared with
    each voxel's e_irr over tumour + 3 mm (minus the needle tracks of every placement)."""
    case = parse_case(PAIR_CASE, source="pair-case")
    limits = PlanLimits(max_probes=2, max_voltage_V=2200.0)
    schedule = PulseSchedule(pulses_per_pair=20, cooldown_s=5.0)
    options = PlanOptions(margin_m=3e-3, screen_keep=2, refine=False, limits=limits,
                          schedule=schedule)
    result = plan_treatment(case, options)
    lay = result.layout
    assert lay.n_positions == 2 and lay.repositioned
    assert result.feasible, result.failures  # tumour covered, margin within a voxel
    # every limit, at every placement
    assert lay.n_probes == 2 and max(lay.voltages_V) <= limits.max_voltage_V
    assert result.fine.max_current_A <= limits.max_current_A
    assert limits.min_spacing_m <= lay.spacings_m().min() <= lay.spacings_m().max() \
        <= limits.max_spacing_m
    assert not crosses_keep_out(lay, result.target)
    for p in range(lay.n_positions):
        for k in range(lay.n_probes):
            tip = lay.world_tip_m(result.target, k, p)
            end = tip + lay.exposed_m * result.target.axis
            for point in (tip, end):
                assert np.all(point >= result.target.grid.lower_m)
                assert np.all(point <= result.target.grid.upper_m)
    assert result.thermal is not None and result.thermal.regions["blood"].damage_volume_cm3 == 0
    n_pairs = len(lay.pairs)
    assert result.thermal.duration_s == pytest.approx(
        schedule.duration_s(2 * n_pairs, [n_pairs]))

    plan_file = write_case(result.case, tmp_path / "plan.yaml")
    plan = load_case(plan_file)
    assert plan.positions == 2 and "placements" in yaml.safe_load(plan_file.read_text())[
        "protocol"]
    problem = plan.field_problem()
    max_e = np.zeros(problem.grid.shape)
    for position in range(plan.positions):
        solver = FieldSolver(plan.field_problem(position=position))
        for pair in plan.protocol.pairs:
            sol = solver.solve_pair(pair.anode, pair.cathode, pair.voltage_V)
            max_e = np.maximum(max_e, sol.e_field_V_per_m)
            assert abs(sol.current_A) <= limits.max_current_A
    target = build_target(problem, margin_m=3e-3)
    counted = target.target & ~case_track(plan, problem.grid)
    lethal = max_e >= target.lethal_threshold_V_per_m
    # the planner counts a voxel lethal only 0.3 % above its threshold (FINE_SLACK), so the
    # recomputed coverage may only be higher
    assert result.coverage <= (lethal & counted).sum() / counted.sum()
    assert np.all(lethal[problem.labels == problem.tissue_names.index("tumour")]
                  | case_track(plan, problem.grid)[problem.labels
                                                   == problem.tissue_names.index("tumour")])
    assert counted.sum() == result.fine.counted.sum()


def test_the_screen_moves_towards_missed_voxels_and_never_nearer_a_vessel() -> None:
    """A pair at 1500 V misses part of a 4 mm tumour (+2 mm) with a vessel 3 mm beyond the
    margin at -y. Every screened placement keeps its probes at least as far from the vessel
    as the first one, the best predicts a smaller worst ratio than the first placement alone,
    and solving it confirms fewer voxels short."""
    from irelab.plan.reposition import critical_distances, distance_maps, shift_candidates

    problem = anatomy(sphere_case((30, 30, 20), 4.0, vessel_y_mm=-9.0), 1e-3)
    target = build_target(problem, margin_m=2e-3)
    evaluator = Evaluator(problem, target)
    single = replace(PAIR, tips_m=(-0.005,), shifts_m=()).with_voltages((1500.0,))
    ev = evaluator.evaluate(single)
    thr = target.lethal_threshold_V_per_m
    before = shortfall(ev, thr, 1.0)
    assert not before.covered
    candidates = shift_candidates(ev, target, 1.0, evaluator.healthy_mask, 0.55e-3, keep=5)
    assert candidates
    maps = distance_maps(target)
    nearest = critical_distances(single, target, 0, maps)["blood"]
    for cand in candidates:
        assert cand.layout.n_positions == 2
        for p in range(2):
            assert critical_distances(cand.layout, target, p, maps)["blood"] >= nearest - 1e-12
        assert not crosses_keep_out(cand.layout, target)
    best = candidates[0]
    assert best.predicted_worst_ratio < before.worst_ratio
    after = shortfall(evaluator.evaluate(best.layout, base=ev), thr, 1.0)
    assert after.uncovered < before.uncovered


def test_a_plan_files_probes_read_back_as_the_same_layout() -> None:
    """layout_of_case inverts what the planner writes: probes, exposed length, tips and shifts
    of every placement and the pairs come back (to the plan file's 1 um), so the voltage stage
    can take a plan's probes as fixed."""
    from irelab.plan.output import layout_of_case

    base = sphere_case((30, 30, 30), 3.0)
    target = build_target(anatomy(base, 1e-3), margin_m=2e-3)
    layout = replace(PAIR, tips_m=(-0.008, -0.004, -0.004),
                     shifts_m=((1e-3, 0.0), (1e-3, 0.0), (1e-3, -3e-3)))
    plan = plan_case(base, _evaluated(layout, target, ((10.0,), (12.0,), (11.0,))), target,
                     PlanOptions())
    back = layout_of_case(plan, target)
    assert back.pairs == layout.pairs and back.voltages_V == layout.voltages_V
    assert back.exposed_m == pytest.approx(layout.exposed_m)
    for p in range(layout.n_positions):
        assert np.allclose(back.points_at(p), layout.points_at(p), atol=1e-9)
        assert back.tips_m[p] == pytest.approx(layout.tips_m[p], abs=1e-9)


@pytest.mark.slow
def test_the_voltage_stage_alone_keeps_the_probes_and_covers_again() -> None:
    """A plan's own case given to adjust_voltages (probes fixed): the same probes and
    placements come back, every pair within the limits, and the tumour covered with its
    margin, as the full planner had it."""
    from irelab.plan import adjust_voltages

    options = PlanOptions(margin_m=3e-3, screen_keep=2, refine=False, workers=1, thermal=False)
    planned = plan_treatment(sphere_case((36, 36, 30), 4.0, vessel_y_mm=9.0), options)
    assert planned.feasible, planned.failures
    adjusted = adjust_voltages(planned.case, options)
    assert adjusted.case.probes == planned.case.probes
    assert adjusted.case.protocol.placements == planned.case.protocol.placements
    assert adjusted.feasible and adjusted.margin.acceptable, adjusted.failures
    assert max(adjusted.layout.voltages_V) <= options.limits.max_voltage_V
    assert [s.stage for s in adjusted.tried][0] == "voltages"
