"""Stage 4, voltages: per pair the lowest voltage that keeps the confirmed coverage, within the
limits.

Start: every pair at its limit (3000 V, or lower where the predicted current would pass 50 A),
solved on the confirmation grid. What is kept: every target voxel the plan covers at the limits
(all of them when it covers the whole target; when a few margin voxels stay short at the limits,
lowering never loses more). Lowering: pairs are taken in turn, most energetic first
(voltage times current); a pair is set to the lowest voltage at which it still reaches every
kept voxel that the other pairs, at their current voltages, do not (with the safety factor);
a pair no voxel needs is dropped. The field of a pair at a lower voltage is predicted as
``E(V) = E(V0) (V / V0) ** FIELD_EXPONENT``. Then the changed pairs are solved again; voxels
the solve shows uncovered raise the pair that covered them at the limit, and so on for a few
rounds (then with ``E ~ V**RAISE_EXPONENT``). If that does not settle, the all-at-the-limit
solution (already solved, exact) stays.

A greedy set-cover heuristic (not an optimum); what it returns is always solved, never
predicted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from irelab.plan.context import PlanContext
from irelab.plan.evaluate import Evaluator, LayoutEvaluation
from irelab.plan.options import FINE_SLACK
from irelab.plan.search import CURRENT_EXPONENT
from irelab.plan.targets import PlanLimits
from irelab.simulation.lethal import lethal_zone

__all__ = ["FIELD_EXPONENT", "limit_voltages", "lower_voltages", "lower_with",
           "predicted_healthy", "choose_voltages"]

FIELD_EXPONENT = 1.3
"""Field at a voxel near the lethal threshold vs the pair's voltage, ``E ~ V**1.3`` when
lowering: a conservative (high) value. Measured on the segment-8 phantom at 1 mm (two pairs,
3000 V lowered to 2700, 2400 and 2000 V, voxels within 5 % of e_irr): the exponent's median is
0.74-0.84, its 90th percentile ~1.0, its 99th 1.2-1.4 (the smoothed-step conductivity falls
with the field, which moves the potential drop away from the needles)."""

RAISE_EXPONENT = 0.7
"""The same exponent when a pair is raised again to close a gap the solve showed: a low value
(the measured 1st-10th percentile, 0.56-0.75) so that the raise is not too small."""

VOLTAGE_STEP_V = 10.0
"""Generator voltage resolution (NanoKnife: 10 V steps)."""


def limit_voltages(ev: LayoutEvaluation, limits: PlanLimits) -> np.ndarray | None:
    """Voltages at the limits for ``ev``'s layout: the voltage limit, lowered where the solved
    current exceeds the current limit (predicted with ``I ~ V**1.15``, aimed at 98 %); None when
    ``ev`` already is at them."""
    volts = np.full(len(ev.layout.pairs), limits.max_voltage_V)
    currents = ev.pair_currents_A() * (volts / np.asarray(ev.layout.voltages_V)) ** (
        CURRENT_EXPONENT)
    cap = limits.initial_current_limit_A
    over = currents > cap
    volts[over] *= (0.98 * cap / currents[over]) ** (1 / CURRENT_EXPONENT)
    volts = np.floor(volts / VOLTAGE_STEP_V) * VOLTAGE_STEP_V
    if np.allclose(volts, ev.layout.voltages_V):
        return None
    return volts


def _pair_fields(ev: LayoutEvaluation, kept: np.ndarray | None = None) -> np.ndarray:
    """|E| of each pair on the counted voxels (those of them ``kept`` selects, in
    :meth:`LayoutEvaluation.ratios` order), maximised over the positions (pairs x voxels)."""
    n_pairs = len(ev.layout.pairs)
    counted = ev.counted
    n = int(counted.sum()) if kept is None else int(kept.sum())
    out = np.zeros((n_pairs, n))
    for index, e in enumerate(ev.fields):
        values = e[counted] if kept is None else e[counted][kept]
        np.maximum(out[index % n_pairs], values, out=out[index % n_pairs])
    return out


def _lowered(fields: np.ndarray, volts0: np.ndarray, need: np.ndarray,
             order: np.ndarray) -> np.ndarray:
    """Greedy lowering (module doc); ``need`` = threshold times the safety factor per voxel."""
    volts = volts0.copy()
    for p in order:
        others = np.zeros(fields.shape[1])
        for q in range(len(volts)):
            if q != p and volts[q] > 0:
                np.maximum(others, fields[q] * (volts[q] / volts0[q]) ** FIELD_EXPONENT,
                           out=others)
        short = others < need
        if not short.any():
            volts[p] = 0.0
            continue
        factor = float(np.max(need[short] / np.maximum(fields[p][short], 1e-30)))
        v = volts0[p] * factor ** (1 / FIELD_EXPONENT)
        volts[p] = min(volts0[p], np.ceil(v / VOLTAGE_STEP_V) * VOLTAGE_STEP_V)
    return volts


def predicted_healthy(evaluator: Evaluator, ev: LayoutEvaluation, safety: float) -> float:
    """Healthy volume (m^3) at the voltages the greedy lowering predicts for ``ev`` (a covered
    evaluation at its limits with fields): ranks layouts that all cover the target."""
    fields = _pair_fields(ev)
    need = evaluator.target.lethal_threshold_V_per_m[ev.counted] * safety
    volts0 = np.asarray(ev.layout.voltages_V, dtype=float)
    order = np.argsort(-volts0 * ev.pair_currents_A(), kind="stable")
    volts = _lowered(fields, volts0, need, order)
    scale = np.tile((volts / volts0) ** FIELD_EXPONENT, ev.layout.n_positions)
    max_e = np.zeros(evaluator.target.grid.shape)
    for f, e in zip(scale, ev.fields, strict=True):
        if f > 0:
            np.maximum(max_e, f * e, out=max_e)
    lethal = lethal_zone(max_e, evaluator.target.lethal_threshold_V_per_m,
                         evaluator.conductor(ev.layout, ev.max_e_V_per_m))
    return evaluator.score_lethal(lethal, ev.counted)[1]


def lower_voltages(evaluator: Evaluator, at_limits: LayoutEvaluation, safety: float,
                   rounds: int = 2, report: Callable[[str], None] | None = None
                   ) -> LayoutEvaluation:
    """The lowest voltages that keep every voxel ``at_limits`` covers (module doc);
    ``at_limits`` must be an exact evaluation with its fields. Returns an exact evaluation
    (``at_limits`` itself when no lower voltages settle)."""
    lowered = lower_with(evaluator, at_limits, safety, rounds=rounds, report=report)
    return at_limits if lowered is None else lowered


def lower_with(evaluator: Evaluator, at_limits: LayoutEvaluation, safety: float, *,
               order: np.ndarray | None = None, caps: np.ndarray | None = None,
               rounds: int = 2, report: Callable[[str], None] | None = None
               ) -> LayoutEvaluation | None:
    """:func:`lower_voltages` with the pairs taken in ``order`` (default: most energetic
    first) and each pair's voltage at most ``caps`` (default: its voltage in ``at_limits``);
    None when no voltages within the caps keep the coverage after ``rounds`` raises."""
    thr = evaluator.target.lethal_threshold_V_per_m
    kept = at_limits.ratios(thr) * safety <= 1.0
    volts_limit = np.asarray(at_limits.layout.voltages_V, dtype=float)
    volts0 = volts_limit if caps is None else np.minimum(volts_limit, caps)
    # a capped pair's field, predicted conservatively (E ~ V**FIELD_EXPONENT when lowering)
    fields = _pair_fields(at_limits, kept) * ((volts0 / volts_limit) ** FIELD_EXPONENT)[:, None]
    need = thr[at_limits.counted][kept] * safety
    if order is None:
        order = np.argsort(-volts_limit * at_limits.pair_currents_A(), kind="stable")
    volts = _lowered(fields, volts0, need, order)
    for _ in range(rounds + 1):
        keep = volts > 0
        layout = replace(at_limits.layout,
                         pairs=tuple(p for p, k in zip(at_limits.layout.pairs, keep,
                                                       strict=True) if k),
                         voltages_V=tuple(float(v) for v in volts[keep]))
        if report is not None:
            report(f"voltages {', '.join(f'{v:.0f}' for v in volts[keep])} V")
        ev = evaluator.evaluate(layout, base=at_limits)
        ratios = ev.ratios(thr)[kept] * safety
        if not np.any(ratios > 1.0):
            return ev
        # raise, for each voxel lost, the pair that reached it best at the limits
        short = ratios > 1.0
        ratio_now = np.zeros(len(volts))
        best_pair = np.argmax(fields[:, short] / need[short], axis=0)
        need_ratio = ratios[short]
        for p, r in zip(best_pair, need_ratio, strict=True):
            ratio_now[p] = max(ratio_now[p], r)
        raised = False
        for p in np.flatnonzero(ratio_now > 0):
            if volts[p] == 0:
                volts[p] = volts0[p]
                raised = True
                continue
            v = volts[p] * (ratio_now[p] * 1.02) ** (1 / RAISE_EXPONENT)
            v = min(volts0[p], np.ceil(v / VOLTAGE_STEP_V) * VOLTAGE_STEP_V)
            raised |= v > volts[p]
            volts[p] = v
        if not raised:  # every pair that could help is at its cap
            return None
    return None


def choose_voltages(ctx: PlanContext, at_limits_ev: LayoutEvaluation,
                    stage: str = "voltages") -> LayoutEvaluation:
    """Stage 4: ``at_limits_ev`` (an exact confirmation-grid evaluation with every pair at its
    limit) with each pair's voltage lowered as far as the coverage it reaches allows, when the
    tumour is covered and the options ask for it; else unchanged."""
    journal = ctx.journal
    if not ctx.options.lower_voltages:
        return at_limits_ev
    if not ctx.margin(at_limits_ev).tumour_covered:
        journal.note(stage, "lower the voltages", "not tried: the tumour is not covered at the "
                                                  "limits, every pair stays at its limit")
        return at_limits_ev
    journal.progress(f"{stage}: lowering", 0.8)
    lowered = lower_voltages(ctx.fine_eval, at_limits_ev, FINE_SLACK,
                             report=lambda text: journal.progress(f"{stage}: {text}", 0.8))
    before = ", ".join(f"{v:.0f}" for v in at_limits_ev.layout.voltages_V)
    after = ", ".join(f"{v:.0f}" for v in lowered.layout.voltages_V)
    journal.note(stage, f"lower the voltages from {before} V", f"{after} V" if lowered is not
                 at_limits_ev else "no lower voltages keep the coverage: at the limits")
    return lowered
