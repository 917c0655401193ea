"""Stage 5, thermal: the bioheat model on the plan's pulses, and a plan that would damage a
critical structure repaired rather than only reported.

The thermal model (:func:`irelab.thermal.simulate_heating`: Pennes with Arrhenius damage) runs
on the confirmation grid's Joule power of every pair at every placement, in delivery order,
with the options' pulse schedule. If it finds thermal damage (Omega >= 1) in a critical
structure, the repairs below are tried in order, each simulated again, and the first that
leaves every critical structure undamaged is kept (at most ``PlanOptions.thermal_repairs``
simulations). Any new voltages or pairs are solved exactly, and a repair must keep the tumour
covered and its margin met when the plan had them. The pairs are ranked by the Joule energy
they put into the damaged voxels (the hottest first).

1. delivery order: the hottest pairs interleaved with the coolest, so the structure cools
   between them (same fields, no solve);
2. pair choice: the hottest pair dropped, every other pair the spacing limits allow solved at
   the limits (the plan's own pairs are there already) and the voltages lowered again, unless
   the plan at the limits already loses what the plan covered (lowering cannot win it back);
3. voltages: lowered again from the limits taking the hottest pairs first, so that they end up
   lowest and the others take over the coverage;
4. a cap: the hottest pair at most ``CAP_FACTOR`` of its voltage, the others free up to their
   limits, lowered again;
5. pair choice: the two hottest pairs dropped, as in 2;
6. a gentler protocol: the least damaging of the above delivered with fewer, shorter pulses
   and, further down :data:`GENTLER_PROTOCOLS`, longer pauses, each simulated in turn. Fewer and
   shorter pulses are a sourced repair, not a guess: in in vivo porcine liver, 50-90 pulses of
   50-100 us at 2250 V gave zones that did not differ significantly (Ben-David E et al., AJR
   198(1):W62-W68, 2012, abstract, read), which is why the lethal threshold here does not
   depend on the protocol (:mod:`irelab.case.tissues`); the protocol then lands inside that
   range, with the field, coverage and currents unchanged (the last-pulse current only falls
   with fewer pulses). The plan states the pulses and width in its protocol, and the pauses it
   needs in the protocol keys ``train_pause_s`` and ``pair_pause_s`` and its description.

Repairs 2-5 are delivered in the interleaved order. When none works, the least damaging plan
is kept and the thermal check fails with the damage in numbers (the journal says what each
repair gave).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

import numpy as np

from irelab.plan.coarse import at_limits as at_limits_of
from irelab.plan.coarse import try_evaluate, with_all_pairs
from irelab.plan.context import PlanContext
from irelab.plan.evaluate import LayoutEvaluation
from irelab.plan.options import FINE_SLACK
from irelab.plan.voltages import lower_with
from irelab.thermal.bioheat import (
    DamageBound,
    ThermalResult,
    damaged_volume_mm3,
    simulate_heating,
    thermal_tissues,
)
from irelab.thermal.schedule import PulseSchedule

__all__ = ["simulate_plan_heating", "thermal_stage", "reordered", "CAP_FACTOR",
           "GENTLER_PROTOCOLS", "schedule_text", "damaged_structures", "critical_damage_mm3"]

CAP_FACTOR = 0.85
"""A hot pair's voltage cap as a fraction of its voltage: Joule power ~ sigma(E) E^2 falls by
about 30 % (design choice: one step that the other pairs can usually make up)."""

GENTLER_PROTOCOLS: tuple[tuple[int, float, float, float], ...] = (
    (70, 70.0, 3.0, 5.0),
    (70, 70.0, 10.0, 30.0),
    (50, 70.0, 10.0, 30.0),
    (50, 70.0, 30.0, 60.0),
)
"""The gentler protocols tried in turn: (treatment pulses per pair, pulse width in us, pause
between trains in s, pause between pairs in s), each at most the usual pauses' length.

Pulses and width stay inside the in vivo range of equal zones (module doc): 70 pulses of 70 us
is the protocol Ben-David et al. gave at 3000 V; 50 pulses is the low end of their range; 70 us
is the shortest width of their high-voltage protocol (widths of 70-100 us are the clinical
range, Scheffer HJ et al., J Vasc Interv Radiol 25(7):997-1011, 2014). Pauses (design choices
on the heat's time scales, liver diffusivity alpha = 1.4e-7 m^2/s): 10 s between trains is
about ``r^2 / alpha`` for heat leaving a 1 mm neighbourhood of a needle (7 s), 30 s for a 2 mm
one (28 s); 60 s between pairs, twice that. The planner's journal on the segment-8 demo (bile
duct 7.6 mm from the tumour, 10 pairs at 3 placements, 10 test pulses before each pair's,
delivery order interleaved): 90 pulses of 90 us 65 mm^3 of the duct damaged (peak 54 C);
70 x 70 us 20 mm^3 (49 C); the same with 10 s / 30 s pauses 4 mm^3 (46 C); 50 x 70 us with
those pauses none (44.8 C). Before these, only 30 s / 60 s pauses with 90 x 90 us reduced the
damage, to 4 mm^3, at about three hours of delivery."""


def simulate_plan_heating(ctx: PlanContext, ev: LayoutEvaluation,
                          schedule: PulseSchedule | None = None,
                          stop: DamageBound | None = None) -> ThermalResult:
    """The thermal model on ``ev``'s power (every pair at every placement, delivery order),
    with ``schedule`` (default: the options'), stopped early at ``stop`` if given."""
    fine = ctx.fine_problem
    n_pairs = len(ev.layout.pairs)
    return simulate_heating(fine.grid, fine.labels, fine.tissue_names, ev.power,
                            schedule or ctx.options.schedule,
                            tissues=thermal_tissues(fine.materials),
                            position_starts=[p * n_pairs for p in range(1, ev.layout.n_positions)],
                            stop=stop)


def damaged_structures(critical: Iterable[str], thermal: ThermalResult) -> list[str]:
    """The ``critical`` structures the thermal result damages (Omega >= 1 somewhere)."""
    return [name for name in critical
            if name in thermal.regions and thermal.regions[name].damage_volume_cm3 > 0]


def critical_damage_mm3(critical: Iterable[str], thermal: ThermalResult) -> float:
    """The ``critical`` structures' damaged volume, summed as a :class:`DamageBound` sums it."""
    return damaged_volume_mm3(tuple(critical), {
        name: region.damage_volume_cm3 for name, region in thermal.regions.items()})


def _damaged(ctx: PlanContext, thermal: ThermalResult) -> list[str]:
    return damaged_structures(ctx.fine_target.critical, thermal)


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


def _describe(ctx: PlanContext, thermal: ThermalResult, bound: DamageBound | None = None
              ) -> str:
    parts = []
    at_least = "" if thermal.stopped_at_s is None else "at least "
    for name in ctx.fine_target.critical:
        region = thermal.regions.get(name)
        if region is not None:
            parts.append(f"{name} peak {at_least}{region.peak_temperature_C:.1f} C, damage "
                         f"{at_least}{region.damage_volume_cm3 * 1e3:.1f} mm^3")
    text = "; ".join(parts) or "no critical structure heated"
    if thermal.stopped_at_s is not None and bound is not None:
        text += (f" (stopped at t = {thermal.stopped_at_s:.0f} s of {thermal.duration_s:.0f} s:"
                 f" no less than the best plan's {bound.volume_mm3:.1f} mm^3)")
    return text


def _dropped(ctx: PlanContext, at_limits: LayoutEvaluation, hot: list[tuple[int, int]],
             keeps: Callable[[LayoutEvaluation], bool]) -> LayoutEvaluation | None:
    """The same probes with every pair the spacing limits allow except ``hot``, solved at the
    limits, voltages lowered (None when no pair is left or the solver fails).

    The pairs of ``at_limits`` keep their voltages there (they are at their limits already, so
    their fields are reused, not solved again); a pair the spacing adds starts at the voltage
    limit and is turned down to the current limit. When the plan at the limits does not
    ``keep`` what the plan covered, it is returned as it is, not lowered: lower voltages only
    shrink the zone, so the caller rejects it either way, with these numbers."""
    limits = ctx.limits
    layout = with_all_pairs(at_limits.layout, limits) or at_limits.layout
    kept = [p for p, pair in enumerate(layout.pairs) if pair not in hot]
    if not kept:
        return None
    layout = replace(layout, pairs=tuple(layout.pairs[p] for p in kept),
                     voltages_V=tuple(layout.voltages_V[p] for p in kept))
    solved = at_limits_of(ctx.fine_eval, try_evaluate(ctx.fine_eval, layout, base=at_limits),
                          limits)
    if solved is None or not keeps(solved):
        return solved
    return lower_with(ctx.fine_eval, solved, FINE_SLACK)


def _tried(ctx: PlanContext, label: str, ev: LayoutEvaluation, best: ThermalResult,
           schedule: PulseSchedule | None = None) -> tuple[ThermalResult, bool]:
    """A repair simulated and its outcome in the journal: the thermal result and whether it
    spares every critical structure. Unless the options ask for complete simulations, the
    simulation stops once the repair damages the critical structures no less than ``best``
    (the best plan so far, which is damaged): from then on it can neither be kept nor become
    the best (damage only grows), so the planner decides as it would on the complete
    simulation, and the journal says "at least"."""
    bound = DamageBound(tuple(ctx.fine_target.critical), _damage_mm3(ctx, best))
    result = simulate_plan_heating(ctx, ev, schedule,
                                   stop=bound if ctx.options.thermal_stop_early else None)
    repaired = not _damaged(ctx, result)
    ctx.journal.note("thermal repair", label, _describe(ctx, result, bound)
                     + (": repaired, kept" if repaired else ": still damaged"))
    return result, repaired


def _damage_mm3(ctx: PlanContext, thermal: ThermalResult) -> float:
    return critical_damage_mm3(ctx.fine_target.critical, thermal)


def thermal_stage(ctx: PlanContext, plan: LayoutEvaluation, at_limits: LayoutEvaluation
                  ) -> tuple[LayoutEvaluation, ThermalResult | None, PulseSchedule]:
    """The thermal model on ``plan`` and, if it damages a critical structure, the repairs of
    the module doc (``at_limits``: the same layout with every pair at its limit, where the
    voltage repairs start). Returns the plan kept, its thermal result and the pulse schedule
    it needs (the options' one unless the pauses had to be lengthened)."""
    opts, journal = ctx.options, ctx.journal
    if not opts.thermal:
        return plan, None, opts.schedule
    journal.progress("thermal: bioheat model", 0.85)
    thermal = simulate_plan_heating(ctx, plan)
    journal.note("thermal", "bioheat model of the planned pulses", _describe(ctx, thermal))
    if not _damaged(ctx, thermal):
        return plan, thermal, opts.schedule
    heat = _heat_per_pair(plan, thermal, ctx)
    hottest = np.argsort(-_heat_per_pair(at_limits, thermal, ctx), kind="stable")
    hot_pairs = [at_limits.layout.pairs[p] for p in hottest]
    names = ["P{}-P{}".format(*(q + 1 for q in pair)) for pair in hot_pairs]
    volts = np.asarray(at_limits.layout.voltages_V, dtype=float)
    caps = volts.copy()
    caps[hottest[:1]] *= CAP_FACTOR
    wanted = ctx.margin(plan)

    def keeps(candidate: LayoutEvaluation) -> bool:
        """Whether ``candidate`` covers what the plan covered (the tumour, and the margin)."""
        kept = ctx.margin(candidate)
        return not ((wanted.tumour_covered and not kept.tumour_covered)
                    or (wanted.acceptable and not kept.acceptable))

    Make = Callable[[], LayoutEvaluation | None]
    tries: list[tuple[str, Make]] = [
        ("deliver the hottest pairs between the coolest",
         lambda: reordered(plan, interleaved(heat))),
        (f"drop {names[0]}, every other pair the spacing allows",
         lambda: _dropped(ctx, at_limits, hot_pairs[:1], keeps)),
        ("lower the voltages again, hottest pairs first",
         lambda: lower_with(ctx.fine_eval, at_limits, FINE_SLACK, order=hottest)),
        (f"cap {names[0]} at {CAP_FACTOR:.0%} of its voltage",
         lambda: lower_with(ctx.fine_eval, at_limits, FINE_SLACK, order=hottest, caps=caps)),
        (f"drop {', '.join(names[:2])}, every other pair the spacing allows",
         lambda: _dropped(ctx, at_limits, hot_pairs[:2], keeps)),
    ]
    best, best_thermal, best_schedule = plan, thermal, opts.schedule
    for attempt, (label, make) in enumerate(tries[:opts.thermal_repairs]):
        if journal.out_of_time():
            break
        journal.progress(f"thermal: repair {attempt + 1}: {label}", 0.9)
        candidate = make()
        if candidate is None:
            journal.note("thermal repair", label, "no such plan keeps the coverage")
            continue
        if attempt > 0:  # new voltages or pairs: delivered interleaved as well
            candidate = reordered(candidate,
                                  interleaved(_heat_per_pair(candidate, thermal, ctx)))
        if not keeps(candidate):
            journal.note("thermal repair", label, f"{ctx.describe(candidate)}: loses what the "
                                                  "plan covered, not kept")
            continue
        result, repaired = _tried(ctx, label, candidate, best_thermal)
        if repaired:
            return candidate, result, opts.schedule
        if _damage_mm3(ctx, result) < _damage_mm3(ctx, best_thermal):
            best, best_thermal = candidate, result
    for pulses, width_us, train_pause_s, pair_pause_s in GENTLER_PROTOCOLS[
            :max(0, opts.thermal_repairs - len(tries))]:
        if journal.out_of_time():
            break
        usual = opts.schedule
        gentler = replace(usual, pulses_per_pair=min(pulses, usual.pulses_per_pair),
                          pulse_width_us=min(width_us, usual.pulse_width_us),
                          train_pause_s=max(train_pause_s, usual.train_pause_s),
                          pair_pause_s=max(pair_pause_s, usual.pair_pause_s))
        label = schedule_text(gentler)
        journal.progress(f"thermal: repair: {label}", 0.95)
        result, repaired = _tried(ctx, label, best, best_thermal, gentler)
        if repaired:
            return best, result, gentler
        if _damage_mm3(ctx, result) < _damage_mm3(ctx, best_thermal):
            best_thermal, best_schedule = result, gentler
    return best, best_thermal, best_schedule


def schedule_text(schedule: PulseSchedule) -> str:
    """What a repaired schedule asks of the operator, in words."""
    return (f"{schedule.pulses_per_pair} pulses of {schedule.pulse_width_us:g} us per pair, "
            f"{schedule.train_pause_s:g} s between trains and {schedule.pair_pause_s:g} s "
            "between pairs")
