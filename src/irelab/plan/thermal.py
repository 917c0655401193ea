"""Stage 5, thermal: the bioheat model on the plan's pulses, and a plan that would damage a
critical structure repaired rather than only reported.

The thermal model (:func:`irelab.thermal.simulate_heating`: Pennes with Arrhenius damage) runs
on the confirmation grid's Joule power of every pair at every placement, in delivery order,
with the options' pulse schedule. If it finds thermal damage (Omega >= 1) in a critical
structure, the repairs below are tried in order, each simulated again, and the first that
leaves every critical structure undamaged is kept (at most ``PlanOptions.thermal_repairs``
simulations; the field is re-solved exactly for any new voltages, and a repair must keep every
target voxel the plan covers):

1. delivery order: the pairs that heat the damaged voxels most are interleaved with those that
   heat them least, so the structure cools between them (no field solve: same fields);
2. voltages: the voltages lowered again taking the hottest pairs first, so that they end up
   lowest and the other pairs take over the coverage;
3. caps: the hottest pair capped at ``CAP_FACTOR`` of its voltage (then also the next
   hottest), the others free up to their limits, lowered again; each with the interleaved
   order.

When none works, the plan keeps its voltages and the thermal check fails with the damage in
numbers (and the journal says what was tried).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from irelab.plan.context import PlanContext
from irelab.plan.evaluate import LayoutEvaluation
from irelab.plan.options import FINE_SLACK
from irelab.plan.voltages import lower_with
from irelab.thermal.bioheat import ThermalResult, simulate_heating, thermal_tissues

__all__ = ["simulate_plan_heating", "thermal_stage", "reordered", "CAP_FACTOR"]

CAP_FACTOR = 0.85
"""A hot pair's voltage cap as a fraction of its voltage: Joule power ~ sigma(E) E^2 falls by
about 30 % (design choice: one step that the other pairs can usually make up)."""


def simulate_plan_heating(ctx: PlanContext, ev: LayoutEvaluation) -> ThermalResult:
    """The thermal model on ``ev``'s power (every pair at every placement, delivery order)."""
    fine = ctx.fine_problem
    n_pairs = len(ev.layout.pairs)
    return simulate_heating(fine.grid, fine.labels, fine.tissue_names, ev.power,
                            ctx.options.schedule, tissues=thermal_tissues(fine.materials),
                            position_starts=[p * n_pairs for p in range(1, ev.layout.n_positions)])


def _damaged(ctx: PlanContext, thermal: ThermalResult) -> list[str]:
    return [name for name in ctx.fine_target.critical
            if name in thermal.regions and thermal.regions[name].damage_volume_cm3 > 0]


def _heat_per_pair(ev: LayoutEvaluation, thermal: ThermalResult,
                   ctx: PlanContext) -> np.ndarray:
    """Joule energy each pair (over its placements) deposits in the damaged critical voxels,
    or, when none is damaged, in the hottest critical voxels (per pulse, J/m^3 summed)."""
    hot = thermal.damaged & ctx.fine_target.critical_any
    if not hot.any():
        peak = np.where(ctx.fine_target.critical_any, thermal.peak_temperature_C, -np.inf)
        hot = peak >= np.max(peak) - 1.0
    n_pairs = len(ev.layout.pairs)
    heat = np.zeros(n_pairs)
    for index, q in enumerate(ev.power):
        heat[index % n_pairs] += float(q[hot].sum())
    return heat


def interleaved(heat: np.ndarray) -> np.ndarray:
    """Pair order that alternates the hottest and the coolest remaining pairs."""
    ranked = list(np.argsort(-heat, kind="stable"))
    order = []
    while ranked:
        order.append(ranked.pop(0))
        if ranked:
            order.append(ranked.pop())
    return np.asarray(order)


def reordered(ev: LayoutEvaluation, order: np.ndarray) -> LayoutEvaluation:
    """``ev`` with its pairs delivered in ``order`` (the same fields, currents and power,
    permuted at every placement)."""
    lay = ev.layout
    n_pairs = len(lay.pairs)
    index = [position * n_pairs + int(p) for position in range(lay.n_positions) for p in order]
    layout = replace(lay, pairs=tuple(lay.pairs[p] for p in order),
                     voltages_V=tuple(lay.voltages_V[p] for p in order))
    return replace(ev, layout=layout,
                   currents_A=tuple(tuple(row[p] for p in order) for row in ev.currents_A),
                   fields=tuple(ev.fields[i] for i in index) if ev.fields else (),
                   power=tuple(ev.power[i] for i in index) if ev.power else ())


def _describe(ctx: PlanContext, thermal: ThermalResult) -> str:
    parts = []
    for name in ctx.fine_target.critical:
        region = thermal.regions.get(name)
        if region is not None:
            parts.append(f"{name} peak {region.peak_temperature_C:.1f} C, damage "
                         f"{region.damage_volume_cm3 * 1e3:.1f} mm^3")
    return "; ".join(parts) or "no critical structure heated"


def thermal_stage(ctx: PlanContext, plan: LayoutEvaluation, at_limits: LayoutEvaluation
                  ) -> tuple[LayoutEvaluation, ThermalResult | None]:
    """The thermal model on ``plan`` and, if it damages a critical structure, the repairs of
    the module doc (``at_limits``: the same layout with every pair at its limit, where the
    voltage repairs start). Returns the plan kept and its thermal result."""
    opts, journal = ctx.options, ctx.journal
    if not opts.thermal:
        return plan, None
    journal.progress("thermal: bioheat model", 0.85)
    thermal = simulate_plan_heating(ctx, plan)
    journal.note("thermal", "bioheat model of the planned pulses", _describe(ctx, thermal))
    if not _damaged(ctx, thermal):
        return plan, thermal
    heat = _heat_per_pair(plan, thermal, ctx)
    Make = Callable[[], LayoutEvaluation | None]
    tries: list[tuple[str, Make]] = [("deliver the hottest pairs between the coolest",
                                      lambda: reordered(plan, interleaved(heat)))]
    if at_limits.fields and at_limits.power:
        hottest = np.argsort(-_heat_per_pair(at_limits, thermal, ctx), kind="stable")
        tries.append(("lower the voltages again, hottest pairs first",
                      lambda: lower_with(ctx.fine_eval, at_limits, FINE_SLACK, order=hottest)))
        volts = np.asarray(at_limits.layout.voltages_V, dtype=float)
        for k in (1, 2):
            caps = volts.copy()
            caps[hottest[:k]] *= CAP_FACTOR
            names = ", ".join("P{}-P{}".format(*(q + 1 for q in at_limits.layout.pairs[p]))
                              for p in hottest[:k])
            tries.append((f"cap {names} at {CAP_FACTOR:.0%} of its voltage",
                          lambda caps=caps: lower_with(ctx.fine_eval, at_limits, FINE_SLACK,
                                                       order=hottest, caps=caps)))
    for attempt, (label, make) in enumerate(tries[:opts.thermal_repairs]):
        if journal.out_of_time():
            break
        journal.progress(f"thermal: repair {attempt + 1}: {label}", 0.9)
        candidate = make()
        if candidate is None:
            journal.note("thermal repair", label, "no voltages within the caps keep the "
                                                  "coverage")
            continue
        if attempt > 0:  # new voltages: delivered interleaved as well
            candidate = reordered(candidate,
                                  interleaved(_heat_per_pair(candidate, thermal, ctx)))
        result = simulate_plan_heating(ctx, candidate)
        repaired = not _damaged(ctx, result)
        journal.note("thermal repair", label, _describe(ctx, result)
                     + (": repaired, kept" if repaired else ": still damaged"))
        if repaired:
            return candidate, result
    return plan, thermal
