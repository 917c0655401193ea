"""A plan as a case (what ``plan.yaml`` holds, written by :func:`irelab.case.write_case`) and as
the ``irelab plan --json`` object.

The plan case is the input's anatomy and tissues with the planned probes (P1..Pn, at their first
placement) and protocol, on the confirmation grid's spacing, so that ``irelab simulate
plan.yaml`` solves exactly the fields the planner confirmed. Pullbacks alone are written as
``protocol.pullback_steps_mm``; when a placement also moves the array sideways, as
``protocol.placements``. Every pair carries ``predicted_current_A`` (the largest fine-grid
current over the placements, what the generator's limit is checked against) and, with several
placements, ``predicted_currents_A`` (one per placement).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from irelab.case.model import Case, Pair, Protocol
from irelab.plan.evaluate import LayoutEvaluation
from irelab.plan.targets import PlanTarget

if TYPE_CHECKING:
    from irelab.plan.optimiser import PlanOptions, PlanResult

__all__ = ["plan_case", "plan_json"]


def plan_case(base: Case, ev: LayoutEvaluation, target: PlanTarget,
              options: PlanOptions) -> Case:
    """``base``'s anatomy with the probes and protocol of the evaluated layout ``ev``."""
    lay = ev.layout
    currents = np.asarray(ev.currents_A, dtype=float).reshape(lay.n_positions, -1)
    pairs = []
    for p, ((anode, cathode), volts) in enumerate(zip(lay.pair_names(), lay.voltages_V,
                                                      strict=True)):
        per_position = None
        if lay.n_positions > 1:
            per_position = tuple(round(float(c), 2) for c in currents[:, p])
        pairs.append(Pair(anode, cathode, float(round(volts)),
                          round(float(currents[:, p].max()), 2), per_position))
    placements = lay.placements(target)
    protocol = Protocol(pulses=options.schedule.pulses_per_pair,
                        pulse_width_us=options.schedule.pulse_width_us, pairs=tuple(pairs),
                        placements=placements,
                        pullbacks=lay.n_positions > 1 and not lay.repositioned)
    return base.with_plan(lay.probes(target, options.limits), protocol,
                          name=f"{base.name}-plan",
                          spacing_mm=round(target.grid.spacing_m * 1e3, 6))


def plan_json(result: PlanResult, runtime_s: float) -> dict:
    """The ``--json`` contract of ``irelab plan``."""
    plan = result.case
    thermal = {}
    if result.thermal is not None:
        for name in result.target.critical:
            region = result.thermal.regions.get(name)
            if region is not None:
                thermal[name] = {"peak_temperature_C": round(region.peak_temperature_C, 2),
                                 "damage_volume_mm3": round(region.damage_volume_cm3 * 1e3, 3)}
    probes = [{"name": p.name, "tip_mm": list(p.tip_mm), "direction": list(p.direction),
               "exposed_mm": p.exposed_mm, "diameter_mm": p.diameter_mm} for p in plan.probes]
    protocol = plan.protocol
    return {
        "feasible": result.feasible,
        "coverage": round(result.coverage, 6),
        "coverage_percent": math.floor(result.coverage * 1e4) / 1e2,  # never rounds up to 100
        "healthy_volume_cm3": round(result.healthy_cm3, 3),
        "target_volume_cm3": round(float(result.fine.counted.sum())
                                   * result.target.grid.voxel_volume_m3 * 1e6, 3),
        "pullback_positions": protocol.positions,
        "placements": [{"back_mm": p.back_mm, "shift_mm": list(p.shift_mm)}
                       for p in protocol.placements],
        "exposed_mm": plan.probes[0].exposed_mm,
        "probes": probes,
        "pairs": [{"anode": p.anode, "cathode": p.cathode, "voltage_V": int(p.voltage_V),
                   "current_A": p.predicted_current_A,
                   "currents_A": list(p.predicted_currents_A or (p.predicted_current_A,))}
                  for p in protocol.pairs],
        "pullback_steps_mm": list(protocol.pullback_steps_mm) if protocol.pullbacks else [],
        "thermal": thermal,
        "failures": result.failures,
        "runtime_s": round(runtime_s, 2),
        "timings_s": {"search": round(result.timings.search_s, 2),
                      "confirmation": round(result.timings.confirm_s, 2),
                      "thermal": round(result.timings.thermal_s, 2)},
    }
