"""The search's pieces: keep-out placement, shortfall and clusters, voltage lowering, the
coverage failure message, and partial re-evaluation after a probe moves."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from plan_cases import anatomy, liver_problem, sphere_case

from irelab.field import Grid
from irelab.plan import PlanLimits, build_target
from irelab.plan.constraints import deficit
from irelab.plan.evaluate import Evaluator, LayoutEvaluation
from irelab.plan.layout import ProbeLayout, blocked_columns, crosses_keep_out, nearest_allowed
from irelab.plan.search import failure_clusters, shortfall
from irelab.plan.voltages import _lowered, limit_voltages


def _vessel_target(spacing_m: float = 1e-3):
    """40 mm box, tumour sphere r = 6 mm at the origin, a 4 mm vessel along x at y = -10 mm."""
    grid = Grid.centred((0.04, 0.04, 0.04), spacing_m)
    x, y, z = grid.centres_m()
    full = np.ones(grid.shape, dtype=bool)
    labels = np.zeros(grid.shape, dtype=np.int8)
    labels[(x**2 + y**2 + z**2 <= 0.006**2) & full] = 1
    labels[((y + 0.010) ** 2 + z**2 <= 0.002**2) & full] = 2
    problem = liver_problem(grid, labels)
    return build_target(problem, margin_m=2e-3)


def _grid_snap(spacing_m: float):
    def snap(a: float, b: float) -> tuple[float, float]:
        return (round((a - spacing_m / 2) / spacing_m) * spacing_m + spacing_m / 2,
                round((b - spacing_m / 2) / spacing_m) * spacing_m + spacing_m / 2)
    return snap


def test_a_probe_in_the_keep_out_is_placed_at_the_nearest_clear_column() -> None:
    """The vessel (radius 2 mm at y = -10 mm) plus the keep-out (probe radius 0.55 mm and
    0.5 mm clearance) blocks columns with |y + 10 mm| <~ 3 mm; a probe aimed at the vessel's
    axis lands just outside that band, at the same x, and a clear point stays where it is."""
    target = _vessel_target()
    snap = _grid_snap(1e-3)
    tip = target.axial_extent_m()[0]
    h = 1e-3
    assert blocked_columns(np.array([[0.5e-3, -9.5e-3]]), target, tip)[0]
    placed = nearest_allowed((0.5e-3, -9.5e-3), target, tip, snap, h, 8e-3)
    assert placed is not None
    assert placed[0] == pytest.approx(0.5e-3)
    assert 2.5e-3 <= abs(placed[1] + 10e-3) <= 4.6e-3  # just beside the band, not farther
    assert not blocked_columns(np.array([placed]), target, tip)[0]
    assert nearest_allowed((0.5e-3, 2.5e-3), target, tip, snap, h, 8e-3) == (0.5e-3, 2.5e-3)
    assert nearest_allowed((0.5e-3, -9.5e-3), target, tip, snap, h, 1e-3) is None
    layout = ProbeLayout(((0.5e-3, -9.5e-3), placed), 0.01, (tip,), ((0, 1),), (1000.0,))
    assert crosses_keep_out(layout, target)
    assert not crosses_keep_out(replace(layout, points_m=(placed, (0.5e-3, 2.5e-3))), target)


def _evaluation(max_e: np.ndarray, counted: np.ndarray, fields=(), voltages=(3000.0,),
                pairs=((0, 1),), currents=((30.0,),)) -> LayoutEvaluation:
    layout = ProbeLayout(((0.0, 0.0), (0.01, 0.0)), 0.02, (0.0,), pairs, voltages)
    return LayoutEvaluation(layout=layout, coverage=0.0, healthy_m3=0.0, lethal=max_e > 0,
                            max_e_V_per_m=max_e, currents_A=currents, converged=True,
                            fields=tuple(fields), counted=counted)


def test_shortfall_counts_excess_and_clusters_are_ranked_by_it() -> None:
    """Threshold 1 everywhere; two separate groups of short voxels: the one with more excess
    comes first and its centroid is where its voxels are."""
    target = _vessel_target(2e-3)
    thr = np.ones(target.grid.shape)
    counted = np.zeros(target.grid.shape, dtype=bool)
    counted[5:15, 5:15, 5:15] = True
    max_e = np.full(target.grid.shape, 2.0)
    max_e[5, 5, 5] = 0.8  # ratio 1.25: excess 0.25
    max_e[14, 14, 10:13] = 0.5  # ratio 2: excess 1 each
    ev = _evaluation(max_e, counted)
    s = shortfall(ev, thr, 1.0)
    assert s.uncovered == 4
    assert s.excess == pytest.approx(3.25)
    assert s.worst_ratio == pytest.approx(2.0)
    assert shortfall(ev, thr, 1.0 / 1.3).uncovered == 3  # safety below 1 forgives the 1.25
    target = replace(target, lethal_threshold_V_per_m=thr)
    clusters = failure_clusters(ev, target, 1.0)
    assert [round(w, 6) for w, _ in clusters] == [3.0, 0.25]
    expected = np.asarray(target.grid.origin_m)[:2] + 14 * target.grid.spacing_m
    assert np.allclose(clusters[0][1], target.in_plane(np.array([[*expected, 0.0]]))[0])


def test_greedy_lowering_keeps_each_voxel_above_need_and_drops_unneeded_pairs() -> None:
    """Three pairs at 3000 V over four voxels (need 1 each): pair 0 alone reaches voxel 0, pair
    1 alone voxel 3, pair 2 duplicates what the others reach. Pair 2 is dropped; pairs 0 and 1
    go down exactly to their need under E ~ V**FIELD_EXPONENT (rounded up to 10 V)."""
    from irelab.plan.voltages import FIELD_EXPONENT

    fields = np.array([[2.0, 1.5, 0.1, 0.1],
                       [0.1, 1.5, 0.1, 1.2],
                       [0.1, 1.2, 1.1, 1.1]])
    fields[1, 2] = 1.6  # pair 1 also reaches voxel 2
    volts0 = np.full(3, 3000.0)
    need = np.ones(4)
    volts = _lowered(fields, volts0, need, np.array([2, 0, 1]))
    assert volts[2] == 0.0
    for p, worst in ((0, 2.0), (1, 1.2)):
        exact = 3000.0 * (1 / worst) ** (1 / FIELD_EXPONENT)
        assert exact <= volts[p] <= exact + 10.0
    lowered = np.max(fields * (volts / volts0)[:, None] ** FIELD_EXPONENT, axis=0)
    assert np.all(lowered >= need - 1e-12)


def test_voltages_at_the_limits_respect_the_current_limit() -> None:
    """A pair drawing 60 A at 2000 V is not raised to 3000 V but held at about 50 A."""
    grid_shape = (4, 4, 4)
    ev = _evaluation(np.ones(grid_shape), np.ones(grid_shape, dtype=bool),
                     voltages=(2000.0, 2000.0), pairs=((0, 1), (1, 0)),
                     currents=((60.0, 20.0),))
    volts = limit_voltages(ev, PlanLimits())
    assert volts[1] == 3000.0
    predicted = 60.0 * (volts[0] / 2000.0) ** 1.15
    assert 45.0 <= predicted <= 50.0


def test_a_deficit_names_the_voxels_how_far_short_and_the_binding_limit() -> None:
    """One counted voxel at 80 % of its threshold with the only pair at 3000 V: the message
    says how many voxels, how far below (20 %), which pair and that it is at the voltage
    limit, and the voltage it would need (3000 V x 1.25 ** (1 / 0.8) = 3965 V)."""
    target = _vessel_target(2e-3)
    shape = target.grid.shape
    counted = np.zeros(shape, dtype=bool)
    counted[:, :, 10] = True
    thr = target.lethal_threshold_V_per_m
    max_e = np.where(counted, 2 * thr, 0.0)
    max_e[3, 4, 10] = 0.8 * thr[3, 4, 10]
    ev = _evaluation(max_e, counted, fields=(max_e,))
    message = deficit(ev, target, PlanLimits(), counted)
    assert message.startswith("1 voxel (")
    assert "20.0 % below" in message
    assert "P1-P2" in message and "3000 V limit" in message
    assert "would need about 3965 V" in message


def test_moving_one_probe_re_solves_only_its_pairs() -> None:
    """Three probes, pairs 0-1 and 1-2... with probe 2 moved, pair 0-1 keeps its field (the
    evaluation is then not exact), pair 1-2 is solved again; a pure voltage change in the same
    geometry keeps the other pair and stays exact."""
    problem = anatomy(sphere_case((24, 24, 16), 3.0), 2e-3)
    target = build_target(problem, margin_m=2e-3)
    evaluator = Evaluator(problem, target)
    layout = ProbeLayout(((-7e-3, -1e-3), (1e-3, -1e-3), (1e-3, 7e-3)), 0.01, (-0.005,),
                         ((0, 1), (1, 2)), (1500.0, 1500.0))
    base = evaluator.evaluate(layout)
    assert base.exact and evaluator.solves == 2
    moved = replace(layout, points_m=((-7e-3, -1e-3), (1e-3, -1e-3), (3e-3, 7e-3)))
    ev = evaluator.evaluate(moved, base=base)
    assert evaluator.solves == 3 and not ev.exact
    assert ev.fields[0] is base.fields[0]
    assert ev.fields[1] is not base.fields[1]
    louder = evaluator.evaluate(layout.with_voltages((1500.0, 1800.0)), base=base)
    assert evaluator.solves == 4 and louder.exact
    assert louder.fields[0] is base.fields[0]
    assert louder.currents_A[0][1] > base.currents_A[0][1]
