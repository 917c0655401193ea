"""Stage 3b, alternatives: one probe more, shorter electrodes, or the probes closer together,
before giving up.

When the confirmed and repositioned layout still misses the tumour or its margin, the planner
does what a clinician would try next: a layout with more probes (the best screened one with
more probes than the current); when the current limit holds a pair below the voltage limit,
the same probes with shorter electrodes and more pullback positions (a pair's current
grows with the exposed length, so a shorter one may take a higher voltage:
:func:`shorter_electrodes`); then one with the probes closer
together (the best screened one with at least as many probes standing at most ``CLOSER`` as
far apart).
Each is solved on the search grid at the limits (the best of ``PlanOptions.screen_keep``
screened ones), improved by the local search, confirmed and repositioned like the first
layout; the best outcome is kept (:func:`outcome_key`). At most ``PlanOptions.alternatives``
of them, in that order; the journal says what each gave, so a plan declared infeasible shows
what was tried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from irelab.plan.coarse import SearchResult, best_of, rank
from irelab.plan.confirm import confirm
from irelab.plan.context import PlanContext
from irelab.plan.evaluate import LayoutEvaluation
from irelab.plan.layout import ProbeLayout, axial_positions
from irelab.plan.options import FINE_SLACK
from irelab.plan.reposition import reposition
from irelab.plan.screen import pick
from irelab.plan.search import CURRENT_EXPONENT, improve_positions, shortfall
from irelab.plan.targets import PlanLimits

__all__ = ["alternatives", "outcome_key", "current_limited", "shorter_electrodes", "CLOSER"]

CLOSER = 0.85
"""A layout counts as "probes closer together" when its probes' nearest-neighbour spacing
(:func:`neighbour_spacing_m`) is at most this fraction of the current one's (design choice: one
or two steps of the candidates' polygon radii, which differ by 5-20 %)."""


def outcome_key(ctx: PlanContext, ev: LayoutEvaluation) -> tuple:
    """Rank of a confirmed plan, lower is better: meets tumour and margin; fewer tumour voxels
    short; the larger minimal margin (up to the requested one); then the search rank."""
    m = ctx.margin(ev)
    achieved = -1e9 if m.achieved_mm is None else min(m.achieved_mm, m.requested_mm)
    return (not m.acceptable, m.tumour_short, -round(achieved, 3),
            rank(ctx.fine_eval, ev, FINE_SLACK))


def neighbour_spacing_m(layout: ProbeLayout) -> float:
    """The largest distance from a probe to its nearest neighbour: how far apart the probes
    stand (a hexagon's side, a pentagon-and-centre's radius)."""
    pts = np.asarray(layout.points_m)
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    d[np.diag_indices(len(pts))] = np.inf
    return float(d.min(axis=1).max())


SHORTER = "shorter electrodes"
"""The label of the alternative that keeps the probes and adds a pullback position."""


def current_limited(ev: LayoutEvaluation, limits: PlanLimits) -> bool:
    """Whether the current limit holds some pair below the voltage limit."""
    volts = np.asarray(ev.layout.voltages_V)
    near = ev.pair_currents_A() >= 0.95 * limits.initial_current_limit_A
    return bool(np.any(near & (volts < limits.max_voltage_V)))


MAX_EXTRA_PULLBACKS = 2
"""At most this many pullback positions more than the fewest (design choice: each is another
full pulse protocol, so another ten minutes or so of delivery)."""


def shorter_electrodes(ctx: PlanContext, ev: LayoutEvaluation) -> ProbeLayout | None:
    """``ev``'s probes and pairs, at every pair's voltage limit, with the fewest more pullback
    positions whose exposed length lets the most current-limited pair reach the voltage limit
    (a pair's current taken as proportional to the exposed length and to
    ``V ** CURRENT_EXPONENT``; at most ``MAX_EXTRA_PULLBACKS``); no sideways placement. None
    when the exposed length would not get shorter."""
    target, limits, layout = ctx.coarse_target, ctx.limits, ev.layout
    lowest = min(layout.voltages_V) / limits.max_voltage_V
    wanted = layout.exposed_m * lowest ** CURRENT_EXPONENT
    for extra in range(1, MAX_EXTRA_PULLBACKS + 1):
        exposed, tips = axial_positions(target, limits, extra=extra)
        if exposed <= wanted + 1e-9:
            break
    if exposed >= layout.exposed_m - 1e-9:
        return None
    return replace(layout, exposed_m=exposed, tips_m=tips, shifts_m=(),
                   voltages_V=(limits.max_voltage_V,) * len(layout.pairs),
                   label=f"{layout.label.split(' (')[0]} ({exposed * 1e3:.0f} mm x {len(tips)})")


def _tries(ctx: PlanContext, plan: LayoutEvaluation
           ) -> list[tuple[str, Callable[[ProbeLayout], bool] | None]]:
    """What to try, in order: (label, which screened layouts qualify), None for the shorter
    electrodes (built from the plan's own probes)."""
    layout, limits = plan.layout, ctx.limits
    n = layout.n_probes
    apart = neighbour_spacing_m(layout)
    tries: list[tuple[str, Callable[[ProbeLayout], bool] | None]] = []
    if n < limits.max_probes:
        tries.append((f"more probes than {n}", lambda lay: lay.n_probes > n))
    if current_limited(plan, limits):
        tries.append((f"{SHORTER} than {layout.exposed_m * 1e3:.0f} mm, more pullbacks "
                      "(the current limit holds a pair below the voltage limit)", None))
    tries.append((f"probes closer together (neighbours at most {CLOSER * apart * 1e3:.1f} mm "
                  f"apart, not {apart * 1e3:.1f})",
                  lambda lay: (lay.n_probes >= n
                               and neighbour_spacing_m(lay) <= CLOSER * apart + 1e-9)))
    return tries


def alternatives(ctx: PlanContext, found: SearchResult, plan: LayoutEvaluation
                 ) -> LayoutEvaluation:
    """The best of ``plan`` and the alternatives tried (module doc)."""
    opts, journal = ctx.options, ctx.journal
    thr = ctx.coarse_target.lethal_threshold_V_per_m
    for label, accept in _tries(ctx, plan)[:opts.alternatives]:
        if ctx.margin(plan).acceptable or journal.out_of_time():
            break
        stage = f"alternative ({label})"
        if accept is None:
            shorter = shorter_electrodes(ctx, plan)
            layouts = [] if shorter is None else [shorter]
        else:
            layouts = pick(found.scored, opts.screen_keep, accept)
        if not layouts:
            journal.note(stage, "screen", "no candidate layout of this kind within the limits")
            continue
        best = best_of(ctx, layouts, stage, 0.76)
        if best is None:
            continue
        if opts.refine:
            best, trials = improve_positions(
                ctx.coarse_eval, best, safety=opts.coarse_safety,
                step_m=opts.search_spacing_m, place=found.place, limits=opts.limits,
                max_trials=opts.coarse_trials, stop=journal.out_of_time)
            journal.note(stage, f"local search ({trials} trials)",
                         f"{shortfall(best, thr, opts.coarse_safety).uncovered} voxels short "
                         "on the search grid")
        candidate = reposition(ctx, confirm(ctx, best.layout, stage), stage)
        kept = outcome_key(ctx, candidate) < outcome_key(ctx, plan)
        journal.note(stage, f"{candidate.layout.label}, {candidate.layout.n_probes} probes, "
                            f"{candidate.layout.n_positions} placement(s)",
                     f"{ctx.describe(candidate)}: {'kept' if kept else 'not better, not kept'}")
        if kept:
            plan = candidate
    return plan
