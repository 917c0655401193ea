"""The treatment planner: search layouts on a coarse grid, confirm on the fine grid.

1. Target and constraints on the coarse grid (:mod:`irelab.plan.targets`).
2. Candidates: regular polygons (2-6 probes, with or without a centre probe) around the target's
   in-plane centroid at several radii and rotations, exposed length and pullback positions from
   the target's axial extent (:mod:`irelab.plan.layout`). Pruned by cheap rules: spacing limits,
   shafts through critical structures, and ranked by the analytic two-cylinder field (voltage
   needed for full coverage, healthy volume at that voltage).
3. The best few are solved on the coarse grid; for each, one voltage scale (V per metre of
   spacing, so every pair starts from the 1500 V/cm rule) is tuned from the solved field: raised
   to just cover the target, predicted by scaling each pair's solved |E| linearly with its
   voltage (conservative when raising it, see ``Evaluator.predict``); pairs over the current
   limit are turned down. The best coarse layout is refined locally (radius, rotation).
4. Fine grid: the chosen layout is solved again with the default solver tolerance, voltages
   raised until the fine grid shows full coverage (or a limit binds), and the thermal model is
   run on the fine-grid fields. Every reported figure comes from this fine-grid solve.

The search is our own (it is the product); the physics is :class:`irelab.field.FieldSolver` and
:func:`irelab.thermal.simulate_heating`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from irelab.field.problem import FieldProblem
from irelab.field.solver import SolverOptions
from irelab.plan.evaluate import Evaluator, LayoutEvaluation
from irelab.plan.layout import (
    ProbeLayout,
    candidates,
    crosses_keep_out,
    proxy_field_per_volt,
)
from irelab.plan.targets import DEFAULT_CRITICAL, PlanLimits, PlanTarget, build_target
from irelab.thermal.bioheat import ThermalResult, simulate_heating
from irelab.thermal.schedule import PulseSchedule

__all__ = ["PlanOptions", "ConstraintCheck", "PlanTimings", "PlanResult", "plan_treatment"]

log = logging.getLogger(__name__)

CLEARANCE_M = 0.5e-3
"""Least distance between a probe's surface and a critical structure's voxelised surface."""

COVERAGE_SAFETY = 1.02
"""Voltage raised 2 % beyond the predicted need when a coverage gap is closed (the nonlinear
field does not scale exactly with the voltage)."""

FINE_SLACK = 1.003
"""On the fine grid every target voxel must exceed its threshold by 0.3 % (so that re-solving
the written case, with coordinates rounded to 0.001 mm, cannot flip a voxel)."""

CURRENT_EXPONENT = 1.15
"""I ~ V^1.15 locally for the liver's smoothed-step conductivity (the conductance rises with
the field); used only to predict the voltage that meets the current limit, then re-solved."""


@dataclass(frozen=True)
class PlanOptions:
    """Planner settings (SI). ``fine_spacing_m`` is the confirmation grid."""

    margin_m: float = 5e-3
    direction: tuple[float, float, float] = (0.0, 0.0, 1.0)
    coarse_spacing_m: float = 2e-3
    fine_spacing_m: float = 1e-3
    limits: PlanLimits = field(default_factory=PlanLimits)
    critical_tissues: tuple[str, ...] = DEFAULT_CRITICAL
    schedule: PulseSchedule = field(default_factory=PulseSchedule)
    screen_keep: int = 3
    refine: bool = True
    fine_steps: int = 3
    thermal: bool = True


@dataclass(frozen=True)
class ConstraintCheck:
    """One constraint of the plan and whether it holds, in words with the numbers."""

    name: str
    ok: bool
    message: str


@dataclass(frozen=True)
class PlanTimings:
    search_s: float
    confirm_s: float
    thermal_s: float
    total_s: float
    coarse_solves: int
    fine_solves: int


@dataclass(frozen=True, eq=False)
class PlanResult:
    """The chosen layout, its fine-grid evaluation, thermal result and constraint checks."""

    layout: ProbeLayout
    fine: LayoutEvaluation
    target: PlanTarget
    thermal: ThermalResult | None
    checks: tuple[ConstraintCheck, ...]
    timings: PlanTimings
    options: PlanOptions

    @property
    def feasible(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[str]:
        return [c.message for c in self.checks if not c.ok]

    @property
    def coverage(self) -> float:
        return self.fine.coverage

    @property
    def healthy_cm3(self) -> float:
        return self.fine.healthy_m3 * 1e6


def _snap(target: PlanTarget, spacing_m: float) -> Callable[[float, float], tuple[float, float]]:
    """Snap in-plane positions to voxel-centre columns when the axis is a grid axis.

    A 1.1 mm needle passing between the edges of a 2 mm grid would touch no edge; on a
    voxel-centre column it always does (and coarse centres are also well inside 1 mm fine cells).
    """
    if np.max(np.abs(target.axis)) < 1 - 1e-9:
        return lambda a, b: (a, b)
    axes = [int(np.argmax(np.abs(e))) for e in (target.e1, target.e2)]
    signs = [float(np.sign(e[ax])) for e, ax in zip((target.e1, target.e2), axes, strict=True)]
    origin = target.grid.origin_m

    def snap(a: float, b: float) -> tuple[float, float]:
        out = []
        for v, ax, sg in zip((a, b), axes, signs, strict=True):
            w = sg * v
            w = origin[ax] + round((w - origin[ax]) / spacing_m) * spacing_m
            out.append(sg * w)
        return out[0], out[1]

    return snap


def _snapped(layout: ProbeLayout, snap) -> ProbeLayout:
    return replace(layout, points_m=tuple(snap(a, b) for a, b in layout.points_m))


def _contrast(problem: FieldProblem, target: PlanTarget) -> np.ndarray:
    """Per-voxel factor by which the homogeneous-medium field overstates the field inside the
    tumour: a sphere of conductivity s_t in a medium s_b carries the uniform interior field
    3 s_b / (s_t + 2 s_b) times the applied one (Maxwell's conducting-sphere solution, e.g.
    Jackson, Classical Electrodynamics, 3rd ed., sec. 4.4 with permittivities replaced by
    conductivities). Conductivities at the irreversible threshold (``sigma1``) are used."""
    sig = np.array([getattr(t, "sigma1_S_per_m", t.sigma0_S_per_m) for t in problem.tissues])
    labels = problem.labels
    outside = labels[~target.tumour]
    if outside.size == 0 or not target.tumour.any():
        return np.ones(problem.grid.shape)
    s_b = sig[np.bincount(outside.ravel()).argmax()]
    factor = np.ones(problem.grid.shape)
    s_t = sig[labels[target.tumour]]
    factor[target.tumour] = 3 * s_b / (s_t + 2 * s_b)
    return factor


def _screen(target: PlanTarget, layouts: Sequence[ProbeLayout], limits: PlanLimits,
            keep: int, contrast: np.ndarray) -> list[ProbeLayout]:
    """Rank by the analytic two-cylinder field: (proxy coverage at the voltage cap, healthy).

    The tumour's thresholds are divided by the conducting-sphere factor (:func:`_contrast`), so
    a conductive tumour asks for denser layouts, as the solved field will.
    """
    grid = target.grid
    pts_all = np.argwhere(np.ones(grid.shape, dtype=bool))
    xyz = np.asarray(grid.origin_m) + pts_all * grid.spacing_m
    ab = target.in_plane(xyz)
    s = target.axial(xyz)
    thr = (target.lethal_threshold_V_per_m / contrast).ravel()
    tgt = target.target.ravel()
    healthy = (~target.target & ~target.tumour & ~target.critical_any).ravel()
    radius = limits.probe_diameter_m / 2
    scored = []
    for layout in layouts:
        lo = layout.tips_m[0] - 3e-3
        hi = layout.tips_m[-1] + layout.exposed_m + 3e-3
        band = (s >= lo) & (s <= hi)
        centre = np.mean(np.asarray(layout.points_m), axis=0)
        near = band & (np.linalg.norm(ab - centre, axis=1) < 0.06)
        fpv = proxy_field_per_volt(layout, ab[near], radius)
        d = layout.spacings_m()[:, None]
        e_per_kappa = np.max(d * fpv, axis=0)
        t_near = tgt[near]
        need = thr[near][t_near] / np.maximum(e_per_kappa[t_near], 1e-30)
        kappa_cap = limits.max_voltage_V / float(d.max())
        outside_band = int(tgt.sum() - t_near.sum())
        kappa = float(need.max()) if need.size else kappa_cap
        kappa = min(kappa, kappa_cap)
        covered = int(np.sum(need <= kappa))
        cov = covered / max(int(tgt.sum()), 1)
        lethal = kappa * e_per_kappa >= thr[near]
        healthy_m3 = float(np.sum(lethal & healthy[near]) * grid.voxel_volume_m3)
        scored.append((-round(cov, 3), healthy_m3, outside_band, layout, kappa))
    scored.sort(key=lambda x: (x[0], x[1]))
    chosen: list[ProbeLayout] = []
    families: dict[str, int] = {}
    for _cov, _h, _o, layout, kappa in scored:
        family = layout.label.split(" ")[0]
        if families.get(family, 0) >= 1:
            continue
        families[family] = families.get(family, 0) + 1
        volts = np.minimum(kappa * layout.spacings_m(), limits.max_voltage_V)
        chosen.append(layout.with_voltages(volts))
        if len(chosen) >= keep:
            break
    return chosen


def _score(ev: LayoutEvaluation, limits: PlanLimits) -> tuple:
    """Lower is better: over a limit (voltage or current), uncovered fraction, healthy volume."""
    excess = max(0.0, ev.max_current_A - limits.max_current_A) + max(
        0.0, max(ev.layout.voltages_V) - limits.max_voltage_V)
    return (round(excess, 3), round(1 - ev.coverage, 6), ev.healthy_m3)


def _retune(ev: LayoutEvaluation, target: PlanTarget, limits: PlanLimits,
            slack: float = 1.0) -> ProbeLayout | None:
    """Voltages that just cover the counted target, from a solved (or predicted) field.

    One factor for all pairs (they keep the 1500 V/cm-of-spacing proportions): the largest
    threshold/|E| ratio over the counted target voxels, times ``slack`` and the safety factor;
    then the 3000 V cap, and pairs whose predicted current exceeds the limit are turned down.
    Returns None when the voltages would not change.
    """
    layout = ev.layout
    counted = ev.counted if ev.counted is not None else target.target
    thr = target.lethal_threshold_V_per_m[counted]
    e = ev.max_e_V_per_m[counted]
    if thr.size == 0:
        return None
    factor = float(np.max(thr / np.maximum(e, 1e-30))) * slack * COVERAGE_SAFETY
    volts = np.asarray(layout.voltages_V, dtype=float)
    new = np.minimum(volts * factor, limits.max_voltage_V)
    currents = ev.pair_currents_A() * (new / volts) ** CURRENT_EXPONENT
    over = currents > limits.max_current_A
    new[over] = new[over] * (0.98 * limits.max_current_A / currents[over]) ** (
        1 / CURRENT_EXPONENT)
    new = np.minimum(np.ceil(new / 10.0) * 10.0, limits.max_voltage_V)  # 10 V generator steps
    if np.allclose(new, volts):
        return None
    return layout.with_voltages(new)


def _predict_best(evaluator: Evaluator, base: LayoutEvaluation, limits: PlanLimits,
                  rounds: int = 3) -> LayoutEvaluation:
    """Best voltages for a solved layout by linear field scaling (no further solves)."""
    best = base
    current = base
    for _ in range(rounds):
        nxt = _retune(current, evaluator.target, limits)
        if nxt is None:
            break
        current = evaluator.predict(base, nxt.voltages_V)
        if _score(current, limits) < _score(best, limits):
            best = current
    return best


def _confirm(evaluator: Evaluator, layout: ProbeLayout, limits: PlanLimits,
             steps: int) -> LayoutEvaluation:
    """Solve on the fine grid; re-solve with corrected voltages while coverage (with the
    ``FINE_SLACK`` margin) is missing or clearly exceeded; keep the best solved result."""
    best = evaluator.evaluate(layout)
    current = best
    for _ in range(steps - 1):
        counted = current.counted
        thr = evaluator.target.lethal_threshold_V_per_m[counted]
        ratio = float(np.max(thr / np.maximum(current.max_e_V_per_m[counted], 1e-30)))
        if current.coverage >= 1.0 and 1 / FINE_SLACK / 1.05 <= ratio <= 1 / FINE_SLACK:
            break  # covered with the margin, and not wastefully above it
        nxt = _retune(current, evaluator.target, limits, slack=FINE_SLACK)
        if nxt is None:
            break
        current = evaluator.evaluate(nxt)
        if _score(current, limits) < _score(best, limits):
            best = current
    return best


def _variants(layout: ProbeLayout, spacing: float, snap, max_spacing_m: float,
              max_voltage_V: float) -> list[ProbeLayout]:
    """Neighbours of a layout: polygon radius one grid step larger/smaller, rotated +-0.15 rad,
    and the same probes with all pairs within the spacing limit."""
    pts = np.asarray(layout.points_m)
    centre = pts.mean(axis=0)
    out = []
    for step in (-1, 1):
        rel = pts - centre
        norm = np.linalg.norm(rel, axis=1, keepdims=True)
        out.append(centre + rel / np.maximum(norm, 1e-12) * (norm + step * spacing))
    for angle in (-0.15, 0.15):
        c, s = math.cos(angle), math.sin(angle)
        out.append(centre + (pts - centre) @ np.array([[c, -s], [s, c]]).T)
    variants = []
    for p in out:
        v = replace(layout, points_m=tuple(snap(float(a), float(b)) for a, b in p),
                    label=layout.label + " refined")
        if v.points_m != layout.points_m:
            variants.append(v)
    # the same probes with every pair the spacing limit allows (more field between probes)
    extra = [(i, j) for i in range(len(pts)) for j in range(i + 1, len(pts))
             if (i, j) not in layout.pairs and (j, i) not in layout.pairs
             and np.linalg.norm(pts[i] - pts[j]) <= max_spacing_m + 1e-9]
    if extra:
        ratio = float(np.median(np.asarray(layout.voltages_V) / layout.spacings_m()))
        volts = list(layout.voltages_V) + [min(ratio * float(np.linalg.norm(pts[i] - pts[j])),
                                               max_voltage_V) for i, j in extra]
        variants.append(replace(layout, pairs=layout.pairs + tuple(extra),
                                voltages_V=tuple(volts), label=layout.label + " +pairs"))
    return variants


def _try_evaluate(evaluator: Evaluator, layout: ProbeLayout) -> LayoutEvaluation | None:
    """A search candidate the solver cannot handle is skipped (logged), not fatal."""
    try:
        return evaluator.evaluate(layout)
    except (RuntimeError, ValueError, np.linalg.LinAlgError) as exc:
        log.warning("skipping layout %s: field solve failed (%s)", layout.label, exc)
        return None


def _valid(layout: ProbeLayout, target: PlanTarget, limits: PlanLimits) -> bool:
    sp = layout.spacings_m()
    return (layout.min_probe_distance_m() >= limits.min_spacing_m - 1e-9
            and sp.max() <= limits.max_spacing_m + 1e-9
            and not crosses_keep_out(layout, target))


def plan_treatment(problem_at: Callable[[float], FieldProblem],
                   options: PlanOptions | None = None,
                   progress: Callable[[str, float], None] | None = None) -> PlanResult:
    """Plan probes, pairs, voltages and pullbacks for the anatomy ``problem_at(spacing_m)``.

    ``problem_at`` returns the anatomy's :class:`FieldProblem` on a grid of the given spacing
    (its electrodes are ignored). ``progress(stage, fraction)`` is told what is happening.
    Raises ``ValueError`` when the anatomy has no tumour.
    """
    opts = options or PlanOptions()
    limits = opts.limits
    report = progress or (lambda stage, frac: None)
    t0 = time.perf_counter()

    report("coarse grid: target and candidates", 0.0)
    coarse = problem_at(opts.coarse_spacing_m)
    # the search keeps an extra coarse half-voxel away from critical structures, so that the
    # fine grid's check (finer voxelisation) cannot find a crossing the coarse one missed
    target_c = build_target(coarse, opts.margin_m, opts.direction, opts.critical_tissues,
                            clearance_m=CLEARANCE_M + opts.coarse_spacing_m / 2)
    if not target_c.target.any():
        raise ValueError("the anatomy has no tumour voxels to plan for")
    ab = target_c.in_plane(target_c.target_points_m())
    centroid = ab.mean(axis=0)
    r_target = float(np.max(np.linalg.norm(ab - centroid, axis=1)))
    snap = _snap(target_c, opts.coarse_spacing_m)
    pool = []
    for lay in candidates(target_c, limits, None, centroid, r_target):
        lay = _snapped(lay, snap)
        if _valid(lay, target_c, limits):
            pool.append(lay.with_voltages(lay.voltages_V))
    if not pool:
        raise ValueError("no probe layout within the spacing limits avoids the critical "
                         "structures")
    shortlist = _screen(target_c, pool, limits, opts.screen_keep, _contrast(coarse, target_c))
    log.info("screened %d layouts, solving %d", len(pool), len(shortlist))

    coarse_eval = Evaluator(coarse, target_c, SolverOptions(), keep_fields=True)
    best = None
    for i, lay in enumerate(shortlist):
        report(f"coarse search: {lay.label}", 0.05 + 0.35 * i / len(shortlist))
        solved = _try_evaluate(coarse_eval, lay)
        if solved is None:
            continue
        pred = _predict_best(coarse_eval, solved, limits)
        log.info("coarse %s: coverage %.4f, healthy %.2f cm3, max %.0f V / %.1f A", lay.label,
                 pred.coverage, pred.healthy_m3 * 1e6, max(pred.layout.voltages_V),
                 pred.max_current_A)
        if best is None or _score(pred, limits) < _score(best, limits):
            best = pred
    if best is None:
        raise ValueError("the field solver failed on every candidate layout")
    if opts.refine:
        for j, var in enumerate(_variants(best.layout, opts.coarse_spacing_m, snap,
                                           limits.max_spacing_m, limits.max_voltage_V)):
            if not _valid(var, target_c, limits):
                continue
            report(f"local refinement {j + 1}", 0.4 + 0.05 * j)
            solved = _try_evaluate(coarse_eval, var)
            if solved is None:
                continue
            pred = _predict_best(coarse_eval, solved, limits)
            if _score(pred, limits) < _score(best, limits):
                best = pred
    t_search = time.perf_counter()

    report("fine grid: confirmation", 0.65)
    fine = problem_at(opts.fine_spacing_m)
    target_f = build_target(fine, opts.margin_m, opts.direction, opts.critical_tissues,
                            clearance_m=CLEARANCE_M)
    fine_eval = Evaluator(fine, target_f, SolverOptions(), keep_power=opts.thermal)
    final = _confirm(fine_eval, best.layout, limits, opts.fine_steps)
    t_confirm = time.perf_counter()

    thermal = None
    if opts.thermal:
        report("thermal model", 0.85)
        n_pairs = len(final.layout.pairs)
        thermal = simulate_heating(
            fine.grid, fine.labels, fine.tissue_names, final.power, opts.schedule,
            position_starts=[p * n_pairs for p in range(1, final.layout.n_positions)])
    t_thermal = time.perf_counter()
    checks = check_constraints(final, target_f, thermal, limits, opts.critical_tissues)
    report("done", 1.0)
    timings = PlanTimings(search_s=t_search - t0, confirm_s=t_confirm - t_search,
                          thermal_s=t_thermal - t_confirm, total_s=t_thermal - t0,
                          coarse_solves=coarse_eval.solves, fine_solves=fine_eval.solves)
    return PlanResult(layout=final.layout, fine=final, target=target_f, thermal=thermal,
                      checks=tuple(checks), timings=timings, options=opts)


def check_constraints(ev: LayoutEvaluation, target: PlanTarget, thermal: ThermalResult | None,
                      limits: PlanLimits, critical: Sequence[str]) -> list[ConstraintCheck]:
    """Every limit of issue 5, with the numbers that decide it."""
    lay = ev.layout
    checks = []
    cov = ev.coverage * 100
    checks.append(ConstraintCheck("coverage", ev.coverage >= 1.0,
                                  f"coverage {cov:.1f} % {'=' if cov >= 100 else '<'} 100 %"))
    names = lay.pair_names(0)
    currents = ev.pair_currents_A()
    for (a, c), v, i, d in zip(names, lay.voltages_V, currents, lay.spacings_m(), strict=True):
        pair = f"{a.split('@')[0]}-{c.split('@')[0]}"
        ok_v = v <= limits.max_voltage_V + 1e-9
        checks.append(ConstraintCheck(f"voltage {pair}", ok_v,
                                      f"voltage {pair} {v:.0f} V "
                                      f"{'<=' if ok_v else '>'} {limits.max_voltage_V:.0f} V"))
        ok_i = i <= limits.max_current_A
        checks.append(ConstraintCheck(f"current {pair}", ok_i,
                                      f"current {pair} {i:.1f} A "
                                      f"{'<=' if ok_i else '>'} {limits.max_current_A:.0f} A"))
        ok_d = limits.min_spacing_m - 1e-9 <= d <= limits.max_spacing_m + 1e-9
        checks.append(ConstraintCheck(f"spacing {pair}", ok_d,
                                      f"spacing {pair} {d * 1e3:.1f} mm "
                                      f"{'within' if ok_d else 'outside'} 5-25 mm"))
    ok_n = limits.min_probes <= lay.n_probes <= limits.max_probes
    checks.append(ConstraintCheck("probes", ok_n, f"{lay.n_probes} probes (2-6)"))
    ok_l = limits.min_exposed_m - 1e-9 <= lay.exposed_m <= limits.max_exposed_m + 1e-9
    checks.append(ConstraintCheck("exposed length", ok_l,
                                  f"exposed length {lay.exposed_m * 1e3:.0f} mm (5-40 mm)"))
    crossing = crosses_keep_out(lay, target)
    checks.append(ConstraintCheck("shafts", not crossing,
                                  "a probe crosses a critical structure" if crossing
                                  else "no probe crosses a critical structure"))
    checks.append(ConstraintCheck("solver", ev.converged,
                                  "all pair solves converged" if ev.converged
                                  else "a pair solve did not converge"))
    if thermal is not None:
        for name in critical:
            region = thermal.regions.get(name)
            if region is None:
                continue
            ok = region.damage_volume_cm3 == 0.0
            checks.append(ConstraintCheck(
                f"thermal {name}", ok,
                f"thermal damage in {name} {region.damage_volume_cm3 * 1e3:.1f} mm^3 "
                f"{'=' if ok else '>'} 0 (peak {region.peak_temperature_C:.1f} C)"))
    return checks
