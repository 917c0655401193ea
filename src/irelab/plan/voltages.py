"""Per-pair voltages: the lowest that keep the confirmed coverage, within the limits.

Start: every pair at its limit (3000 V, or lower where the predicted current would pass 50 A),
solved on the confirmation grid. Lowering: pairs are taken in turn, most energetic first
(voltage times current); a pair is set to the lowest voltage at which it still reaches every
counted voxel that the other pairs, at their current voltages, do not (with the safety factor);
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

from irelab.plan.evaluate import Evaluator, LayoutEvaluation
from irelab.plan.search import CURRENT_EXPONENT, shortfall
from irelab.plan.targets import PlanLimits
from irelab.simulation.lethal import lethal_zone

__all__ = ["FIELD_EXPONENT", "limit_voltages", "lower_voltages", "predicted_healthy"]

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


def _pair_fields(ev: LayoutEvaluation) -> np.ndarray:
    """|E| of each pair on the counted voxels, maximised over the positions (pairs x voxels)."""
    n_pairs = len(ev.layout.pairs)
    counted = ev.counted
    out = np.zeros((n_pairs, int(counted.sum())))
    for index, e in enumerate(ev.fields):
        np.maximum(out[index % n_pairs], e[counted], out=out[index % n_pairs])
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
                         evaluator.track(ev.layout))
    return evaluator.score_lethal(lethal, ev.counted)[1]


def lower_voltages(evaluator: Evaluator, at_limits: LayoutEvaluation, safety: float,
                   rounds: int = 2, report: Callable[[str], None] | None = None
                   ) -> LayoutEvaluation:
    """The lowest voltages that keep ``at_limits``' coverage (module doc); ``at_limits`` must be
    an exact, covered evaluation with its fields. Returns an exact evaluation."""
    thr = evaluator.target.lethal_threshold_V_per_m
    fields = _pair_fields(at_limits)
    need = thr[at_limits.counted] * safety
    volts0 = np.asarray(at_limits.layout.voltages_V, dtype=float)
    energy = volts0 * at_limits.pair_currents_A()
    volts = _lowered(fields, volts0, need, np.argsort(-energy, kind="stable"))
    for _ in range(rounds + 1):
        keep = volts > 0
        layout = replace(at_limits.layout,
                         pairs=tuple(p for p, k in zip(at_limits.layout.pairs, keep,
                                                       strict=True) if k),
                         voltages_V=tuple(float(v) for v in volts[keep]))
        if report is not None:
            report(f"voltages {', '.join(f'{v:.0f}' for v in volts[keep])} V")
        ev = evaluator.evaluate(layout, base=at_limits)
        if shortfall(ev, thr, safety).covered:
            return ev
        # raise, for each uncovered voxel, the pair that reached it best at the limits
        short = ev.ratios(thr) * safety > 1.0
        ratio_now = np.zeros(len(volts))
        best_pair = np.argmax(fields[:, short] / need[short], axis=0)
        need_ratio = ev.ratios(thr)[short] * safety
        for p, r in zip(best_pair, need_ratio, strict=True):
            ratio_now[p] = max(ratio_now[p], r)
        for p in np.flatnonzero(ratio_now > 0):
            if volts[p] == 0:
                volts[p] = volts0[p]
                continue
            v = volts[p] * (ratio_now[p] * 1.02) ** (1 / RAISE_EXPONENT)
            volts[p] = min(volts0[p], np.ceil(v / VOLTAGE_STEP_V) * VOLTAGE_STEP_V)
    return at_limits
