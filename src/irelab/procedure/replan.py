"""Re-plan for the probes as placed: the field of the measured probes, and new voltages, an added
pair or a repositioning so that the target stays covered.

1. The plan is solved as planned and as placed (its pairs at their voltages, every placement):
   target coverage and minimal margin of each (:mod:`irelab.procedure.field`). The goal is the
   planned coverage, reached as placed with the safety factor
   :data:`~irelab.procedure.cover.COVER_FACTOR` (a plan whose own field lies within that factor
   of a threshold cannot reach it unchanged).
2.-4. With the probes as placed: pairs over the current limit (including the generator's rise
   over the pulse train) lowered, the pairs nearest the uncovered voxels raised within 3000 V
   and the current limit, then bisected back while covered; a probe pair added at its limits if
   that is not enough (:mod:`irelab.procedure.cover`).
5. A repositioning: if still short, the probe furthest from its plan is to be re-inserted along
   its planned track (it is placed as planned) and steps 2-4 run again from the planned
   voltages; then the next probe.

Steps 2-4 are :mod:`irelab.procedure.cover` (where the planner's stage "choose voltages to
cover, probes fixed" can take over once it exists). Whatever is reported is solved, never
predicted. Deterministic (no clock, no randomness): the budget is a number of pair solves.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from irelab.case import Case, Pair, Probe, ReplanChange, ReplanRecord
from irelab.delivery import GeneratorConfig, current_rise_factor
from irelab.errors import InputError
from irelab.procedure.cover import Budget, PairSearch, Progress, as_planned, cover
from irelab.procedure.field import FieldOutcome, PlacedField, TargetRegion
from irelab.procedure.measured import MeasuredProbes

__all__ = ["ReplanOptions", "ReplanResult", "replan"]

REPOSITION_MIN_MM = 0.5
"""A probe whose electrode ends lie within this distance of the plan is not proposed for
re-insertion (design choice: half of the 1 mm to which positions are read off the images)."""


@dataclass(frozen=True)
class ReplanOptions:
    """``margin_mm``: the plan's margin around the tumour (the target it covers);
    ``spacing_mm``: solve on this grid (default the plan's); ``max_solves``: the work budget."""

    margin_mm: float = 5.0
    spacing_mm: float | None = None
    max_solves: int = 80
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)


@dataclass(frozen=True, eq=False)
class ReplanResult:
    """The plan as planned, as placed at the planned voltages and as re-planned, and the
    re-planned plan (``case``, with its ``replan`` record)."""

    plan: Case
    measured: MeasuredProbes
    case: Case
    planned: FieldOutcome
    as_placed: FieldOutcome
    replanned: FieldOutcome
    changes: tuple[ReplanChange, ...]
    covered: bool
    """The re-planned coverage reaches the planned one (with :data:`COVER_FACTOR`)."""
    solves: int


def _order_of_repositioning(plan: Case, probes: tuple[Probe, ...]) -> list[int]:
    """Probes by how far their electrodes are from the plan (the larger end offset), furthest
    first."""
    def off(k: int) -> float:
        a, b = plan.probes[k], probes[k]
        ends = [(np.asarray(p.tip_mm), np.asarray(p.tip_mm) + p.length_mm
                 * np.asarray(p.direction)) for p in (a, b)]
        return max(float(np.linalg.norm(ends[0][i] - ends[1][i])) for i in range(2))

    return sorted((k for k in range(len(probes)) if off(k) > REPOSITION_MIN_MM),
                  key=lambda k: (-off(k), k))


def _changes(plan: Case, measured: MeasuredProbes, search: PairSearch,
             repositioned: list[int]) -> tuple[ReplanChange, ...]:
    """What the re-plan changed, a sentence each (the case's ``replan.changes``)."""
    g = search.generator
    out = []
    planned = {(p.anode, p.cathode): p.voltage_V for p in plan.protocol.pairs}
    rise = current_rise_factor(g, plan.protocol.pulses)
    for pair in search.pairs:
        old = planned.get((pair.anode, pair.cathode))
        if old is None:
            out.append(ReplanChange("pair", pair.name, f"{pair.name} added at {pair.volts:g} V "
                                    f"(the planned pairs could not cover the target within "
                                    f"{g.max_voltage_V:g} V and {g.current_limit_A:g} A)"))
        elif pair.volts > old:
            out.append(ReplanChange("voltage", pair.name, f"{pair.name} raised from {old:g} V "
                                    f"to {pair.volts:g} V to cover the target with the probes "
                                    "as placed"))
        elif pair.volts < old:
            out.append(ReplanChange("voltage", pair.name, f"{pair.name} lowered from {old:g} V "
                                    f"to {pair.volts:g} V: its current ({max(pair.currents):.1f}"
                                    f" A, x{rise:.2f} over the pulse train) within the "
                                    f"{g.current_limit_A:g} A limit"))
    deviations = measured.deviations(plan)
    for k in repositioned:
        d = deviations[k]
        out.append(ReplanChange("reposition", d.name, f"{d.name}: re-insert along its planned "
                                f"track (placed {d.lateral_mm:.1f} mm off its axis, "
                                f"{d.depth_mm:+.1f} mm in depth, {d.angle_deg:.1f} degrees "
                                "tilted) and verify its position by imaging"))
    return tuple(out)


def _plan_case(plan: Case, search: PairSearch, record: ReplanRecord,
               spacing_mm: float | None) -> Case:
    """The re-planned plan: the probes as placed (repositioned ones as planned), every pair
    with its voltage and predicted currents."""
    multi = search.positions > 1
    pairs = tuple(Pair(p.anode, p.cathode, float(p.volts), round(max(p.currents), 2),
                       tuple(round(c, 2) for c in p.currents) if multi else None)
                  for p in search.pairs)
    name = plan.name if plan.name.endswith("-replanned") else f"{plan.name}-replanned"
    return plan.with_plan(search.placed.case.probes, replace(plan.protocol, pairs=pairs),
                          name=name, spacing_mm=spacing_mm, replan=record)


def replan(plan: Case, measured: MeasuredProbes, options: ReplanOptions | None = None,
           plan_source: str | None = None, progress: Progress | None = None) -> ReplanResult:
    """Re-plan ``plan`` for the probes as ``measured`` (module docstring). ``plan_source`` is
    what the record names as the plan (default its file); ``progress(text)`` is told before
    each pair solve."""
    options = options or ReplanOptions()
    if plan.protocol is None or not plan.protocol.pairs:
        raise InputError(plan.source, "protocol.pairs", "a plan with electrode pairs to re-plan")
    case = measured.placed_case(plan)  # bad placements refused before any solve
    region = TargetRegion.of(plan, options.margin_mm, options.spacing_mm)
    budget = Budget(options.max_solves)
    planned = as_planned(PlacedField(plan, region, options.spacing_mm), plan, options.generator,
                         budget, progress)
    goal = planned.coverage
    search, as_placed = cover(PlacedField(case, region, options.spacing_mm), plan, goal,
                              options.generator, budget, progress)
    repositioned: list[int] = []
    order = _order_of_repositioning(plan, measured.probes)
    while not search.covered and order and search.can_solve(len(plan.protocol.pairs)):
        repositioned.append(order.pop(0))
        probes = tuple(plan.probes[k] if k in repositioned else p
                       for k, p in enumerate(measured.probes))
        case = plan.with_plan(probes, plan.protocol, name=plan.name)
        search, _ = cover(PlacedField(case, region, options.spacing_mm), plan, goal,
                          options.generator, budget, progress)
    replanned = search.outcome()
    changes = _changes(plan, measured, search, repositioned)
    record = ReplanRecord(plan_source or plan.source, measured.source, changes,
                          round(planned.coverage, 6), round(as_placed.coverage, 6),
                          round(replanned.coverage, 6))
    return ReplanResult(plan, measured, _plan_case(plan, search, record, options.spacing_mm),
                        planned, as_placed, replanned, changes, search.covered,
                        options.max_solves - budget.left)
