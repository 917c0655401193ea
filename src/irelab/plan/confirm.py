"""Stage 2, confirm: the search's layout solved on the confirmation grid at the limits, and
moved by one voxel at a time where it narrowly misses.

Every pair is solved at its limit on the confirmation grid (the search grid averages the field
over voxels that straddle tissue interfaces). When the plan misses the tumour or its margin
(:mod:`irelab.plan.margin`) and the worst target voxel is within ``FINE_SEARCH_MAX_RATIO`` of
its threshold, the local search continues on this grid (one-voxel moves, at most
``PlanOptions.fine_trials`` trials in all, solved to the search tolerance) and what it finds is
solved again in full, at most ``FINE_ROUNDS`` times. A larger gap is left to repositioning.
"""

from __future__ import annotations

from irelab.plan.coarse import MAX_SHIFT_M, at_limits, rank
from irelab.plan.context import PlanContext
from irelab.plan.evaluate import LayoutEvaluation
from irelab.plan.layout import ProbeLayout, nearest_allowed, off_centre_tips
from irelab.plan.options import FINE_SLACK
from irelab.plan.screen import snap_to_columns
from irelab.plan.search import improve_positions, shortfall

__all__ = ["confirm", "FINE_SEARCH_MAX_RATIO", "FINE_ROUNDS"]

FINE_ROUNDS = 2
"""Fine local search, then a full solve of what it found, at most this many times (design
choice: a second round rarely gains, measured on the segment-8 phantom)."""

FINE_SEARCH_MAX_RATIO = 1.05
"""The fine local search (one-voxel moves) runs only when the worst target voxel at the limits
is within this factor of its threshold (e_irr / |E| <= 1.05); a larger gap goes straight to
repositioning. Measured on the segment-8 phantom: 4 fine trials took the worst voxel from 12 %
to 7 % below e_irr (ratio 1.138 to 1.077) without covering any of the 22 voxels short."""


def confirm(ctx: PlanContext, layout: ProbeLayout, stage: str = "confirm") -> LayoutEvaluation:
    """``layout`` solved at the limits on the confirmation grid, improved by one-voxel moves
    when it narrowly misses (module doc). Returns an exact evaluation."""
    opts, limits, journal = ctx.options, ctx.limits, ctx.journal
    fine_eval = ctx.fine_eval
    target = ctx.fine_target
    thr = target.lethal_threshold_V_per_m
    journal.progress(f"{stage}: every pair on the {opts.fine_spacing_m * 1e3:g} mm grid", 0.45)
    layout = off_centre_tips(layout, target)
    final = at_limits(fine_eval, fine_eval.evaluate(layout), limits)
    gap = shortfall(final, thr, FINE_SLACK)
    margin = ctx.margin(final)
    journal.note(stage, f"solve {layout.label} on the {opts.fine_spacing_m * 1e3:g} mm grid at "
                        "the limits", ctx.describe(final))
    if margin.acceptable or not opts.refine:
        return final
    if gap.worst_ratio > FINE_SEARCH_MAX_RATIO:
        journal.note(stage, "one-voxel moves",
                     f"not tried: the worst voxel is {100 * (1 - 1 / gap.worst_ratio):.1f} % "
                     f"below its threshold (moves help within "
                     f"{100 * (1 - 1 / FINE_SEARCH_MAX_RATIO):.1f} %)")
        return final
    spacing = opts.fine_spacing_m
    snap = snap_to_columns(target, spacing)
    tip = final.layout.tips_m[0]

    def place(point: tuple[float, float]) -> tuple[float, float] | None:
        return nearest_allowed(point, target, tip, snap, spacing, MAX_SHIFT_M)

    trials_left = opts.fine_trials
    for _ in range(FINE_ROUNDS):
        if trials_left <= 0 or journal.out_of_time():
            break
        found, trials = improve_positions(
            ctx.fine_search, final, safety=FINE_SLACK, step_m=spacing, place=place,
            limits=limits, max_trials=trials_left, stop=journal.out_of_time,
            report=lambda text: journal.progress(f"{stage}: one-voxel moves, {text}", 0.6))
        trials_left -= trials
        if found is final:
            journal.note(stage, f"one-voxel moves ({trials} trials)", "none helped")
            break
        journal.progress(f"{stage}: every pair solved in the moved layout", 0.7)
        exact = at_limits(fine_eval, fine_eval.evaluate(found.layout), limits)
        better = rank(fine_eval, exact, FINE_SLACK) < rank(fine_eval, final, FINE_SLACK)
        journal.note(stage, f"one-voxel moves ({trials} trials), solved in full",
                     f"{ctx.describe(exact)}: {'kept' if better else 'not kept'}")
        if not better:
            break
        final = exact
        if ctx.margin(final).acceptable:
            break
    return final
