"""Stage 3, reposition: further placements of the same probe array, moved sideways.

Clinically, when the lethal zone of one placement leaves part of the target untreated, the
electrodes are repositioned (pulled back, or moved) and the pairs are delivered again until the
target is covered. The planner does this when the best single placement still misses
target voxels with every pair at its limit: the array, unchanged (same probes, spacings and
pairs), is placed again shifted in the plane normal to the insertion axis, and the pairs repeat
there. The zone then is where the maximum of |E| over every pair at every placement reaches
e_irr (the same rule as ``irelab simulate``).

Candidates. The new placement copies the placement q whose electrodes run nearest the missed
voxels along the axis (its tip; it is delivered right after q) and is shifted, from q, along
the direction from the array's centre to the excess-weighted in-plane centroid of each of the
heaviest clusters of missed voxels (and of all of them) and along ``COMPASS_DIRECTIONS`` evenly
spaced directions, by each of ``SHIFT_MAGNITUDES_M``. At the same time q itself may be nudged
by up to ``NUDGE_VOXELS`` voxels along each in-plane axis (voxels a placement misses narrowly on
one side are often left by a new placement that goes the other way). Dropped: a placement whose
probes would cross the keep-out around a critical structure or leave the domain, and one that
brings a probe nearer to a critical structure than the nearest probe of the existing
placements. The thermal model, run on the final plan, decides on thermal damage; the second
rule keeps the extra pulses' heat away from where it would do harm (measured on the segment-8
phantom with every pair at 3000 V: a second placement 2 mm nearer the bile duct raised the
duct's peak temperature from 42.7 to 46.6 C with 12 mm^3 of thermal damage; the same placement
repeated in place did not damage it).

Screening costs no solve: a moved placement's field is predicted by translating the solved
fields of q by the shift (the field of a rigid array in nearly uniform tissue moves with it),
every combination of nudge and new placement is scored on the target voxels (the excess of
:class:`irelab.plan.search.Shortfall`, with the coverage margin times ``SCREEN_SAFETY``), and
the best are solved on the fine grid (the new placement's pairs, and q's when it was nudged).
Only a solve decides. Tissue interfaces do not move with the array, so the prediction is rough
next to a vessel or the tumour's surface: on the segment-8 phantom the worst voxel's predicted
ratio e_irr/|E| was within 4 % of the solved one, and exact for a placement whose missed voxels
lie in uniform liver.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from irelab.plan.coarse import at_limits, rank, try_evaluate
from irelab.plan.context import PlanContext
from irelab.plan.evaluate import LayoutEvaluation, translated
from irelab.plan.layout import ProbeLayout, blocked_columns, track_mask
from irelab.plan.options import FINE_SLACK
from irelab.plan.targets import PlanTarget

__all__ = ["SHIFT_MAGNITUDES_M", "ShiftCandidate", "shift_candidates", "critical_distances",
           "distance_maps", "reposition"]

SHIFT_MAGNITUDES_M = (2e-3, 3e-3, 4e-3, 6e-3, 8e-3, 10e-3, 12e-3, 14e-3, 16e-3)
"""How far a new placement is moved from the one it copies. Up to about the array's half
spacing: on the segment-8 phantom the voxels the first placement misses lie beside and beyond
the vein the array abuts, and the placement that reaches them moves 12 mm, its lower probes
across to the vein's far side (the shafts stay parallel and clear of it)."""

NUDGE_VOXELS = 2
"""How far (voxels per in-plane axis) the copied placement itself may move at the same time."""

SCREEN_SAFETY = 1.02
"""Factor by which a predicted field must exceed a voxel's threshold (on top of the coverage
margin) for the screen to count the voxel as covered: ranks placements by how safely they
cover, since the translated field is only approximate next to tissue interfaces."""

CLUSTERS = 2
"""Missed clusters (heaviest first) whose directions are tried, besides all together."""

COMPASS_DIRECTIONS = 12
"""Directions tried besides the ones towards the clusters (every 30 degrees in the plane): the
way towards the missed voxels is often blocked (on the segment-8 phantom they lie between the
array and the vein, whose keep-out the probes already touch)."""

SOLVE_RANKED = 12
"""Combinations with the least predicted excess (half of them keeping the copied placement in
place) that are predicted in full (coverage margin, healthy volume) and ranked."""


@dataclass(frozen=True)
class ShiftCandidate:
    """A further placement: the layout with it, and what the screen predicts for it."""

    layout: ProbeLayout
    after: int
    """The placement copied (and possibly nudged); the new one is delivered right after it."""
    nudge_m: tuple[float, float]
    """How far the copied placement moves (0, 0: it stays, and its fields are reused)."""
    shift_m: tuple[float, float]
    """The new placement's in-plane shift (relative to the array as written)."""
    predicted_uncovered: int
    """Voxels the prediction leaves short at the coverage margin (without ``SCREEN_SAFETY``)."""
    predicted_excess: float
    """Excess (``irelab.plan.search.Shortfall``) with ``SCREEN_SAFETY``: 0 = confident cover."""
    predicted_worst_ratio: float
    predicted_healthy_m3: float


def _clusters(ev: LayoutEvaluation, target: PlanTarget, safety: float
              ) -> list[tuple[float, np.ndarray, float]]:
    """Uncovered clusters as (excess, in-plane centroid, axial centroid), heaviest first, with
    all of them together last (when there are several)."""
    counted = ev.counted
    excess = np.zeros(counted.shape)
    excess[counted] = np.maximum(ev.ratios(target.lethal_threshold_V_per_m) * safety - 1, 0.0)
    labels, n = ndimage.label(excess > 0, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return []
    grid = target.grid
    out = []
    groups = [labels == k for k in range(1, n + 1)]
    order = np.argsort([-excess[g].sum() for g in groups], kind="stable")
    chosen = [groups[k] for k in order[:CLUSTERS]]
    if n > 1:
        chosen.append(labels > 0)
    for mask in chosen:
        pts = np.asarray(grid.origin_m) + np.argwhere(mask) * grid.spacing_m
        w = excess[mask]
        out.append((float(w.sum()), np.average(target.in_plane(pts), axis=0, weights=w),
                    float(np.average(target.axial(pts), weights=w))))
    return out


def _source_position(layout: ProbeLayout, axial_m: float) -> int:
    """The placement whose electrodes run nearest the axial coordinate ``axial_m``."""
    mid = np.asarray(layout.tips_m) + layout.exposed_m / 2
    return int(np.argmin(np.abs(mid - axial_m)))


def _snap_shift(target: PlanTarget, shift: np.ndarray) -> tuple[float, float]:
    """Round a shift to whole voxels along the grid's axes when the plane's axes are grid axes
    (probes then stay on voxel-centre columns, and the screen translates exactly)."""
    h = target.grid.spacing_m
    if max(np.max(np.abs(target.e1)), np.max(np.abs(target.e2))) < 1 - 1e-9:
        return float(shift[0]), float(shift[1])
    return (float(np.round(shift[0] / h) * h) + 0.0,  # + 0.0: no negative zero
            float(np.round(shift[1] / h) * h) + 0.0)


def _voxel_steps(target: PlanTarget, shift: tuple[float, float]) -> np.ndarray | None:
    """The shift as whole voxels per grid axis, or None if it is not one."""
    world = np.asarray(shift) @ np.stack([target.e1, target.e2])
    d = world / target.grid.spacing_m
    steps = np.round(d)
    if np.abs(d - steps).max() > 1e-6:
        return None
    return steps.astype(int)


def _placement_field(ev: LayoutEvaluation, position: int) -> np.ndarray:
    """Largest |E| over the pairs at ``position`` (needs ``ev.fields``)."""
    n_pairs = len(ev.layout.pairs)
    out = np.zeros(ev.fields[0].shape)
    for e in ev.fields[position * n_pairs:(position + 1) * n_pairs]:
        np.maximum(out, e, out=out)
    return out


def _column_distance(points_ab: np.ndarray, target: PlanTarget, tip_s: float,
                     distance: np.ndarray) -> float:
    """Least ``distance`` (a per-voxel map) along the columns of probes at ``points_ab`` (from
    the tip to the domain's edge; nearest voxel, every half voxel)."""
    grid = target.grid
    h = grid.spacing_m
    reach = float(np.linalg.norm(grid.upper_m - grid.lower_m))
    t = np.arange(0.0, reach, h / 2)
    pts = np.atleast_2d(points_ab)
    tips = pts[:, :1] * target.e1 + pts[:, 1:2] * target.e2 + tip_s * target.axis
    world = tips[:, None, :] + t[None, :, None] * target.axis
    idx = np.round((world - np.asarray(grid.origin_m)) / h).astype(int)
    inside = np.all((idx >= 0) & (idx < np.asarray(grid.shape)), axis=-1)
    idx = idx[inside]
    return float(distance[idx[:, 0], idx[:, 1], idx[:, 2]].min()) if len(idx) else np.inf


def critical_distances(layout: ProbeLayout, target: PlanTarget, position: int,
                       maps: dict[str, np.ndarray]) -> dict[str, float]:
    """Least distance (m) from any probe at ``position`` to each critical structure."""
    return {name: _column_distance(layout.points_at(position), target,
                                   layout.tips_m[position], dist)
            for name, dist in maps.items()}


def distance_maps(target: PlanTarget) -> dict[str, np.ndarray]:
    """Distance (m) of every voxel centre from each critical structure's voxels."""
    return {name: ndimage.distance_transform_edt(~mask, sampling=target.grid.spacing_m)
            for name, mask in target.critical.items() if mask.any()}


def _single(layout: ProbeLayout, tip_m: float, shift: tuple[float, float]) -> ProbeLayout:
    return replace(layout, tips_m=(tip_m,), shifts_m=(shift,))


def _track_on(points_ab: np.ndarray, tip_m: float, ab: np.ndarray, s: np.ndarray,
              radius_m: float) -> np.ndarray:
    """Which of the points (in-plane ``ab``, axial ``s``) lie inside a probe at ``points_ab``
    with its tip at ``tip_m`` (as :func:`irelab.plan.layout.track_mask`)."""
    out = np.zeros(len(ab), dtype=bool)
    for a, b in points_ab:
        out |= (np.hypot(ab[:, 0] - a, ab[:, 1] - b) <= radius_m) & (s >= tip_m)
    return out


def shift_candidates(ev: LayoutEvaluation, target: PlanTarget, safety: float,
                     healthy_mask: np.ndarray, radius_m: float, keep: int = 3
                     ) -> list[ShiftCandidate]:
    """Up to ``keep`` layouts with one more placement for ``ev`` (a solved evaluation with its
    fields that misses voxels at ``safety``), best predicted first (module doc and
    :func:`_rank`)."""
    if not ev.fields:
        return []
    layout = ev.layout
    grid = target.grid
    thr = target.lethal_threshold_V_per_m
    maps = distance_maps(target)
    nearest = {name: min(critical_distances(layout, target, p, maps)[name]
                         for p in range(layout.n_positions)) for name in maps}
    tgt = target.target
    pts = target.target_points_m()
    ab, s_ax = target.in_plane(pts), target.axial(pts)
    need = thr[tgt] * safety * SCREEN_SAFETY
    compass = [np.array([np.cos(t), np.sin(t)])
               for t in 2 * np.pi * np.arange(COMPASS_DIRECTIONS) / COMPASS_DIRECTIONS]
    h = grid.spacing_m
    nudges = [np.array([i * h, j * h]) for i in range(-NUDGE_VOXELS, NUDGE_VOXELS + 1)
              for j in range(-NUDGE_VOXELS, NUDGE_VOXELS + 1)]

    def allowed(shift: tuple[float, float], tip: float) -> bool:
        one = _single(layout, tip, shift)
        if blocked_columns(one.points_at(0), target, tip).any():
            return False
        near = critical_distances(one, target, 0, maps)
        return all(near[name] >= nearest[name] - 1e-9 for name in maps)

    scored: list[tuple] = []
    rest: dict[int, np.ndarray] = {}  # |E| of every placement but q
    for q in sorted({_source_position(layout, axial)
                     for _w, _c, axial in _clusters(ev, target, safety)}):
        tip, here = layout.tips_m[q], np.asarray(layout.shift_m(q))
        field_q = _placement_field(ev, q)
        n_pairs = len(layout.pairs)
        others = rest[q] = np.zeros(grid.shape)
        for index, e in enumerate(ev.fields):
            if index // n_pairs != q:
                np.maximum(others, e, out=others)
        others_t = others[tgt]
        for p in range(layout.n_positions):  # other placements' needle tracks: not counted
            if p != q:
                others_t[_track_on(layout.points_at(p), layout.tips_m[p], ab, s_ax,
                                   radius_m)] = np.inf
        centre = layout.points_at(q).mean(axis=0)
        directions = list(compass)
        for _w, centroid, _axial in _clusters(ev, target, safety):
            towards = centroid - centre
            if np.linalg.norm(towards) > 1e-9:
                directions.insert(0, towards / np.linalg.norm(towards))
        moves = {_snap_shift(target, here + d * m)
                 for d, m in itertools.product(directions, SHIFT_MAGNITUDES_M)}
        stays = {_snap_shift(target, here + d) for d in nudges} | {tuple(here)}
        predicted: dict[tuple, np.ndarray] = {}
        for shift in moves | stays:
            steps = _voxel_steps(target, tuple(np.subtract(shift, here)))
            if steps is None or (shift != tuple(here) and not allowed(shift, tip)):
                continue
            f = translated(field_q, steps)[tgt]
            f[_track_on(_single(layout, tip, shift).points_at(0), tip, ab, s_ax,
                        radius_m)] = np.inf
            predicted[shift] = f
        news = [m for m in moves if m in predicted]
        if not news:
            continue
        stack = np.stack([predicted[m] for m in news])
        for nudge in (stay for stay in stays if stay in predicted):
            base = np.maximum(others_t, predicted[nudge])
            ratio = need / np.maximum(np.maximum(base[None, :], stack), 1e-30)
            excess = np.sum(np.maximum(ratio - 1.0, 0.0), axis=1)
            for k, new in enumerate(news):
                if new != nudge:
                    scored.append((round(float(excess[k]), 4), nudge != tuple(here), q, nudge,
                                   new, float(np.hypot(*np.subtract(new, here)))))
    scored.sort(key=lambda c: c[0])
    stay = [c for c in scored if not c[1]][:SOLVE_RANKED // 2]
    out = []
    for excess, _moved, q, nudge, new, _size in stay + [
            c for c in scored if c[1]][:SOLVE_RANKED - len(stay)]:
        shifts = [layout.shift_m(p) for p in range(layout.n_positions)]
        shifts[q] = nudge
        cand = replace(layout, shifts_m=tuple(shifts)).with_placement(
            layout.tips_m[q], new, after=q)
        field_q = _placement_field(ev, q)
        field = np.maximum(rest[q], translated(field_q, _voxel_steps(
            target, tuple(np.subtract(nudge, layout.shift_m(q))))))
        steps = _voxel_steps(target, tuple(np.subtract(new, layout.shift_m(q))))
        np.maximum(field, translated(field_q, steps), out=field)
        counted = tgt & ~track_mask(cand, target) & (field > 0)
        ratio = thr[counted] / np.maximum(field[counted], 1e-30)
        healthy = float(np.sum((field >= thr) & healthy_mask) * grid.voxel_volume_m3)
        out.append(ShiftCandidate(
            layout=cand, after=q, nudge_m=tuple(np.subtract(nudge, layout.shift_m(q))),
            shift_m=new, predicted_uncovered=int(np.sum(ratio * safety > 1.0)),
            predicted_excess=excess,
            predicted_worst_ratio=float(ratio.max()) if ratio.size else 0.0,
            predicted_healthy_m3=healthy))
    out.sort(key=_rank)
    return out[:keep]


def _rank(c: ShiftCandidate) -> tuple:
    """Predicted to cover first (then those that leave the copied placement in place: half the
    solves, then the safest, the least healthy tissue, the smallest shift); the others by their
    predicted excess."""
    moved = c.nudge_m != (0.0, 0.0)
    size = float(np.hypot(*c.shift_m))
    if c.predicted_uncovered == 0:
        return (0, moved, round(c.predicted_excess, 2), c.predicted_healthy_m3, size)
    return (1, round(c.predicted_excess, 3), moved, c.predicted_healthy_m3, size)


def reposition(ctx: PlanContext, ev: LayoutEvaluation, stage: str = "reposition"
               ) -> LayoutEvaluation:
    """``ev`` with up to ``PlanOptions.max_extra_placements`` further placements of its array
    shifted sideways, each the best of ``placement_solves`` screened candidates solved on the
    confirmation grid and kept only if it ranks better (:func:`irelab.plan.coarse.rank`);
    stops once the plan covers the tumour with its margin. Every pair stays at its limit (a
    new placement's currents may turn a pair down)."""
    opts, journal = ctx.options, ctx.journal
    evaluator = ctx.fine_eval
    for added in range(opts.max_extra_placements):
        if ctx.margin(ev).acceptable or journal.out_of_time():
            break
        cands = shift_candidates(ev, evaluator.target, FINE_SLACK, evaluator.healthy_mask,
                                 opts.limits.probe_diameter_m / 2, keep=opts.placement_solves)
        if not cands:
            journal.note(stage, f"placement {ev.layout.n_positions + 1}",
                         "no sideways shift keeps the probes clear of critical structures")
            break
        chosen = None
        for cand in cands:
            if chosen is not None and journal.out_of_time():
                break
            a, b = (1e3 * v for v in cand.shift_m)
            journal.progress(f"{stage}: placement {cand.layout.n_positions} shifted "
                             f"({a:.0f}, {b:.0f}) mm", 0.72 + 0.02 * added)
            solved = at_limits(evaluator, try_evaluate(evaluator, cand.layout, base=ev),
                               opts.limits)
            if solved is None:
                continue
            journal.note(stage, f"add placement {cand.layout.n_positions}: the array of "
                                f"placement {cand.after + 1} moved sideways by ({a:.0f}, "
                                f"{b:.0f}) mm (predicted {cand.predicted_uncovered} voxels "
                                "short)", ctx.describe(solved))
            if chosen is None or rank(evaluator, solved, FINE_SLACK) < rank(
                    evaluator, chosen, FINE_SLACK):
                chosen = solved
            if ctx.margin(solved).acceptable:
                break
        if chosen is None or rank(evaluator, chosen, FINE_SLACK) >= rank(evaluator, ev,
                                                                         FINE_SLACK):
            journal.note(stage, f"placement {ev.layout.n_positions + 1}",
                         "none of the solved placements lowers the shortfall: not added")
            break
        ev = chosen
    return ev
