"""The treatment planner: a short pipeline of stages, each in its own module.

1. search (:mod:`irelab.plan.coarse`): candidate layouts screened analytically, the best solved
   on the search grid at the limits and improved by local search;
2. confirm (:mod:`irelab.plan.confirm`): the layout solved on the confirmation grid, moved by
   one voxel at a time where it narrowly misses;
3. reposition (:mod:`irelab.plan.reposition`): further placements of the array moved sideways,
   while the tumour or its margin is missed; then alternatives (:mod:`irelab.plan.alternatives`):
   one probe more, the probes closer together;
4. voltages (:mod:`irelab.plan.voltages`): each pair lowered as far as the coverage allows;
5. thermal (:mod:`irelab.plan.thermal`): the bioheat model, and repairs when a critical
   structure would be damaged;
6. constraints (:mod:`irelab.plan.constraints`): every requirement checked with its numbers.

When a critical structure is still damaged after every thermal repair, the whole pipeline runs
again with the probes held further from it (:data:`~irelab.plan.options.THERMAL_STANDOFFS_M`,
``PlanOptions.thermal_replans`` times at most); the re-plan is kept when it ranks higher
(feasible, then tumour covered, then no thermal damage, then margin met, then less damage).

Every stage is bounded by counted work (:class:`PlanOptions`), never by seconds; every figure
reported comes from an exact confirmation-grid solve of the plan as written. The search is our
own (it is the product); the physics is :class:`irelab.field.FieldSolver` and
:func:`irelab.thermal.simulate_heating`.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, fields, replace

import numpy as np

from irelab.case.model import Case
from irelab.errors import InputError
from irelab.plan.alternatives import alternatives
from irelab.plan.coarse import at_limits, search
from irelab.plan.confirm import confirm
from irelab.plan.constraints import ConstraintCheck, check_constraints
from irelab.plan.context import PlanContext, with_current_rise
from irelab.plan.evaluate import LayoutEvaluation
from irelab.plan.journal import Journal, Progress, Step
from irelab.plan.layout import ProbeLayout
from irelab.plan.margin import MarginReport
from irelab.plan.options import THERMAL_STANDOFFS_M, PlanOptions
from irelab.plan.output import described, layout_of_case, plan_case
from irelab.plan.reposition import reposition
from irelab.plan.targets import PlanTarget, Unreachable
from irelab.plan.thermal import (
    critical_damage_mm3,
    damaged_structures,
    schedule_text,
    thermal_stage,
)
from irelab.plan.voltages import choose_voltages
from irelab.plan.workers import SolverPool
from irelab.thermal.bioheat import ThermalResult
from irelab.thermal.schedule import PulseSchedule

__all__ = ["PlanResult", "PlanTimings", "plan_treatment", "adjust_voltages"]


@dataclass(frozen=True)
class PlanTimings:
    """Seconds per stage and solves counted (reported, never used to decide anything)."""

    search_s: float
    confirm_s: float
    thermal_s: float
    total_s: float
    coarse_solves: int
    fine_solves: int


@dataclass(frozen=True, eq=False)
class PlanResult:
    """The chosen layout, its confirmation-grid evaluation, the thermal result, the margin and
    the constraint checks, and what the planner tried."""

    layout: ProbeLayout
    fine: LayoutEvaluation
    target: PlanTarget
    thermal: ThermalResult | None
    checks: tuple[ConstraintCheck, ...]
    timings: PlanTimings
    options: PlanOptions
    case: Case
    """The plan as a case: the input's anatomy and tissues with the planned probes and protocol
    (what ``plan.yaml`` holds)."""
    margin: MarginReport | None = None
    """Tumour coverage and the minimal ablative margin achieved."""
    tried: tuple[Step, ...] = ()
    """Every step the planner took, in order, with what it gave."""
    cut_short: bool = False
    """True when the user's wall-clock limit stopped a stage early: the plan then depends on
    the machine's speed."""

    @property
    def feasible(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[str]:
        return [c.message for c in self.checks if not c.ok]

    @property
    def coverage(self) -> float:
        """Fraction of tumour plus requested margin (minus needle tracks) covered."""
        return self.fine.coverage

    @property
    def healthy_cm3(self) -> float:
        return self.fine.healthy_m3 * 1e6


def _finish(ctx: PlanContext, at_limits_ev: LayoutEvaluation, t0: float, t_search: float
            ) -> PlanResult:
    """Stages 4-6 on a confirmed layout at its limits, and the result."""
    plan = choose_voltages(ctx, at_limits_ev)
    t_confirm = time.perf_counter()
    plan, thermal, schedule = thermal_stage(ctx, plan, at_limits_ev)
    t_thermal = time.perf_counter()
    options = replace(ctx.options, schedule=schedule)
    ctx.journal.progress("constraints", 0.98)
    margin = ctx.margin(plan)
    target = ctx.fine_target
    checks = check_constraints(plan, target, thermal, ctx.limits, margin,
                               ctx.fine_eval.conductor(plan.layout, plan.max_e_V_per_m))
    ctx.journal.progress("done", 1.0)
    timings = PlanTimings(search_s=t_search - t0, confirm_s=t_confirm - t_search,
                          thermal_s=t_thermal - t_confirm, total_s=t_thermal - t0,
                          coarse_solves=ctx.search_solves, fine_solves=ctx.fine_solves)
    usual = ctx.options.schedule
    pauses = None
    if (schedule.train_pause_s, schedule.pair_pause_s) != (usual.train_pause_s,
                                                           usual.pair_pause_s):
        pauses = (schedule.train_pause_s, schedule.pair_pause_s)
    case = described(plan_case(ctx.case, plan, target, options, pauses),
                     _summary(margin, plan, schedule, ctx.options.schedule))
    return PlanResult(layout=plan.layout, fine=plan, target=target, thermal=thermal,
                      checks=tuple(checks), timings=timings, options=options, case=case,
                      margin=margin, tried=ctx.journal.steps, cut_short=ctx.journal.cut_short)


def _summary(margin: MarginReport, plan: LayoutEvaluation, schedule: PulseSchedule,
             usual: PulseSchedule) -> str:
    """The plan file's description: what the plan achieves, with the requested margin, and the
    protocol and pauses it needs when the thermal repair changed them, in words for the operator
    (the protocol keys ``train_pause_s`` and ``pair_pause_s`` carry the pauses for the
    programs)."""
    if margin.tumour_covered:
        achieved = f"minimal margin achieved {margin.achieved_mm:.1f} mm"
    else:
        achieved = f"tumour NOT covered ({margin.tumour_short} voxels short)"
    text = (f"irelab plan: margin requested {margin.requested_mm:g} mm, {achieved}; "
            f"{plan.layout.n_probes} probes, {plan.layout.n_positions} placement(s)")
    if schedule != usual:
        text += f"; for thermal safety deliver {schedule_text(schedule)}"
    return text


def plan_treatment(case: Case, options: PlanOptions | None = None,
                   progress: Progress | None = None) -> PlanResult:
    """Plan probes, pairs, voltages and placements for ``case``'s anatomy (its own probes and
    protocol, if any, are ignored); the plan is ``result.case``.

    The target is the tissues whose role is ``target`` plus the margin; tissues whose role is
    ``critical`` are spared. ``progress(stage, fraction)`` is told what is happening. Raises
    ``ValueError`` when the anatomy has no target tissue or no layout can be placed.
    """
    opts = with_current_rise(options or PlanOptions())
    with _pool(opts) as pool:
        journal = Journal(progress, opts.max_minutes)
        result = _planned(case, opts, journal, pool)
        held: dict[str, float] = dict(opts.standoff_m)
        spent = [result.timings]
        for step, standoff in enumerate(THERMAL_STANDOFFS_M[:opts.thermal_replans], 1):
            damaged = _thermally_damaged(result)
            if not damaged or journal.out_of_time():
                break
            for name in damaged:
                held[name] = max(held.get(name, 0.0), standoff)
            action = ("plan again with the probes held " + ", ".join(
                f"{v * 1e3:g} mm further from {k}" for k, v in held.items()))
            journal.note("thermal re-plan", action,
                         f"{', '.join(damaged)} still damaged after every thermal repair: "
                         "every stage again")
            journal.prefix = f"thermal re-plan {step}: "
            try:
                again = _planned(case, replace(opts, standoff_m=tuple(held.items())),
                                 journal, pool)
            except Unreachable as exc:
                journal.note("thermal re-plan", action, f"no layout can be placed: {exc}")
                break
            finally:
                journal.prefix = ""
            spent.append(again.timings)
            kept = _rank(again) > _rank(result)
            journal.note("thermal re-plan", "the re-plan", _outcome(again)
                         + (": kept" if kept else ": not better, not kept"))
            if kept:
                result = again
            if result.feasible:
                break
        return replace(result, tried=journal.steps, cut_short=journal.cut_short,
                       timings=_summed(spent))


def _planned(case: Case, opts: PlanOptions, journal: Journal, pool: SolverPool | None
             ) -> PlanResult:
    """Search, confirmation, repositioning, alternatives, then stages 4-6: one plan."""
    ctx = PlanContext(case, opts, journal, pool)
    t0 = time.perf_counter()
    found = search(ctx)
    t_search = time.perf_counter()
    plan = reposition(ctx, confirm(ctx, found.best.layout))
    plan = alternatives(ctx, found, plan)
    ctx.release_search_grid()
    return _finish(ctx, plan, t0, t_search)


def _thermally_damaged(result: PlanResult) -> list[str]:
    """The critical structures the plan's thermal model damages."""
    return [] if result.thermal is None else damaged_structures(result.target.critical,
                                                                result.thermal)


def _damage_mm3(result: PlanResult) -> float:
    return 0.0 if result.thermal is None else critical_damage_mm3(result.target.critical,
                                                                  result.thermal)


def _rank(result: PlanResult) -> tuple:
    """How a thermal re-plan compares with the plan it would replace: feasible first, then a
    covered tumour, then no thermal damage, then a met margin, then less thermal damage (ties
    keep the earlier plan). Sparing a critical structure comes before the margin: the tumour
    is the aim, the structure's safety a limit, and a margin cut short beside it is what a
    plan near a bile duct gives up first (the plan still fails its margin check, with the
    numbers)."""
    margin = result.margin
    damage = round(_damage_mm3(result), 3)
    return (result.feasible, bool(margin and margin.tumour_covered), damage == 0,
            bool(margin and margin.margin_met), -damage)


def _outcome(result: PlanResult) -> str:
    """A thermal re-plan's result in words with its numbers."""
    margin = result.margin
    if margin is None or not margin.tumour_covered:
        covered = "tumour NOT covered"
    else:
        covered = (f"tumour covered, minimal margin {margin.achieved_mm:.1f} mm"
                   + ("" if margin.margin_met else " (margin missed)"))
    damage = "; ".join(f"{name} {result.thermal.regions[name].damage_volume_cm3 * 1e3:.1f} "
                       f"mm^3 damaged (peak {result.thermal.regions[name].peak_temperature_C:.1f}"
                       " C)" for name in _thermally_damaged(result)) or "no thermal damage"
    return (f"{covered}; {result.layout.n_probes} probes, {result.layout.n_positions} "
            f"placement(s); {damage}")


def _summed(timings: list[PlanTimings]) -> PlanTimings:
    """The stage times and solves of every plan made, added up."""
    return PlanTimings(*(sum(getattr(t, f.name) for t in timings) for f in fields(PlanTimings)))


def _pool(options: PlanOptions) -> AbstractContextManager[SolverPool | None]:
    """The options' worker processes (none for one)."""
    return SolverPool(options.workers) if options.workers > 1 else nullcontext()


def adjust_voltages(case: Case, options: PlanOptions | None = None,
                    progress: Progress | None = None) -> PlanResult:
    """The voltage stage on its own, for a case whose probes are already placed (replanning):
    the case's probes, pairs and placements are kept (:func:`irelab.plan.output.layout_of_case`
    says which cases qualify), every pair is solved at its limit on the confirmation grid and
    lowered as far as the coverage allows; thermal model, repairs and checks as for a full
    plan. The insertion direction is the probes' own."""
    if not case.probes:
        raise InputError(case.source, "probes", "the probes whose voltages are to be chosen")
    opts = replace(options or PlanOptions(), direction=tuple(case.probes[0].direction))
    opts = with_current_rise(opts)
    with _pool(opts) as pool:
        ctx = PlanContext(case, opts, Journal(progress, opts.max_minutes), pool)
        t0 = time.perf_counter()
        layout = layout_of_case(case, ctx.fine_target)
        layout = layout.with_voltages(np.full(len(layout.pairs), opts.limits.max_voltage_V))
        ctx.journal.progress("voltages: every pair at its limit", 0.3)
        solved = at_limits(ctx.fine_eval, ctx.fine_eval.evaluate(layout), opts.limits)
        ctx.journal.note("voltages", f"solve the {len(layout.pairs)} pairs of the fixed probes "
                                     "at the limits", ctx.describe(solved))
        return _finish(ctx, solved, t0, t0)
