"""A plan as a case file (issue 2 YAML keys, mm) and as the ``irelab plan --json`` object.

Pullbacks: the case format has no pullback key, so each pullback position becomes its own set of
probes, named ``P1@0mm``, ``P1@20mm``, ... (the shift back along the insertion axis from the
deepest position), with the pair protocol repeated among the probes of the same position. Every
pair carries the extension key ``predicted_current_A`` (the fine-grid current).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from irelab.plan.optimiser import PlanResult

__all__ = ["plan_mapping", "plan_json"]


def _mm(v: float) -> float:
    return round(float(v) * 1e3, 3)


def plan_mapping(base: Mapping, result: PlanResult, position: int | None = None) -> dict:
    """``base`` (a case mapping: name, domain, anatomy, tissues) with the plan's probes and
    protocol; the domain spacing becomes the confirmation grid's, so that ``irelab simulate``
    of the written file runs on the grid the coverage was confirmed on.

    ``position`` restricts the file to one pullback position (its probes and pairs only): that
    file reproduces exactly what the planner solved for that position, since during delivery
    the probes are only ever at one position. The all-positions file lists every position; a
    simulation of it holds all probe sets at once (the others float), a small difference.
    """
    out = {k: copy.deepcopy(v) for k, v in base.items() if k not in ("probes", "protocol")}
    out["name"] = f"{base.get('name', 'case')}-plan"
    domain = dict(out.get("domain", {}))
    domain["spacing_mm"] = _mm(result.target.grid.spacing_m)
    out["domain"] = domain
    lay = result.layout
    target = result.target
    direction = [round(float(c), 6) for c in target.axis]
    probes = []
    pairs = []
    currents = result.fine.currents_A
    positions = range(lay.n_positions) if position is None else [position]
    if position is not None:
        out["name"] += f"-position-{position + 1}"
    for pos in positions:
        for k in range(lay.n_probes):
            tip = lay.world_tip_m(target, k, pos)
            probes.append({
                "name": lay.probe_name(k, pos),
                "tip_mm": [_mm(c) for c in tip],
                "direction": list(direction),
                "exposed_mm": _mm(lay.exposed_m),
                "diameter_mm": _mm(result.options.limits.probe_diameter_m),
            })
        for p, ((anode, cathode), volts) in enumerate(zip(lay.pair_names(pos), lay.voltages_V,
                                                          strict=True)):
            pairs.append({"anode": anode, "cathode": cathode, "voltage_V": int(round(volts)),
                          "predicted_current_A": round(float(currents[pos][p]), 2)})
    sched = result.options.schedule
    out["probes"] = probes
    out["protocol"] = {"pulses": sched.pulses_per_pair, "pulse_width_us": sched.pulse_width_us,
                       "pairs": pairs}
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
        "coverage_percent": round(result.coverage * 100, 2),
        "healthy_volume_cm3": round(result.healthy_cm3, 3),
        "target_volume_cm3": round(float(result.fine.counted.sum())
                                   * result.target.grid.voxel_volume_m3 * 1e6, 3),
        "pullback_positions": result.layout.n_positions,
        "exposed_mm": _mm(result.layout.exposed_m),
        "probes": mapping["probes"],
        "pairs": [{"anode": p["anode"], "cathode": p["cathode"], "voltage_V": p["voltage_V"],
                   "current_A": p["predicted_current_A"]} for p in mapping["protocol"]["pairs"]],
        "thermal": thermal,
        "failures": result.failures,
        "runtime_s": round(runtime_s, 2),
        "timings_s": {"search": round(result.timings.search_s, 2),
                      "confirmation": round(result.timings.confirm_s, 2),
                      "thermal": round(result.timings.thermal_s, 2)},
    }
