"""Stage 1, search: the best probe layout on the search grid.

Candidates are regular polygons (2-6 probes, with or without a centre probe) around the
target's in-plane centroid at several radii and rotations; a polygon point inside the keep-out
around a critical structure is moved to the nearest clear position beside it
(:func:`irelab.plan.layout.candidates`). Exposed length and pullback positions follow from the
target's axial extent. The analytic screen ranks them (:mod:`irelab.plan.screen`); the best
``PlanOptions.screen_keep`` are solved on the search grid with every pair at its limit (3000 V,
less where the current would pass its limit): a layout that cannot cover the target there cannot
cover it at all. The best, by coverage shortfall with the safety factor ``coarse_safety``, gets
every pair the spacing limits allow if it still falls short, and is then improved by the local
search (:mod:`irelab.plan.search`, at most ``coarse_trials`` moves).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from irelab.errors import InputError
from irelab.plan.context import PlanContext
from irelab.plan.evaluate import Evaluator, LayoutEvaluation
from irelab.plan.layout import ProbeLayout, axial_positions, candidates, nearest_allowed
from irelab.plan.screen import Scored, contrast_factor, pick, screen_layouts, snap_to_columns
from irelab.plan.search import CURRENT_EXPONENT, improve_positions, shortfall, valid_layout
from irelab.plan.targets import PlanLimits, Unreachable
from irelab.plan.voltages import VOLTAGE_STEP_V, limit_voltages, predicted_healthy

__all__ = ["SearchResult", "search", "solve_at_limits", "rank", "MAX_SHIFT_M"]

log = logging.getLogger(__name__)

CURRENT_ROUNDS = 3
"""Solves that may turn a pair down to the current limit (design choice: the first lands within
a few per cent of the limit, the second within a fraction of a per cent)."""

MAX_SHIFT_M = 8e-3
"""How far a polygon point (or a search move) inside the keep-out may be moved to clear it
(design choice: about a third of the largest probe spacing, so a moved probe still works with
its neighbours)."""


@dataclass(frozen=True, eq=False)
class SearchResult:
    """The best layout found on the search grid, and what the search saw on the way."""

    best: LayoutEvaluation
    scored: tuple[Scored, ...]
    """Every candidate layout, best screened first (the alternatives stage picks from it)."""
    place: Callable[[tuple[float, float]], tuple[float, float] | None]
    """Where a probe aimed at an in-plane point may go on the search grid."""


def try_evaluate(evaluator: Evaluator, layout: ProbeLayout,
                 base: LayoutEvaluation | None = None) -> LayoutEvaluation | None:
    """A candidate the solver cannot handle is skipped (logged), not fatal."""
    try:
        return evaluator.evaluate(layout, base=base)
    except (RuntimeError, ValueError, np.linalg.LinAlgError) as exc:
        log.warning("skipping layout %s: field solve failed (%s)", layout.label, exc)
        return None


def solve_at_limits(evaluator: Evaluator, layout: ProbeLayout, limits: PlanLimits,
                    base: LayoutEvaluation | None = None) -> LayoutEvaluation | None:
    """``layout`` solved with every pair at the voltage limit, then re-solved with the pairs
    that pass the current limit turned down (if any); None if the solver fails."""
    ev = try_evaluate(evaluator, layout.with_voltages([limits.max_voltage_V] * len(layout.pairs)),
                      base)
    return at_limits(evaluator, ev, limits)


def at_limits(evaluator: Evaluator, ev: LayoutEvaluation | None,
              limits: PlanLimits) -> LayoutEvaluation | None:
    """``ev`` re-solved with the pairs that pass the current limit turned down (if any).

    The voltage meeting the limit is predicted (``I ~ V**CURRENT_EXPONENT``) and then solved;
    a pair the solve still shows over the limit (the exponent is a local estimate, and a pair's
    current at a placement moved sideways is not the one it was limited with) is turned down
    again from its solved current, at most ``CURRENT_ROUNDS`` times. A result still
    over the limit after them is returned as it is and fails the current check, with its
    numbers."""
    if ev is None:
        return None
    volts = limit_voltages(ev, limits)
    if volts is None:
        return ev
    for _ in range(CURRENT_ROUNDS):
        ev = try_evaluate(evaluator, ev.layout.with_voltages(volts), base=ev)
        if ev is None:
            return None
        volts = lowered_to_current_limit(ev, limits)
        if volts is None:
            break
    return ev


def lowered_to_current_limit(ev: LayoutEvaluation, limits: PlanLimits) -> np.ndarray | None:
    """``ev``'s voltages with every pair whose solved current passes the current limit turned
    down from its solved current (aimed at 98 % of the limit, never raised); None when every
    pair is within the limit."""
    currents = ev.pair_currents_A()
    cap = limits.initial_current_limit_A
    over = currents > cap
    if not over.any():
        return None
    volts = np.asarray(ev.layout.voltages_V, dtype=float).copy()
    volts[over] *= (0.98 * cap / currents[over]) ** (1 / CURRENT_EXPONENT)
    return np.floor(volts / VOLTAGE_STEP_V) * VOLTAGE_STEP_V


def rank(evaluator: Evaluator, ev: LayoutEvaluation, safety: float) -> tuple:
    """Search rank, lower is better: coverage shortfall at the limits, then the healthy volume
    at the voltages predicted to just keep the coverage."""
    s = shortfall(ev, evaluator.target.lethal_threshold_V_per_m, safety)
    healthy = ev.healthy_m3
    if s.covered and ev.fields:
        healthy = predicted_healthy(evaluator, ev, safety)
    return (round(s.excess, 4), s.uncovered, round(healthy * 1e9))


def with_all_pairs(layout: ProbeLayout, limits: PlanLimits) -> ProbeLayout | None:
    """The same probes with every pair the spacing limits allow (more field between probes)."""
    pts = np.asarray(layout.points_m)
    extra = [(i, j) for i in range(len(pts)) for j in range(i + 1, len(pts))
             if (i, j) not in layout.pairs and (j, i) not in layout.pairs
             and limits.min_spacing_m - 1e-9 <= np.linalg.norm(pts[i] - pts[j])
             <= limits.max_spacing_m + 1e-9]
    if not extra:
        return None
    return replace(layout, pairs=layout.pairs + tuple(extra),
                   voltages_V=layout.voltages_V + (limits.max_voltage_V,) * len(extra),
                   label=layout.label + " +pairs")


def best_of(ctx: PlanContext, layouts: list[ProbeLayout], stage: str,
            fraction: float) -> LayoutEvaluation | None:
    """Each layout solved at the limits on the search grid; the best by :func:`rank`."""
    evaluator, safety = ctx.coarse_eval, ctx.options.coarse_safety
    thr = evaluator.target.lethal_threshold_V_per_m
    best = None
    for i, layout in enumerate(layouts):
        if best is not None and ctx.journal.out_of_time():
            break
        ctx.journal.progress(f"{stage}: {layout.label}", fraction + 0.1 * i / len(layouts))
        solved = solve_at_limits(evaluator, layout, ctx.limits)
        if solved is None:
            ctx.journal.note(stage, f"solve {layout.label} at the limits", "solver failed")
            continue
        s = shortfall(solved, thr, safety)
        ctx.journal.note(stage, f"solve {layout.label} ({layout.n_probes} probes, "
                                f"{len(layout.pairs)} pairs) at the limits",
                         f"{s.uncovered} voxels short on the search grid, "
                         f"{solved.max_current_A:.1f} A")
        if best is None or rank(evaluator, solved, safety) < rank(evaluator, best, safety):
            best = solved
    return best


def search(ctx: PlanContext) -> SearchResult:
    """The best layout on the search grid (module doc). Raises
    :class:`~irelab.errors.InputError` when the anatomy has no target tissue and
    :class:`~irelab.plan.targets.Unreachable` when no layout within the limits can be placed."""
    opts, limits, journal = ctx.options, ctx.limits, ctx.journal
    journal.progress("search: target and candidates", 0.0)
    target = ctx.coarse_target
    spacing = opts.search_spacing_m
    if not target.target.any():
        raise InputError(ctx.case.source, "anatomy.regions", "a region of a tissue whose role "
                         f"is target (the tumour) on the {spacing * 1e3:g} mm search grid")
    ab = target.in_plane(target.target_points_m())
    centroid = ab.mean(axis=0)
    r_target = float(np.max(np.linalg.norm(ab - centroid, axis=1)))
    tip = axial_positions(target, limits)[1][0]
    snap = snap_to_columns(target, spacing)

    def place(point: tuple[float, float]) -> tuple[float, float] | None:
        return nearest_allowed(point, target, tip, snap, spacing, MAX_SHIFT_M)

    pool = [lay for lay in candidates(target, limits, centroid, r_target, place)
            if valid_layout(lay, limits)]
    if not pool:
        raise Unreachable(f"no layout of {limits.min_probes}-{limits.max_probes} probes "
                          f"{limits.min_spacing_m * 1e3:g}-{limits.max_spacing_m * 1e3:g} mm "
                          "apart can be placed around the target without a shaft crossing a "
                          "critical structure or leaving the domain")
    scored = screen_layouts(target, pool, limits, contrast_factor(ctx.coarse_problem, target))
    shortlist = pick(scored, opts.screen_keep)
    journal.note("search", f"screen {len(pool)} candidate layouts with the analytic field",
                 f"best {', '.join(lay.label for lay in shortlist)}")
    best = best_of(ctx, shortlist, "search", 0.05)
    if best is None:
        raise Unreachable("the field solver failed on every candidate layout")
    thr = target.lethal_threshold_V_per_m
    richer = with_all_pairs(best.layout, limits)
    if (richer is not None and not shortfall(best, thr, opts.coarse_safety).covered
            and not journal.out_of_time()):
        solved = best_of(ctx, [richer], "search", 0.2)
        if solved is not None and rank(ctx.coarse_eval, solved, opts.coarse_safety) < rank(
                ctx.coarse_eval, best, opts.coarse_safety):
            best = solved
    if opts.refine:
        before = shortfall(best, thr, opts.coarse_safety)
        best, trials = improve_positions(
            ctx.coarse_eval, best, safety=opts.coarse_safety, step_m=spacing, place=place,
            limits=limits, max_trials=opts.coarse_trials, stop=journal.out_of_time,
            report=lambda text: journal.progress(f"search: {text}", 0.3))
        after = shortfall(best, thr, opts.coarse_safety)
        journal.note("search", f"local search on the search grid ({trials} of "
                               f"{opts.coarse_trials} trial moves)",
                     f"{before.uncovered} -> {after.uncovered} voxels short")
    return SearchResult(best=best, scored=tuple(scored), place=place)
