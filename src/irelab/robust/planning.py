"""Robust planning: a plan whose coverage probability under the uncertainty model reaches a
goal, by planning against raised lethal thresholds chosen from the sampled statistics and
checking each plan by Monte Carlo.

The planner (:func:`irelab.plan.plan_treatment`) covers the tumour plus a margin on nominal
values. A sample misses the tumour when some tumour voxel's largest |E| stays below that
voxel's (sampled) lethal threshold; how far below is the sample's field reserve ``r``, the least
ratio of |E| to the threshold over the tumour (:attr:`SampleOutcome.field_reserve`; ``r >= 1``
exactly when the sample covers it). A plan whose field over the tumour were ``1 / r`` times
stronger would have covered that sample, whatever made it miss: probes off their tracks, a
conductivity that starves the tumour of field, or a tissue that needs more field to die. So
the instrument is the field itself: each round plans against the case's lethal thresholds
times a factor ``f`` (:attr:`PlanOptions.threshold_factor`; the plan file keeps the tissues'
own thresholds), and the next round multiplies ``f`` by the goal's quantile of the samples'
``1 / r``, rounded up to :data:`FACTOR_STEP` and at least one step more. The requested margin
stays as asked.

Why not a wider margin. A distance margin buys field at the tumour's surface only where the
zone's edge moves outwards; on the segment-8 demo (30 mm tumour beside a bile duct, six probes)
three rounds widening the margin 5 -> 7 -> 9 mm left the probability at 0.22 -> 0.33 -> about
0.2, because the misses were shallow (margin -0.5 mm: tumour voxels within a voxel of the
zone's edge) and came as much from the tissue as from placement: a threshold 4.8 % higher
alone, with the probes where planned, left tumour voxels uncovered, because the planner had
lowered the voltages until the weakest target voxel was 0.3 % above its threshold.

When the goal is out of reach. The planner reports whether it covered the tumour against the
raised thresholds within the generator's limits (3000 V, 50 A, six probes): whether it
*reached* the factor. A factor it could not reach cannot be planned, and neither can any higher
one; the factor the goal wants may also pass :data:`MAX_THRESHOLD_FACTOR`. The rounds then close
in on the most field that can be planned (:func:`next_threshold_factor`): the largest factor
allowed if it was not tried yet, else half-way between the highest factor reached and the
lowest not reached, so that the plan chosen is the most probable one the limits allow, not the
last one that happened to be reached. They stop, with the reason and the numbers, when no
untried factor is left between the two, when the first round (the plain plan) is not reached
at all, or when the samples that cannot be simulated (probes that leave the domain or touch)
are alone more misses than the goal allows. The plan chosen is then the most probable of the
rounds among those whose limits all held.

Judged as delivered, with current headroom. A plan that draws just under the generator's
current limit on nominal tissue passes it in a patient whose liver conducts more, and the
generator stops that pair; the check then delivers it again at the generator's suggested
voltage (:mod:`irelab.robust.evaluate`), as a real delivery would go. The goal is judged on
that probability, as delivered, wherever the check evaluated it, and so is the early stop and
the choice among rounds. When a round lost samples to the current (fewer covered as delivered
than as planned), more field cannot win them back: the next round plans the same field with the
planner's current limit lowered to the next rung of :data:`HEADROOM_LADDER` (80 %, then 60 % of
the limit the rounds started with), and the threshold factor is then raised at that limit
(factors reached or not at a higher limit say nothing about a lower one, except that one not
reached stays out of reach).

A check stops as soon as its verdict is known: once the first ``k`` samples (in sample order,
``k`` at least :data:`MIN_DECIDING_SAMPLES`) hold more misses than the goal allows among all of
them, no later sample can lift the round to the goal, and the next factor is estimated from
those ``k`` samples. The round's verdict is the one the whole check would have given; only the
next factor comes from fewer samples. The stopping point depends on the samples alone, never on
which worker finished first.

The price is what the robust plan costs over the plain one: healthy tissue ablated (measured on
each round's unperturbed check, against the tissues' own thresholds), voltages, probes,
placements and current headroom.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from irelab.case import Case
from irelab.plan import PlanOptions, PlanResult, plan_treatment
from irelab.plan.layout import track_mask
from irelab.robust.evaluate import SampleOutcome
from irelab.robust.model import UncertaintyModel
from irelab.robust.statistics import Interval, json_number
from irelab.robust.study import RobustOptions, RobustResult, robust_study
from irelab.simulation.lethal import lethal_zone

__all__ = ["MAX_ROUNDS", "MAX_THRESHOLD_FACTOR", "FACTOR_STEP", "INSTRUMENT_CHECKS",
           "MIN_DECIDING_SAMPLES", "RobustPlanStep", "RobustPlanResult", "allowed_misses",
           "next_threshold_factor", "plan_robust", "raised_threshold_factor"]

MAX_ROUNDS = 5
"""Plans (each checked by Monte Carlo) before giving up: four for the field, and one more
since a round may go to current headroom (design choice)."""

MAX_THRESHOLD_FACTOR = 1.5
"""The highest factor on the lethal thresholds planned against: half as much field again over
the whole tumour (design choice: beyond the +-9 % spread of the clinical best-fit threshold and
the field lost to a 2.95 mm lateral placement error at the zone's edge together; a plan that
needs more is not a question of margins)."""

FACTOR_STEP = 0.005
"""Threshold factors are whole multiples of half a per cent, and each round raises the factor
by at least this (design choice: above the planner's 0.3 % coverage slack,
:data:`irelab.plan.options.FINE_SLACK`, so that a raised round always asks for more field)."""

MIN_DECIDING_SAMPLES = 32
"""A check stops early (module doc) only after at least this many samples: the next factor
then rests on a balanced block of the scrambled Sobol sequence (a power of two) rather than on
the few samples up to the first misses (design choice)."""


HEADROOM_LADDER = (0.8, 0.6)
"""The planner's current limit, as a share of the one the rounds started with, that a round
lowers it to when the current cost coverage: the check's probability as delivered (pairs the
generator would stop, delivered again at its suggested voltage) fell below the probability as
planned. Design choice, from one measurement on the demo phantom (100 samples, default model):
planned to the generator's 50 A, 36 % of the samples covered as planned and 17 % as delivered;
planned to 40 A (0.8), 46 % and 45 %. A lower current limit costs field (shorter electrodes,
more placements), so the ladder is short."""

INSTRUMENT_CHECKS = ("tumour", "margin")
"""The plan's constraint checks that robust planning uses as its instrument, measured against
the raised thresholds (see :attr:`RobustPlanStep.safe`)."""


def allowed_misses(samples: int, target_probability: float) -> int:
    """The most misses among ``samples`` with which the share covered still reaches
    ``target_probability``."""
    return samples - math.ceil(target_probability * samples - 1e-9)


@dataclass(frozen=True, eq=False)
class RobustPlanStep:
    """One round: the margin and the threshold factor planned with, the plan, and its Monte
    Carlo check."""

    margin_mm: float
    threshold_factor: float
    plan: PlanResult
    study: RobustResult
    current_cap_A: float | None = None
    """The planner's current limit over each pair's whole train in this round (None: not
    recorded)."""

    @property
    def judged(self) -> Interval:
        """The coverage probability the goal is judged on: as delivered when the check
        evaluated it (the pairs the generator would stop for over-current delivered again at
        its suggested voltage, as a real delivery would go), else as planned."""
        statistics = self.study.statistics
        delivered = statistics.coverage_probability_as_delivered
        return statistics.coverage_probability if delivered is None else delivered

    @property
    def judged_as(self) -> str:
        """``delivered`` or ``planned``: which probability :attr:`judged` is."""
        return ("planned" if self.study.statistics.coverage_probability_as_delivered is None
                else "delivered")

    @property
    def probability(self) -> float:
        return self.judged.estimate

    @property
    def current_cost_coverage(self) -> bool:
        """Fewer samples covered as delivered than as planned: the generator's current limit,
        not the field, lost them."""
        statistics = self.study.statistics
        delivered = statistics.coverage_probability_as_delivered
        return (delivered is not None
                and delivered.successes < statistics.coverage_probability.successes)

    @property
    def safe(self) -> bool:
        """Every limit of the plan holds: the constraints other than the tumour's and the
        margin's coverage (against the raised thresholds an instrument here: the goal is the
        tumour's coverage probability) hold, and the unperturbed plan covers the tumour
        against the tissues' own thresholds."""
        return (self.study.nominal.covered
                and all(c.ok for c in self.plan.checks if c.name not in INSTRUMENT_CHECKS))

    @property
    def reached(self) -> bool:
        """The planner covered the tumour against the raised thresholds (within its limits)."""
        margin = self.plan.margin
        return margin is not None and margin.tumour_covered

    @property
    def healthy_cm3(self) -> float:
        """Healthy tissue in the unperturbed plan's lethal zone (outside the tumour, its margin,
        the critical structures and the needle tracks), against the tissues' own thresholds.
        The planner's own figure is against the raised ones and counts only what those kill;
        for the first round (factor 1) the two are the same."""
        plan = self.plan
        target = plan.target
        max_e = plan.fine.max_e_V_per_m
        conductor = track_mask(plan.fine.layout, target) | (max_e == 0)
        own = lethal_zone(max_e, target.lethal_threshold_V_per_m / self.threshold_factor,
                          conductor)
        healthy = own & ~target.target & ~target.tumour & ~target.critical_any
        return float(healthy.sum()) * target.grid.voxel_volume_m3 * 1e6

    def reserves(self) -> np.ndarray:
        """Each simulated sample's field reserve (:attr:`SampleOutcome.field_reserve`)."""
        reserves = self.study.statistics.reserve_values
        return reserves[np.isfinite(reserves) & (reserves > 0)]

    def describe(self) -> dict:
        protocol = self.plan.case.protocol
        volts = [p.voltage_V for p in protocol.pairs]
        interval = self.study.statistics.coverage_probability
        over = self.study.statistics.current_over_limit
        delivered = self.study.statistics.coverage_probability_as_delivered
        return {"margin_mm": round(self.margin_mm, 3),
                "threshold_factor": self.threshold_factor,
                "current_cap_A": self.current_cap_A,
                "judged_as": self.judged_as,
                "coverage_probability": interval.to_json(),
                "feasible": self.plan.feasible, "safe": self.safe,
                "reached": self.reached,
                "nominal_coverage": round(self.plan.coverage, 6),
                "healthy_volume_cm3": round(self.healthy_cm3, 3),
                "probes": len(self.plan.case.probes), "pairs": len(protocol.pairs),
                "placements": protocol.positions,
                "max_voltage_V": max(volts), "mean_voltage_V": round(float(np.mean(volts)), 1),
                "max_current_A": round(max(p.predicted_current_A or 0 for p in protocol.pairs),
                                       2),
                "nominal_margin_mm": round(self.study.nominal.margin_mm, 3),
                "field_reserve_5_percent": json_number(
                    float(np.quantile(self.reserves(), 0.05)) if self.reserves().size
                    else float("nan"), 4),
                "samples_drawn": len(self.study.samples),
                "stopped_after": self.study.stopped_after,
                "current_over_limit_probability": None if over is None else over.to_json(),
                "coverage_probability_as_delivered": None if delivered is None
                else delivered.to_json()}


@dataclass(frozen=True, eq=False)
class RobustPlanResult:
    """Every round, the plan chosen (the first to meet the goal, else the most probable safe
    one) and whether it met the goal; ``stopped_because`` says why the rounds ended without
    it."""

    target_probability: float
    steps: tuple[RobustPlanStep, ...]
    chosen: RobustPlanStep
    met: bool
    stopped_because: str | None = None

    def price(self) -> dict:
        """The chosen plan against the plain one (the first round)."""
        base, chosen = self.steps[0].describe(), self.chosen.describe()
        return {"healthy_volume_cm3": round(chosen["healthy_volume_cm3"]
                                            - base["healthy_volume_cm3"], 3),
                "probes": chosen["probes"] - base["probes"],
                "placements": chosen["placements"] - base["placements"],
                "max_voltage_V": chosen["max_voltage_V"] - base["max_voltage_V"],
                "mean_voltage_V": round(chosen["mean_voltage_V"] - base["mean_voltage_V"], 1),
                "margin_mm": round(chosen["margin_mm"] - base["margin_mm"], 3),
                "threshold_factor": round(chosen["threshold_factor"]
                                          - base["threshold_factor"], 6),
                "current_cap_A": (None if None in (chosen["current_cap_A"],
                                                   base["current_cap_A"])
                                  else round(chosen["current_cap_A"] - base["current_cap_A"],
                                             3))}

    def to_json(self) -> dict:
        return {"target_probability": self.target_probability, "met": self.met,
                "rounds": [s.describe() for s in self.steps],
                "chosen_round": self.steps.index(self.chosen), "price": self.price(),
                "stopped_because": self.stopped_because}

    def summary_lines(self) -> list[str]:
        lines = []
        for k, step in enumerate(self.steps):
            d = step.describe()
            p = d["coverage_probability"]
            checked = (f"{p['trials']} samples" if d["stopped_after"] is None else
                       f"stopped after {p['trials']} of {d['samples_drawn']} samples: "
                       f"{p['trials'] - p['successes']} misses, more than the goal allows")
            against = ("the tissues' lethal thresholds" if d["threshold_factor"] == 1.0 else
                       f"{d['threshold_factor']:.3f} x the lethal thresholds"
                       + ("" if d["reached"] else ", tumour NOT covered against them"))
            cap = ("" if d["current_cap_A"] is None else
                   f", currents to at most {d['current_cap_A']:g} A")
            lines.append(f"round {k + 1}: margin {d['margin_mm']:.1f} mm, planned against "
                         f"{against}{cap} -> P(100 % coverage) "
                         f"{p['estimate']:.3f} (95 % interval {p['low']:.3f}-{p['high']:.3f}, "
                         f"{checked}); {d['probes']} probes, {d['placements']} "
                         f"placement(s), healthy {d['healthy_volume_cm3']:.2f} cm3, "
                         f"{'every limit held' if d['safe'] else 'a limit NOT held'}"
                         + _over_limit_text(d["current_over_limit_probability"],
                                            d["coverage_probability_as_delivered"]))
        price = self.price()
        verdict = "met" if self.met else "NOT met"
        lines.append(f"goal P >= {self.target_probability:g} {verdict} with round "
                     f"{self.steps.index(self.chosen) + 1} (judged as "
                     f"{self.chosen.judged_as}); price over the plain plan: "
                     f"healthy {price['healthy_volume_cm3']:+.2f} cm3, probes "
                     f"{price['probes']:+d}, placements {price['placements']:+d}, max voltage "
                     f"{price['max_voltage_V']:+.0f} V, mean voltage "
                     f"{price['mean_voltage_V']:+.0f} V, lethal thresholds planned against "
                     f"{price['threshold_factor']:+.1%}")
        if self.stopped_because:
            lines.append(f"stopped: {self.stopped_because}")
        return lines


def _over_limit_text(over: dict | None, delivered: dict | None = None) -> str:
    """The samples whose current would pass the generator's limit, for a round's line, and the
    coverage probability with those pairs delivered again at the generator's suggested
    voltage."""
    if over is None or not over["trials"] or not over["successes"]:
        return ""
    text = (f"; current over the generator's limit in {over['successes']}/{over['trials']} "
            "samples")
    if delivered is not None:
        text += (f" (with those pairs delivered again at the generator's suggested voltage, "
                 f"P(100 % coverage) {delivered['estimate']:.3f})")
    return text


def raised_threshold_factor(factor: float, reserves: np.ndarray, samples: int,
                            target_probability: float) -> float:
    """The threshold factor of the next round after one planned with ``factor``: ``factor``
    times the ``target_probability`` quantile of the samples' ``1 / field_reserve``, rounded
    up to :data:`FACTOR_STEP` and at least one step more (module doc). Samples that could not
    be simulated (``samples - len(reserves)``) count as misses, so a higher quantile of the
    rest is taken; infinite when they alone miss the goal (no field helps)."""
    simulated = len(reserves)
    share = target_probability * samples / max(simulated, 1)
    if share > 1 or simulated == 0:
        return math.inf
    needed = factor * float(np.quantile(1.0 / np.asarray(reserves), share,
                                        method="inverted_cdf"))
    steps = max(math.ceil(needed / FACTOR_STEP - 1e-9), round(factor / FACTOR_STEP) + 1)
    return round(steps * FACTOR_STEP, 6)


def _out_of_reach(step: RobustPlanStep) -> str:
    """Why a round that could not cover the tumour against its raised thresholds ends the
    rounds, with the planner's numbers and what it tried."""
    margin, plan = step.plan.margin, step.plan
    short = ("" if margin is None else
             f" ({margin.tumour_short} tumour voxels short, the worst "
             f"{100 * (1 - 1 / margin.tumour_worst_ratio):.1f} % below)")
    stages = list(dict.fromkeys(s.stage for s in plan.tried))
    return (f"out of reach: against {step.threshold_factor:.3f} x the lethal thresholds the "
            f"planner could not cover the tumour within the limits{short}; it tried "
            f"{', '.join(stages) or 'the layout search'}; no higher factor can be planned")


def next_threshold_factor(steps: Sequence[RobustPlanStep], target_probability: float
                          ) -> tuple[float | None, str]:
    """The factor of the next round, or ``None`` and why the rounds end (module doc).

    The factor wanted is :func:`raised_threshold_factor` of the highest round the planner
    reached (covered the tumour against its thresholds). It is planned when it lies below every
    factor the planner could not reach and within :data:`MAX_THRESHOLD_FACTOR`. Otherwise the
    rounds close in on the most field that can be planned: the largest factor allowed, if not
    yet tried, else half-way (to :data:`FACTOR_STEP`) between the highest factor reached and
    the lowest not reached, while such a factor is left between them."""
    reached = [s for s in steps if s.reached]
    high = max(reached, key=lambda s: s.threshold_factor)
    wanted = raised_threshold_factor(high.threshold_factor, high.reserves(),
                                     high.study.statistics.samples, target_probability)
    if not math.isfinite(wanted):
        return None, ("out of reach: the samples whose probes cannot be placed are alone more "
                      "misses than the goal allows")
    lowest_out = min((s.threshold_factor for s in steps if not s.reached), default=math.inf)
    if wanted < lowest_out and wanted <= MAX_THRESHOLD_FACTOR + 1e-9:
        return wanted, ""
    ceiling = min(lowest_out, MAX_THRESHOLD_FACTOR)
    tried = {s.threshold_factor for s in steps}
    if ceiling == MAX_THRESHOLD_FACTOR and ceiling not in tried and ceiling < lowest_out:
        return ceiling, ""
    halfway = round(math.ceil((high.threshold_factor + ceiling) / 2 / FACTOR_STEP - 1e-9)
                    * FACTOR_STEP, 6)
    if high.threshold_factor < halfway < ceiling and halfway not in tried:
        return halfway, ""
    limit = (f"the planner reached {high.threshold_factor:.3f} x and could not cover the "
             f"tumour against {lowest_out:.3f} x" if math.isfinite(lowest_out) else
             f"the {MAX_THRESHOLD_FACTOR:g} x planned at most was reached")
    return None, (f"out of reach: the goal needs about {wanted:.3f} x the lethal thresholds' "
                  f"field; {limit}")


def plan_robust(case: Case, options: PlanOptions, target_probability: float,
                model: UncertaintyModel, study: RobustOptions,
                stage: Callable[[str, float], None] | None = None,
                sample: Callable | None = None) -> RobustPlanResult:
    """Plan ``case`` so that the coverage probability under ``model`` reaches
    ``target_probability`` (see the module docstring). ``stage(text, fraction)`` hears of each
    planning stage and ``sample(done, total, outcome)`` of each Monte Carlo sample."""
    if not 0 < target_probability < 1:
        raise ValueError(f"target_probability must be in (0, 1), got {target_probability}")
    if options.fine_spacing_m >= options.limits.probe_diameter_m:
        raise ValueError("the confirmation grid must be finer than the probes' diameter (see "
                         "irelab.robust.study.check_plan)")
    tell = stage or (lambda text, fraction: None)
    allowed = allowed_misses(study.samples, target_probability)

    def stop(first: Sequence[SampleOutcome]) -> bool:
        """The round is decided: more misses than the goal allows, as delivered where the
        samples say (module doc)."""
        return (len(first) >= MIN_DECIDING_SAMPLES
                and sum(not (o.covered if o.covered_as_delivered is None
                             else o.covered_as_delivered) for o in first) > allowed)

    margin_mm = options.margin_m * 1e3
    factor = options.threshold_factor
    ladder = [round(share * options.limits.max_current_A, 1) for share in HEADROOM_LADDER]
    cap = options.limits.max_current_A
    steps: list[RobustPlanStep] = []
    reason = f"{MAX_ROUNDS} rounds planned and checked"
    for round_ in range(1, MAX_ROUNDS + 1):
        label = (f"round {round_}" if factor == 1.0
                 else f"round {round_}, lethal thresholds x{factor:.3f}")
        if cap != options.limits.max_current_A:
            label += f", currents to {cap:g} A"
        planned = replace(options, threshold_factor=factor,
                          limits=replace(options.limits, max_current_A=cap))
        result = plan_treatment(case, planned, lambda text, fraction, label=label: tell(
            f"{label}: plan: {text}", fraction))
        tell(f"{label}: Monte Carlo check of the plan", 1.0)
        checked = robust_study(result.case, model, study, progress=sample, stop=stop)
        step = RobustPlanStep(margin_mm, factor, result, checked, cap)
        steps.append(step)
        if step.probability >= target_probability and step.safe:
            return RobustPlanResult(target_probability, tuple(steps), step, True)
        at_cap = [s for s in steps if s.current_cap_A == cap]
        if not any(s.reached for s in at_cap):
            reason = _out_of_reach(step)
            break
        if step.reached and step.current_cost_coverage and ladder:
            cap = ladder.pop(0)  # headroom first, at the same field (module doc)
            continue
        factor, why = next_threshold_factor(at_cap, target_probability)
        if factor is None:
            reason = why
            break
    best = max(steps, key=lambda s: (s.safe, s.probability))
    return RobustPlanResult(target_probability, tuple(steps), best, False, reason)
