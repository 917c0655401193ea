"""Stage 6, constraints: every requirement of the plan, checked with the numbers that decide it.

The tumour must be covered and its margin met within one grid spacing (:mod:`irelab.plan.margin`);
every pair within the voltage, current (over the whole pulse train) and spacing limits, the
probe count and exposed length within theirs (:class:`irelab.plan.targets.PlanLimits`: every
range in a message is read from the limits, never typed in), no shaft through a critical
structure, every solve converged, no thermal damage in a critical structure. A check that fails
says by how much, and for coverage which limit stops the pair that reaches the worst voxel best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from irelab.plan.evaluate import LayoutEvaluation
from irelab.plan.layout import crosses_keep_out
from irelab.plan.margin import MarginReport
from irelab.plan.options import FINE_SLACK
from irelab.plan.targets import PlanLimits, PlanTarget
from irelab.thermal.bioheat import ThermalResult

__all__ = ["ConstraintCheck", "check_constraints", "deficit"]

FIELD_EXPONENT_NEED = 0.8
"""|E| ~ V**0.8 near the threshold (the median measured exponent, see
:data:`irelab.plan.voltages.FIELD_EXPONENT`): how the voltage a short voxel would need is
estimated for the message."""


@dataclass(frozen=True)
class ConstraintCheck:
    """One constraint of the plan and whether it holds, in words with the numbers."""

    name: str
    ok: bool
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "ok", bool(self.ok))  # numpy comparisons give numpy bools


def _mm(v_m: float) -> str:
    return f"{v_m * 1e3:g}"


def deficit(ev: LayoutEvaluation, target: PlanTarget, limits: PlanLimits,
            mask: np.ndarray) -> str:
    """How far the voxels of ``mask`` below their threshold (with the coverage margin) fall
    short: how many, the worst, and which limit holds the pair that reaches the worst best."""
    thr = target.lethal_threshold_V_per_m
    ratio = np.zeros(mask.shape)
    ratio[mask] = thr[mask] / np.maximum(ev.max_e_V_per_m[mask], 1e-30)
    n = int(np.sum(ratio * FINE_SLACK > 1.0))
    worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    r = float(ratio[worst])
    text = (f"{n} voxel{'' if n == 1 else 's'} ({n * target.grid.voxel_volume_m3 * 1e6:.3f} "
            f"cm3) below their lethal threshold (+{100 * (FINE_SLACK - 1):.1f} % margin), the "
            f"worst at {100 * (1 - 1 / r):.1f} % below it")
    if ev.fields and math.isfinite(r) and r > 0:
        n_pairs = len(ev.layout.pairs)
        at = [float(f[worst]) for f in ev.fields]
        p = int(np.argmax(at)) % n_pairs
        i, j = ev.layout.pairs[p]
        volts = ev.layout.voltages_V[p]
        current = float(ev.pair_currents_A()[p])
        need = volts * r ** (1 / FIELD_EXPONENT_NEED)
        if volts >= limits.max_voltage_V - 1e-6:
            bound = f"at the {limits.max_voltage_V:.0f} V limit"
        elif current >= 0.95 * limits.initial_current_limit_A:
            bound = f"held there by the {limits.max_current_A:.0f} A current limit"
        else:
            bound = "below the limits"
        text += (f"; the strongest pair there, P{i + 1}-P{j + 1}, is at {volts:.0f} V "
                 f"({bound}, {current:.1f} A) and would need about {need:.0f} V")
    return text


def _tumour_check(ev: LayoutEvaluation, target: PlanTarget, limits: PlanLimits,
                  margin: MarginReport, track: np.ndarray) -> ConstraintCheck:
    if margin.tumour_covered:
        return ConstraintCheck("tumour", True, f"tumour covered: all {margin.tumour_voxels} "
                                               "voxels reach their lethal threshold")
    return ConstraintCheck("tumour", False, "tumour NOT covered: " + deficit(
        ev, target, limits, target.tumour & ~track))


def _margin_check(ev: LayoutEvaluation, target: PlanTarget, limits: PlanLimits,
                  margin: MarginReport, counted: np.ndarray) -> ConstraintCheck:
    requested = f"{margin.requested_mm:g} mm requested"
    if margin.achieved_mm is None:
        return ConstraintCheck("margin", False, f"margin not measured ({requested}): the "
                                                "tumour itself is not covered")
    where = "; ".join(g.text() for g in margin.gaps)
    if margin.target_short == 0:
        return ConstraintCheck("margin", True, f"minimal margin {margin.achieved_mm:.1f} mm, "
                                               f"{requested}: the whole margin is covered")
    if margin.margin_met:
        return ConstraintCheck("margin", True, f"minimal margin {margin.achieved_mm:.1f} mm, "
                                               f"{requested}: within the "
                                               f"{margin.spacing_mm:g} mm grid spacing ({where})")
    return ConstraintCheck("margin", False,
                           f"margin missed: minimal margin {margin.achieved_mm:.1f} mm < "
                           f"{requested}, short by more than the {margin.spacing_mm:g} mm grid "
                           f"spacing; where: {where}; " + deficit(ev, target, limits, counted))


def check_constraints(ev: LayoutEvaluation, target: PlanTarget, thermal: ThermalResult | None,
                      limits: PlanLimits, margin: MarginReport,
                      track: np.ndarray) -> list[ConstraintCheck]:
    """Every requirement of the plan (module doc), in this order: tumour, margin, each pair's
    voltage, current and spacing, probes, exposed length, shafts, solver, thermal."""
    lay = ev.layout
    checks = [_tumour_check(ev, target, limits, margin, track),
              _margin_check(ev, target, limits, margin, ev.counted)]
    currents = ev.pair_currents_A()
    spacing = f"{_mm(limits.min_spacing_m)}-{_mm(limits.max_spacing_m)} mm"
    for (a, c), v, i, d in zip(lay.pair_names(), lay.voltages_V, currents, lay.spacings_m(),
                               strict=True):
        pair = f"{a}-{c}"
        ok_v = v <= limits.max_voltage_V + 1e-9
        checks.append(ConstraintCheck(f"voltage {pair}", ok_v,
                                      f"voltage {pair} {v:.0f} V "
                                      f"{'<=' if ok_v else '>'} {limits.max_voltage_V:.0f} V"))
        peak = i * limits.current_rise
        ok_i = peak <= limits.max_current_A + 1e-9
        checks.append(ConstraintCheck(f"current {pair}", ok_i,
                                      f"current {pair} {i:.1f} A, rising to {peak:.1f} A over "
                                      f"the pulse train, {'<=' if ok_i else '>'} "
                                      f"{limits.max_current_A:.0f} A"))
        ok_d = limits.min_spacing_m - 1e-9 <= d <= limits.max_spacing_m + 1e-9
        checks.append(ConstraintCheck(f"spacing {pair}", ok_d,
                                      f"spacing {pair} {d * 1e3:.1f} mm "
                                      f"{'within' if ok_d else 'outside'} {spacing}"))
    ok_n = limits.min_probes <= lay.n_probes <= limits.max_probes
    checks.append(ConstraintCheck("probes", ok_n, f"{lay.n_probes} probes "
                                                  f"({limits.min_probes}-{limits.max_probes})"))
    ok_l = limits.min_exposed_m - 1e-9 <= lay.exposed_m <= limits.max_exposed_m + 1e-9
    checks.append(ConstraintCheck("exposed length", ok_l,
                                  f"exposed length {lay.exposed_m * 1e3:.0f} mm "
                                  f"({_mm(limits.min_exposed_m)}-{_mm(limits.max_exposed_m)} "
                                  "mm)"))
    crossing = crosses_keep_out(lay, target)
    where = f" at any of the {lay.n_positions} placements" if lay.n_positions > 1 else ""
    checks.append(ConstraintCheck("shafts", not crossing,
                                  "a probe crosses a critical structure or leaves the domain"
                                  if crossing else
                                  f"no probe crosses a critical structure{where}"))
    checks.append(ConstraintCheck("solver", ev.converged,
                                  "all pair solves converged" if ev.converged
                                  else "a pair solve did not converge"))
    if thermal is not None:
        for name in target.critical:
            region = thermal.regions.get(name)
            if region is None:
                continue
            ok = region.damage_volume_cm3 == 0.0
            checks.append(ConstraintCheck(
                f"thermal {name}", ok,
                f"thermal damage in {name} {region.damage_volume_cm3 * 1e3:.1f} mm^3 "
                f"{'=' if ok else '>'} 0 (peak {region.peak_temperature_C:.1f} C)"))
    return checks
