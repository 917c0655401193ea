"""A plan as a case file (issue 2 YAML keys, mm) and as the ``irelab plan --json`` object.

The probes (P1..Pn) are written at their first placement. Pullbacks alone use the case format's
``protocol.pullback_steps_mm``: each step moves all probes back along the insertion direction
before the pairs repeat. When a placement also moves the array sideways (repositioning), the
extension ``protocol.placements`` is written instead: one ``{back_mm, shift_mm}`` per placement
in delivery order, each probe's tip at ``tip_mm + back_mm * direction + shift_mm``. Every pair
carries the extension keys ``predicted_current_A`` (the largest fine-grid current over the
placements, what the generator's limit is checked against) and, with several placements,
``predicted_currents_A`` (one per placement). ``irelab simulate plan.yaml``
therefore solves exactly the fields the planner confirmed.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping

import numpy as np

from irelab.plan.optimiser import PlanResult

__all__ = ["plan_mapping", "plan_json", "placements"]


def _mm(v: float) -> float:
    return round(float(v) * 1e3, 3)


def plan_mapping(base: Mapping, result: PlanResult) -> dict:
    """``base`` (a case mapping: name, domain, anatomy, tissues) with the plan's probes and
    protocol; the domain spacing becomes the confirmation grid's, so that ``irelab simulate``
    of the written file runs on the grid the coverage was confirmed on."""
    out = {k: copy.deepcopy(v) for k, v in base.items() if k not in ("probes", "protocol")}
    out["name"] = f"{base.get('name', 'case')}-plan"
    domain = dict(out.get("domain", {}))
    domain["spacing_mm"] = _mm(result.target.grid.spacing_m)
    out["domain"] = domain
    lay = result.layout
    target = result.target
    direction = [round(float(c), 6) for c in target.axis]
    probes = []
    for k in range(lay.n_probes):
        probes.append({
            "name": f"P{k + 1}",
            "tip_mm": [_mm(c) for c in lay.world_tip_m(target, k, 0)],
            "direction": list(direction),
            "exposed_mm": _mm(lay.exposed_m),
            "diameter_mm": _mm(result.options.limits.probe_diameter_m),
        })
    currents = np.asarray(result.fine.currents_A, dtype=float).reshape(lay.n_positions, -1)
    pairs = []
    for p, ((i, j), volts) in enumerate(zip(lay.pairs, lay.voltages_V, strict=True)):
        pair = {"anode": f"P{i + 1}", "cathode": f"P{j + 1}", "voltage_V": int(round(volts)),
                "predicted_current_A": round(float(currents[:, p].max()), 2)}
        if lay.n_positions > 1:
            pair["predicted_currents_A"] = [round(float(c), 2) for c in currents[:, p]]
        pairs.append(pair)
    sched = result.options.schedule
    protocol = {"pulses": sched.pulses_per_pair, "pulse_width_us": sched.pulse_width_us,
                "pairs": pairs}
    if lay.repositioned:
        protocol["placements"] = placements(result)
    elif lay.n_positions > 1:
        protocol["pullback_steps_mm"] = [_mm(b - a) for a, b in zip(lay.tips_m[:-1],
                                                                    lay.tips_m[1:], strict=True)]
    out["probes"] = probes
    out["protocol"] = protocol
    return out


def placements(result: PlanResult) -> list[dict]:
    """Each placement relative to the first, as the case format's ``protocol.placements``:
    ``back_mm`` along the insertion direction and ``shift_mm`` (a world vector, mm)."""
    lay, target = result.layout, result.target
    first = np.asarray(lay.shift_m(0))
    out = []
    for p in range(lay.n_positions):
        da, db = np.asarray(lay.shift_m(p)) - first
        shift = da * target.e1 + db * target.e2
        out.append({"back_mm": _mm(lay.tips_m[p] - lay.tips_m[0]),
                    "shift_mm": [_mm(c) + 0.0 for c in shift]})
    return out


def plan_json(result: PlanResult, runtime_s: float) -> dict:
    """The ``--json`` contract of ``irelab plan``."""
    mapping = plan_mapping({}, result)
    thermal = {}
    if result.thermal is not None:
        for name in result.options.critical_tissues:
            region = result.thermal.regions.get(name)
            if region is not None:
                thermal[name] = {"peak_temperature_C": round(region.peak_temperature_C, 2),
                                 "damage_volume_mm3": round(region.damage_volume_cm3 * 1e3, 3)}
    return {
        "feasible": result.feasible,
        "coverage": round(result.coverage, 6),
        "coverage_percent": math.floor(result.coverage * 1e4) / 1e2,  # never rounds up to 100
        "healthy_volume_cm3": round(result.healthy_cm3, 3),
        "target_volume_cm3": round(float(result.fine.counted.sum())
                                   * result.target.grid.voxel_volume_m3 * 1e6, 3),
        "pullback_positions": result.layout.n_positions,
        "placements": placements(result),
        "exposed_mm": _mm(result.layout.exposed_m),
        "probes": mapping["probes"],
        "pairs": [{"anode": p["anode"], "cathode": p["cathode"], "voltage_V": p["voltage_V"],
                   "current_A": p["predicted_current_A"],
                   "currents_A": p.get("predicted_currents_A", [p["predicted_current_A"]])}
                  for p in mapping["protocol"]["pairs"]],
        "pullback_steps_mm": mapping["protocol"].get("pullback_steps_mm", []),
        "thermal": thermal,
        "failures": result.failures,
        "runtime_s": round(runtime_s, 2),
        "timings_s": {"search": round(result.timings.search_s, 2),
                      "confirmation": round(result.timings.confirm_s, 2),
                      "thermal": round(result.timings.thermal_s, 2)},
    }
