"""A plan as a case (what ``plan.yaml`` holds, written by :func:`irelab.case.write_case`) and a
case's probes as a layout again (:func:`layout_of_case`), the ``irelab plan --json`` object, and
the clinical read-out both the report and ``--json`` share.

The plan case is the input's anatomy and tissues with the planned probes (P1..Pn, at their first
placement) and protocol, on the confirmation grid's spacing, so that ``irelab simulate
plan.yaml`` solves exactly the fields the planner confirmed; its description states the
requested and the achieved margin. Pullbacks alone are written as
``protocol.pullback_steps_mm``; when a placement also moves the array sideways, as
``protocol.placements``. Every pair carries ``predicted_current_A`` (the largest confirmation-grid
current over the placements, what the generator's limit is checked against) and, with several
placements, ``predicted_currents_A`` (one per placement).

Read-out per probe: insertion direction, tip, insertion depth (from the tip along the probe to
where it leaves the planning domain: the skin once images carry it), spacing to every other
probe and the largest angle between probes (0: parallel); per pair at each placement, in
delivery order: voltage, expected current and energy (the generator's current model over the
test and treatment pulses, :class:`irelab.delivery.CurrentModel`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from irelab.case.model import Case, Pair, Probe, Protocol
from irelab.delivery.generator import CurrentModel, GeneratorConfig
from irelab.errors import InputError
from irelab.plan.evaluate import LayoutEvaluation
from irelab.plan.layout import ProbeLayout
from irelab.plan.targets import PlanTarget

if TYPE_CHECKING:
    from irelab.plan.options import PlanOptions
    from irelab.plan.pipeline import PlanResult

__all__ = ["plan_case", "layout_of_case", "plan_json", "DeliveryStep", "delivery_steps",
           "insertion_depth_mm"]


def plan_case(base: Case, ev: LayoutEvaluation, target: PlanTarget,
              options: PlanOptions, pauses: tuple[float, float] | None = None) -> Case:
    """``base``'s anatomy with the probes and protocol of the evaluated layout ``ev``;
    ``pauses`` (between trains, between pairs, s) when the plan needs longer ones than the
    generator's own."""
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
                        pullbacks=lay.n_positions > 1 and not lay.repositioned,
                        train_pause_s=pauses[0] if pauses else None,
                        pair_pause_s=pauses[1] if pauses else None)
    return base.with_plan(lay.probes(target, options.limits), protocol,
                          name=f"{base.name}-plan",
                          spacing_mm=round(target.grid.spacing_m * 1e3, 6))


def described(plan: Case, text: str) -> Case:
    """``plan`` with ``text`` as its description (what the planner achieved, in words)."""
    return replace(plan, description=text)


def insertion_depth_mm(case: Case, probe: Probe) -> float:
    """Length of ``probe`` inside the case's domain: from its tip along its direction to where
    it leaves the box (mm)."""
    tip = np.asarray(probe.tip_mm, dtype=float)
    u = np.asarray(probe.direction, dtype=float)
    u = u / np.linalg.norm(u)
    lo, hi = case.domain.lower_mm, case.domain.upper_mm
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(u > 0, (hi - tip) / u, np.where(u < 0, (lo - tip) / u, np.inf))
    return round(float(np.min(t)), 1)


@dataclass(frozen=True)
class DeliveryStep:
    """One pair at one placement, in delivery order, with what it is expected to draw."""

    order: int
    placement: int
    anode: str
    cathode: str
    voltage_V: float
    current_A: float
    """Predicted first-pulse current (what the plan file says)."""
    last_current_A: float
    """Current at the pair's last pulse (the generator's rising current model)."""
    energy_J: float
    """Energy of all its pulses (test and treatment), V x I x width summed over the pulses."""


def delivery_steps(plan: Case) -> list[DeliveryStep]:
    """Every pair at every placement of ``plan`` in delivery order, with expected currents and
    energy (module doc)."""
    config = GeneratorConfig()
    protocol = plan.protocol
    n = np.arange(1, config.test_pulses + protocol.pulses + 1)
    width_s = protocol.pulse_width_us * 1e-6
    out = []
    for order, key in enumerate(protocol.keys()):
        pair = protocol.pairs[key.pair]
        current = pair.current_at(key.placement) or 0.0
        model = CurrentModel(current, config.current_rise_fraction, config.current_rise_pulses)
        total = float(np.sum(model.final_A - (model.final_A - current)
                             * np.exp(-(n - 1) / model.rise_pulses)))
        out.append(DeliveryStep(order + 1, key.placement + 1, pair.anode, pair.cathode,
                                pair.voltage_V, current,
                                round(model.current_A(int(n[-1])), 2),
                                round(pair.voltage_V * total * width_s, 1)))
    return out


def _angle_deg(a: Probe, b: Probe) -> float:
    u, v = (np.asarray(p.direction, float) / np.linalg.norm(p.direction) for p in (a, b))
    return math.degrees(math.acos(min(1.0, abs(float(u @ v)))))


def _budget(result: PlanResult) -> dict:
    opts = result.options
    return {"screened_layouts_solved": opts.screen_keep,
            "coarse_trials": opts.coarse_trials if opts.refine else 0,
            "fine_trials": opts.fine_trials if opts.refine else 0,
            "extra_placements": opts.max_extra_placements,
            "placement_solves": opts.placement_solves,
            "alternatives": opts.alternatives,
            "thermal_repairs": opts.thermal_repairs if opts.thermal else 0,
            "thermal_replans": opts.thermal_replans if opts.thermal else 0,
            "max_minutes": opts.max_minutes,
            "used": {"search_pair_solves": result.timings.coarse_solves,
                     "confirmation_pair_solves": result.timings.fine_solves}}


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
               "exposed_mm": p.exposed_mm, "diameter_mm": p.diameter_mm,
               "insertion_depth_mm": insertion_depth_mm(plan, p)} for p in plan.probes]
    protocol = plan.protocol
    margin = result.margin
    spacings = [{"probes": [a.name, b.name],
                 "spacing_mm": round(math.dist(a.tip_mm, b.tip_mm), 2)}
                for i, a in enumerate(plan.probes) for b in plan.probes[i + 1:]]
    grid = result.target.grid
    return {
        "feasible": result.feasible,
        "coverage": round(result.coverage, 6),
        "coverage_percent": math.floor(result.coverage * 1e4) / 1e2,  # never rounds up to 100
        "healthy_volume_cm3": round(result.healthy_cm3, 3),
        "target_volume_cm3": round(float(result.fine.counted.sum()) * grid.voxel_volume_m3
                                   * 1e6, 3),
        "lethal_volume_cm3": round(float(result.fine.lethal.sum()) * grid.voxel_volume_m3
                                   * 1e6, 3),
        "margin_mm": round(result.options.margin_m * 1e3, 6),
        "threshold_factor": result.options.threshold_factor,
        "tumour_covered": margin.tumour_covered,
        "minimal_margin_mm": margin.achieved_mm,
        "margin_met": margin.margin_met,
        "margin_gaps": [{"voxels": g.voxels, "centre_mm": list(g.centre_mm),
                         "margin_mm": g.margin_mm, "beside": g.beside} for g in margin.gaps],
        "grid_spacing_mm": round(grid.spacing_m * 1e3, 6),
        "pullback_positions": protocol.positions,
        "placements": [{"back_mm": p.back_mm, "shift_mm": list(p.shift_mm),
                        "reinsert_every_probe": p.sideways}
                       for p in protocol.placements],
        "exposed_mm": plan.probes[0].exposed_mm,
        "probes": probes,
        "probe_spacings": spacings,
        "largest_probe_angle_deg": round(max((_angle_deg(a, b) for a in plan.probes
                                              for b in plan.probes), default=0.0), 2),
        "pairs": [{"anode": p.anode, "cathode": p.cathode, "voltage_V": int(p.voltage_V),
                   "current_A": p.predicted_current_A,
                   "currents_A": list(p.predicted_currents_A or (p.predicted_current_A,))}
                  for p in protocol.pairs],
        "delivery": [{"order": s.order, "placement": s.placement,
                      "pair": f"{s.anode}-{s.cathode}", "voltage_V": int(s.voltage_V),
                      "current_A": s.current_A, "last_current_A": s.last_current_A,
                      "energy_J": s.energy_J} for s in delivery_steps(plan)],
        "pullback_steps_mm": list(protocol.pullback_steps_mm) if protocol.pullbacks else [],
        "thermal": thermal,
        "schedule": {"pulses_per_pair": result.options.schedule.pulses_per_pair,
                     "pulse_width_us": result.options.schedule.pulse_width_us,
                     "test_pulses": result.options.schedule.test_pulses,
                     "pulses_per_train": result.options.schedule.pulses_per_train,
                     "heart_rate_bpm": result.options.schedule.heart_rate_bpm,
                     "train_pause_s": result.options.schedule.train_pause_s,
                     "pair_pause_s": result.options.schedule.pair_pause_s,
                     "reposition_pause_s": result.options.schedule.reposition_pause_s},
        "checks": [{"name": c.name, "ok": c.ok, "message": c.message} for c in result.checks],
        "failures": result.failures,
        "deterministic_budget": _budget(result),
        "tried": [{"stage": s.stage, "action": s.action, "outcome": s.outcome}
                  for s in result.tried],
        "cut_short": result.cut_short,
        "runtime_s": round(runtime_s, 2),
        "timings_s": {"search": round(result.timings.search_s, 2),
                      "confirmation": round(result.timings.confirm_s, 2),
                      "thermal": round(result.timings.thermal_s, 2)},
    }


def layout_of_case(case: Case, target: PlanTarget) -> ProbeLayout:
    """The layout of a case's probes, pairs and placements in ``target``'s frame (whose axis
    must be the probes' direction): what the planner writes, read back. Raises
    :class:`~irelab.errors.InputError` for probes a layout cannot hold."""
    expected = ("monopolar probes named P1..Pn in order, all along the insertion direction, "
                "of one exposed length and diameter, with their tips level, and a protocol")
    probes = case.probes
    if (case.protocol is None or not case.protocol.pairs or not probes
            or [p.name for p in probes] != [f"P{k + 1}" for k in range(len(probes))]
            or any(p.bipolar_mm is not None for p in probes)
            or len({(p.exposed_mm, p.diameter_mm) for p in probes}) != 1):
        raise InputError(case.source, "probes", expected)
    axis = target.axis
    tips = np.asarray([p.tip_mm for p in probes], dtype=float) * 1e-3
    directions = np.asarray([p.direction for p in probes], dtype=float)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    axial = tips @ axis
    if np.abs(directions @ axis - 1).max() > 1e-6 or np.ptp(axial) > 1e-6:
        raise InputError(case.source, "probes", expected)
    points = tuple((float(a), float(b)) for a, b in target.in_plane(tips))
    tip_s, shifts = [], []
    for placement in case.protocol.placements:
        shift = np.asarray(placement.shift_mm) * 1e-3
        tip_s.append(float(axial[0] + placement.back_mm * 1e-3 + shift @ axis))
        shifts.append((float(shift @ target.e1), float(shift @ target.e2)))
    names = [p.name for p in probes]
    pairs = tuple((names.index(pair.anode), names.index(pair.cathode))
                  for pair in case.protocol.pairs)
    return ProbeLayout(points, probes[0].exposed_mm * 1e-3, tuple(tip_s), pairs,
                       tuple(pair.voltage_V for pair in case.protocol.pairs),
                       label=f"the probes of {case.name}",
                       shifts_m=tuple(shifts) if any(a or b for a, b in shifts) else ())
