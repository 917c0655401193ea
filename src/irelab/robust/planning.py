"""Robust planning: a plan whose coverage probability under the uncertainty model reaches a
goal, by planning on a wider margin chosen from the sampled statistics and checking it by Monte
Carlo.

The planner (:func:`irelab.plan.plan_treatment`) covers the tumour plus a margin on nominal
values. A sample of the uncertainty model eats into the margin the plan achieved: if the
unperturbed plan's minimal margin is ``M0`` and a sample's is ``M``, the sample lost
``d = M0 - M`` and missed the tumour when ``d >= M0`` (a margin of 0 or less: a tumour voxel
centre outside the zone; :func:`irelab.validation.minimal_margin_mm`). The share of samples
with ``d < M0`` is the coverage probability, so a plan whose achieved margin is at least the
``P``-quantile of ``d`` covers the tumour with probability about ``P``. The planner achieves
at least the margin it is asked for (often more: the margin a layout reaches moves in steps),
so each round asks for that quantile itself, plus half a voxel (a missed voxel's centre is
outside the zone by up to a voxel more than its measured margin says), in whole voxels, and at
least one voxel more than the last round: a miss the margin does not explain, e.g. a tissue
whose field falls short, is still helped by a wider zone. (Widening the last request by
``q_P(d) - M0`` instead stalls when the plan overshot its request: on the segment-8 demo, asked
for 5 mm, the plan achieved 6.0 mm, three samples in four missed by under a voxel, and the
next request was 6 mm, which the same layout already met.) Each new plan is checked by Monte
Carlo with the same samples (same seed), until the goal is met or ``MAX_ROUNDS`` rounds have
run. The loss ``d`` depends on how the zone's edge moves, which a wider margin changes little,
so one or two rounds usually suffice.

A check stops as soon as its verdict is known: once the first ``k`` samples (in sample order,
``k`` at least :data:`MIN_DECIDING_SAMPLES`) hold more misses than the goal allows among all of
them, no later sample can lift the round to the goal, and the widening is estimated from those
``k`` samples. The round's verdict is the one the whole check would have given; only the next
margin comes from fewer samples. The stopping point depends on the samples alone, never on
which worker finished first.

The price is what the robust plan costs over the plain one: healthy tissue ablated, voltages,
probes and placements.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from irelab.case import Case
from irelab.plan import PlanOptions, PlanResult, plan_treatment
from irelab.robust.evaluate import SampleOutcome
from irelab.robust.model import UncertaintyModel
from irelab.robust.study import RobustOptions, RobustResult, robust_study

__all__ = ["MAX_ROUNDS", "MAX_MARGIN_MM", "MIN_DECIDING_SAMPLES", "RobustPlanStep",
           "RobustPlanResult", "allowed_misses", "plan_robust", "widened_margin_mm"]

MAX_ROUNDS = 4
"""Plans (each checked by Monte Carlo) before giving up."""

MAX_MARGIN_MM = 15.0
"""The widest planning margin tried: wider targets need more probes than a generator's six and
3000 V cover (design choice, after the segment-8 phantom at 5 mm already used six probes)."""


MIN_DECIDING_SAMPLES = 32
"""A check stops early (module doc) only after at least this many samples: the widening then
rests on a balanced block of the scrambled Sobol sequence (a power of two) rather than on the
few samples up to the first misses (design choice)."""


def allowed_misses(samples: int, target_probability: float) -> int:
    """The most misses among ``samples`` with which the share covered still reaches
    ``target_probability``."""
    return samples - math.ceil(target_probability * samples - 1e-9)


@dataclass(frozen=True, eq=False)
class RobustPlanStep:
    """One round: the margin planned with, the plan, and its Monte Carlo check."""

    margin_mm: float
    plan: PlanResult
    study: RobustResult

    @property
    def probability(self) -> float:
        return self.study.probability

    @property
    def safe(self) -> bool:
        """Every constraint of the plan holds except, perhaps, full coverage of the widened
        margin (an instrument here: the goal is the tumour's coverage probability)."""
        return all(c.ok for c in self.plan.checks if c.name != "coverage")

    def losses_mm(self) -> np.ndarray:
        """Each simulated sample's loss of margin against the unperturbed plan."""
        margins = self.study.statistics.margin_values
        return self.study.nominal.margin_mm - margins[np.isfinite(margins)]

    def describe(self) -> dict:
        protocol = self.plan.case.protocol
        volts = [p.voltage_V for p in protocol.pairs]
        interval = self.study.statistics.coverage_probability
        return {"margin_mm": round(self.margin_mm, 3),
                "coverage_probability": interval.to_json(),
                "feasible": self.plan.feasible, "safe": self.safe,
                "nominal_coverage": round(self.plan.coverage, 6),
                "healthy_volume_cm3": round(self.plan.healthy_cm3, 3),
                "probes": len(self.plan.case.probes), "pairs": len(protocol.pairs),
                "placements": protocol.positions,
                "max_voltage_V": max(volts), "mean_voltage_V": round(float(np.mean(volts)), 1),
                "max_current_A": round(max(p.predicted_current_A or 0 for p in protocol.pairs),
                                       2),
                "nominal_margin_mm": round(self.study.nominal.margin_mm, 3),
                "samples_drawn": len(self.study.samples),
                "stopped_after": self.study.stopped_after}


@dataclass(frozen=True, eq=False)
class RobustPlanResult:
    """Every round, the plan chosen (the first to meet the goal, else the most probable) and
    whether it met the goal."""

    target_probability: float
    steps: tuple[RobustPlanStep, ...]
    chosen: RobustPlanStep
    met: bool

    def price(self) -> dict:
        """The chosen plan against the plain one (the first round)."""
        base, chosen = self.steps[0].describe(), self.chosen.describe()
        return {"healthy_volume_cm3": round(chosen["healthy_volume_cm3"]
                                            - base["healthy_volume_cm3"], 3),
                "probes": chosen["probes"] - base["probes"],
                "placements": chosen["placements"] - base["placements"],
                "max_voltage_V": chosen["max_voltage_V"] - base["max_voltage_V"],
                "mean_voltage_V": round(chosen["mean_voltage_V"] - base["mean_voltage_V"], 1),
                "margin_mm": round(chosen["margin_mm"] - base["margin_mm"], 3)}

    def to_json(self) -> dict:
        return {"target_probability": self.target_probability, "met": self.met,
                "rounds": [s.describe() for s in self.steps],
                "chosen_round": self.steps.index(self.chosen), "price": self.price()}

    def summary_lines(self) -> list[str]:
        lines = []
        for k, step in enumerate(self.steps):
            d = step.describe()
            p = d["coverage_probability"]
            checked = (f"{p['trials']} samples" if d["stopped_after"] is None else
                       f"stopped after {p['trials']} of {d['samples_drawn']} samples: "
                       f"{p['trials'] - p['successes']} misses, more than the goal allows")
            lines.append(f"round {k + 1}: margin {d['margin_mm']:.1f} mm -> P(100 % coverage) "
                         f"{p['estimate']:.3f} (95 % interval {p['low']:.3f}-{p['high']:.3f}, "
                         f"{checked}); {d['probes']} probes, {d['placements']} "
                         f"placement(s), healthy {d['healthy_volume_cm3']:.2f} cm3, "
                         f"{'every limit held' if d['safe'] else 'a limit NOT held'}")
        price = self.price()
        verdict = "met" if self.met else "NOT met"
        lines.append(f"goal P >= {self.target_probability:g} {verdict} with round "
                     f"{self.steps.index(self.chosen) + 1}; price over the plain plan: "
                     f"healthy {price['healthy_volume_cm3']:+.2f} cm3, probes "
                     f"{price['probes']:+d}, placements {price['placements']:+d}, max voltage "
                     f"{price['max_voltage_V']:+.0f} V, mean voltage "
                     f"{price['mean_voltage_V']:+.0f} V, margin {price['margin_mm']:+.1f} mm")
        return lines


def widened_margin_mm(margin_mm: float, losses_mm: np.ndarray, samples: int,
                      target_probability: float, spacing_mm: float) -> float:
    """The margin of the next round after one planned with ``margin_mm``: the
    ``target_probability`` quantile of the samples' losses of margin plus half a voxel, in
    whole voxels, and at least one voxel wider (see the module docstring). Samples that could
    not be simulated (``samples - len(losses_mm)``) count as misses, so a higher quantile of
    the rest is taken; when they alone miss the goal, two voxels wider."""
    simulated = len(losses_mm)
    share = target_probability * samples / max(simulated, 1)
    if share >= 1 or simulated == 0:
        return margin_mm + 2 * spacing_mm
    needed = float(np.quantile(losses_mm, share, method="inverted_cdf")) + spacing_mm / 2
    return max(margin_mm + spacing_mm, math.ceil(needed / spacing_mm - 1e-9) * spacing_mm)


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
        """The round is decided: more misses than the goal allows (module doc)."""
        return (len(first) >= MIN_DECIDING_SAMPLES
                and sum(not o.covered for o in first) > allowed)

    spacing_mm = options.fine_spacing_m * 1e3
    margin_mm = options.margin_m * 1e3
    steps: list[RobustPlanStep] = []
    for round_ in range(1, MAX_ROUNDS + 1):
        label = f"round {round_}, margin {margin_mm:.1f} mm"
        result = plan_treatment(case, replace(options, margin_m=margin_mm * 1e-3),
                                lambda text, fraction, label=label: tell(
                                    f"{label}: plan: {text}", fraction))
        tell(f"{label}: Monte Carlo check of the plan", 1.0)
        checked = robust_study(result.case, model, study, progress=sample, stop=stop)
        steps.append(RobustPlanStep(margin_mm, result, checked))
        if checked.probability >= target_probability and steps[-1].safe:
            return RobustPlanResult(target_probability, tuple(steps), steps[-1], True)
        wider = widened_margin_mm(margin_mm, steps[-1].losses_mm(),
                                  checked.statistics.samples, target_probability, spacing_mm)
        if wider > MAX_MARGIN_MM + 1e-9:
            break
        margin_mm = wider
    best = max(steps, key=lambda s: (s.safe, s.probability))
    return RobustPlanResult(target_probability, tuple(steps), best, False)
