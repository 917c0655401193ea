"""Local search on probe positions: move probes towards the target voxels the field misses.

The pairs fire at their voltage limit while positions are searched (the field of a pair grows
with its voltage, so a layout that cannot cover the target at the limits cannot cover it at
all); voltages are lowered afterwards (:mod:`irelab.plan.voltages`).

How far a layout is from covering the target is measured by :class:`Shortfall`: with
``r = e_irr / |E|`` on each counted target voxel (covered when ``r <= 1``) and a safety factor
``s`` (the voxel must exceed its threshold by that factor), the *excess* is the sum of
``max(0, s r - 1)``, a continuous measure that falls as gaps shrink, unlike the count of
uncovered voxels.

One search step: label the uncovered voxels into connected clusters (26-neighbour), weight each
by its excess, and try moves (in the plane normal to the insertion axis) towards the clusters'
excess-weighted centroids: every probe one step along the pull of the clusters it is nearest to,
one probe one step towards one heavy cluster (or, if the keep-out blocks that, one step along
either in-plane axis), or the layout spread by one step. Moves that put a
probe in the keep-out around a critical structure are placed at the nearest clear position;
moves that break a spacing limit are skipped. The first move that lowers the excess is kept
(first-improvement hill climbing); the search stops when the target is covered, no move helps,
or the trial budget is spent (a count of moves, never seconds: the result does not depend on the
machine's speed). Each trial re-solves only the moved probe's pairs
(``Evaluator.evaluate(..., base=...)``).

Written here (the search is the product); it is plain greedy local search, e.g. Hoos H, Stutzle
T, Stochastic Local Search, Morgan Kaufmann 2005, ch. 1 ("iterative improvement").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from irelab.plan.evaluate import Evaluator, LayoutEvaluation
from irelab.plan.layout import ProbeLayout
from irelab.plan.targets import PlanLimits, PlanTarget

__all__ = ["Shortfall", "shortfall", "failure_clusters", "improve_positions"]

CURRENT_EXPONENT = 1.15
"""I ~ V^1.15 locally for the liver's smoothed-step conductivity (the conductance rises with
the field); used only to predict the voltage that meets the current limit, then re-solved."""


@dataclass(frozen=True)
class Shortfall:
    """How far a layout's field is from covering the counted target (see the module doc)."""

    uncovered: int
    excess: float
    worst_ratio: float
    """Largest ``e_irr / |E|`` over the counted voxels (without the safety factor)."""

    @property
    def covered(self) -> bool:
        return self.uncovered == 0


def shortfall(ev: LayoutEvaluation, threshold_V_per_m: np.ndarray, safety: float) -> Shortfall:
    r = ev.ratios(threshold_V_per_m)
    if r.size == 0:
        return Shortfall(0, 0.0, 0.0)
    scaled = r * safety
    over = scaled > 1.0
    return Shortfall(int(over.sum()), float(np.sum(scaled[over] - 1.0)), float(r.max()))


def failure_clusters(ev: LayoutEvaluation, target: PlanTarget, safety: float
                     ) -> list[tuple[float, np.ndarray]]:
    """Clusters of uncovered voxels as (excess, in-plane excess-weighted centroid), heaviest
    first."""
    counted = ev.counted
    excess = np.zeros(counted.shape)
    excess[counted] = np.maximum(
        ev.ratios(target.lethal_threshold_V_per_m) * safety - 1.0, 0.0)
    labels, n = ndimage.label(excess > 0, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return []
    index = np.arange(1, n + 1)
    weight = ndimage.sum_labels(excess, labels, index)
    grid = target.grid
    out = []
    for k, w in zip(index, weight, strict=True):
        idx = np.argwhere(labels == k)
        pts = np.asarray(grid.origin_m) + idx * grid.spacing_m
        ab = target.in_plane(pts)
        wk = excess[labels == k]
        out.append((float(w), np.average(ab, axis=0, weights=wk)))
    out.sort(key=lambda c: -c[0])
    return out


def at_current_limit(evaluator: Evaluator, ev: LayoutEvaluation,
                     limits: PlanLimits) -> LayoutEvaluation:
    """``ev`` itself when every current is within the limit, else the prediction with the
    offending pairs turned down to 98 % of it (``Evaluator.predict``; needs ``ev.fields``)."""
    cap = limits.initial_current_limit_A
    if ev.max_current_A <= cap or not ev.fields:
        return ev
    volts = np.asarray(ev.layout.voltages_V, dtype=float)
    currents = ev.pair_currents_A()
    over = currents > cap
    volts[over] *= (0.98 * cap / currents[over]) ** (1 / CURRENT_EXPONENT)
    return evaluator.predict(ev, np.floor(volts / 10.0) * 10.0)


def valid_layout(layout: ProbeLayout, limits: PlanLimits) -> bool:
    """Spacing limits (every pair, and any two probes at least the minimum apart)."""
    sp = layout.spacings_m()
    return (layout.min_probe_distance_m() >= limits.min_spacing_m - 1e-9
            and sp.max() <= limits.max_spacing_m + 1e-9
            and sp.min() >= limits.min_spacing_m - 1e-9)


def _moved(layout: ProbeLayout, targets: dict[int, np.ndarray], step_m: float,
           place: Callable[[tuple[float, float]], tuple[float, float] | None]
           ) -> ProbeLayout | None:
    """``layout`` with probe k moved one step towards ``targets[k]`` (a point in the plane),
    placed clear of the keep-out; None if nothing moves or a probe cannot be placed."""
    points = list(layout.points_m)
    for k, goal in targets.items():
        here = np.asarray(points[k])
        d = float(np.linalg.norm(goal - here))
        if d < 1e-9:
            continue
        q = place(tuple(here + (goal - here) / d * min(step_m, d)))
        if q is None:
            return None
        points[k] = q
    if tuple(points) == layout.points_m:
        return None
    return replace(layout, points_m=tuple(points))


def _moves(ev: LayoutEvaluation, target: PlanTarget, safety: float, step_m: float,
           place: Callable[[tuple[float, float]], tuple[float, float] | None],
           limits: PlanLimits, tried: set, clusters: int = 3, probes: int = 3
           ) -> list[ProbeLayout]:
    """Candidate moves, most promising first: every probe pulled one step towards the clusters
    it is among the two nearest to (weighted by their excess), then single probes towards each
    heavy cluster, then the whole layout spread out by one step from its centre."""
    layout = ev.layout
    pts = np.asarray(layout.points_m)
    found = failure_clusters(ev, target, safety)
    cands: list[ProbeLayout | None] = []
    pull = np.zeros_like(pts)
    for weight, centre in found:
        d = np.linalg.norm(pts - centre, axis=1)
        for k in np.argsort(d, kind="stable")[:2]:
            if d[k] > 1e-9:
                pull[k] += weight * (centre - pts[k]) / d[k]
    norm = np.linalg.norm(pull, axis=1)
    if np.count_nonzero(norm) > 1:
        cands.append(_moved(layout, {k: pts[k] + pull[k] / norm[k] * step_m
                                     for k in np.flatnonzero(norm)}, step_m, place))
    for _, centre in found[:clusters]:
        d = np.linalg.norm(pts - centre, axis=1)
        for k in np.argsort(d, kind="stable")[:probes]:
            direct = _moved(layout, {int(k): centre}, step_m, place)
            cands.append(direct)
            if direct is None:  # blocked (keep-out): slide along each in-plane axis instead
                for axis in (0, 1):
                    delta = np.zeros(2)
                    delta[axis] = np.sign(centre[axis] - pts[k][axis]) * step_m
                    if delta[axis]:
                        cands.append(_moved(layout, {int(k): pts[k] + delta}, step_m, place))
    middle = pts.mean(axis=0)
    outward = {k: pts[k] + (pts[k] - middle) / np.linalg.norm(pts[k] - middle) * step_m
               for k in range(len(pts)) if np.linalg.norm(pts[k] - middle) > step_m}
    if outward:
        cands.append(_moved(layout, outward, step_m, place))
    out = []
    for cand in cands:
        if cand is None or cand.points_m in tried or not valid_layout(cand, limits):
            continue
        tried.add(cand.points_m)
        out.append(cand)
    return out


def improve_positions(evaluator: Evaluator, start: LayoutEvaluation, *, safety: float,
                      step_m: float,
                      place: Callable[[tuple[float, float]], tuple[float, float] | None],
                      limits: PlanLimits, max_trials: int,
                      stop: Callable[[], bool] | None = None,
                      report: Callable[[str], None] | None = None
                      ) -> tuple[LayoutEvaluation, int]:
    """First-improvement local search from ``start`` (see the module doc).

    Returns the best evaluation found (possibly ``exact=False``) and the number of trials.
    ``stop()`` is asked before each trial (the user's explicit wall-clock limit, if any).
    """
    target = evaluator.target
    thr = target.lethal_threshold_V_per_m
    current = start
    score = shortfall(at_current_limit(evaluator, start, limits), thr, safety)
    tried = {start.layout.points_m}
    trials = 0
    while not score.covered and trials < max_trials:
        improved = False
        for cand in _moves(current, target, safety, step_m, place, limits, tried):
            if trials >= max_trials or (stop is not None and stop()):
                return current, trials
            ev = evaluator.evaluate(cand, base=current)
            trials += 1
            s = shortfall(at_current_limit(evaluator, ev, limits), thr, safety)
            if report is not None:
                report(f"trial {trials}: {s.uncovered} voxels short, worst ratio "
                       f"{s.worst_ratio:.3f}")
            if s.excess < score.excess * (1 - 1e-3):
                current, score, improved = ev, s, True
                break
        if not improved:
            break
    return current, trials
