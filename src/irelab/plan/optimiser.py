"""The treatment planner: search layouts on a coarse grid, confirm, repair and reposition on the
fine grid.

1. Target and constraints on the coarse grid (:mod:`irelab.plan.targets`).
2. Candidates: regular polygons (2-6 probes, with or without a centre probe) around the target's
   in-plane centroid at several radii and rotations; a polygon point inside the keep-out around
   a critical structure is moved to the nearest clear position beside it. Exposed length and
   pullback positions from the target's axial extent (:mod:`irelab.plan.layout`). Ranked by the
   analytic two-cylinder field; the best few are solved on the coarse grid with every pair at
   its limit (3000 V, less if the current would pass 50 A): a layout that cannot cover the
   target there cannot cover it at all.
3. The best coarse layout (by coverage shortfall with a safety factor, ``coarse_safety``: the
   2 mm grid averages the field over voxels that straddle the tumour's surface and vessel walls,
   where the 1 mm grid finds it up to ~15 % lower) is improved by local search: probes move
   towards the voxels the field misses (:mod:`irelab.plan.search`).
4. Fine grid: the layout is solved again at the limits. If some target voxel is still short
   by at most ``FINE_SEARCH_MAX_RATIO``, the local search continues on the fine grid (one-voxel
   moves), within a trial budget and the time budget, and the result is solved again in full.
5. Repositioning: if voxels are still short, the array is placed again, moved sideways in the
   plane normal to the insertion axis, and the pairs repeat there (:mod:`irelab.plan.reposition`:
   combinations of shifts are screened by translating the solved fields, the best solved on the
   fine grid), at most ``PlanOptions.max_extra_placements`` times, each kept only if its solve
   lowers the shortfall, and no further one once the target is covered.
6. Each pair's voltage is lowered as far as the fine-grid coverage allows
   (:mod:`irelab.plan.voltages`) and the thermal model is run on the fine-grid fields of every
   pair at every placement, in delivery order. Every reported figure comes from an exact
   fine-grid solve of the reported layout and voltages; if 100 % is out of reach the plan says
   which voxels miss their threshold, by how much, and which limit stops the pair that reaches
   them best.

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

from irelab.case.model import Case
from irelab.delivery.generator import GeneratorConfig, current_rise_factor
from irelab.field.problem import FieldProblem
from irelab.field.solver import SolverOptions
from irelab.plan.evaluate import Evaluator, LayoutEvaluation
from irelab.plan.layout import (
    ProbeLayout,
    axial_positions,
    candidates,
    crosses_keep_out,
    nearest_allowed,
    proxy_field_per_volt,
)
from irelab.plan.output import plan_case
from irelab.plan.reposition import shift_candidates
from irelab.plan.search import improve_positions, shortfall, valid_layout
from irelab.plan.targets import PlanLimits, PlanTarget, build_target
from irelab.plan.voltages import limit_voltages, lower_voltages, predicted_healthy
from irelab.thermal.bioheat import ThermalResult, simulate_heating, thermal_tissues
from irelab.thermal.schedule import PulseSchedule

__all__ = ["PlanOptions", "ConstraintCheck", "PlanTimings", "PlanResult", "plan_treatment"]

log = logging.getLogger(__name__)

CLEARANCE_M = 0.5e-3
"""Least distance between a probe's surface and a critical structure's voxelised surface."""

FINE_SLACK = 1.003
"""On the fine grid a target voxel counts as covered when its |E| exceeds its threshold by
0.3 %: re-solving the written case from scratch (``irelab simulate``: no warm start,
coordinates rounded to 0.001 mm) changes |E| by less (measured: one voxel within 0.1 % of its
threshold flipped on the segment-8 demo without the margin), so the coverage reported is never
more than a fresh solve shows; it may be a few voxels less when the plan falls short."""

MAX_SHIFT_M = 8e-3
"""How far a polygon point (or a search move) inside the keep-out may be moved to clear it."""

COARSE_SHARE = 0.35
"""Share of ``PlanOptions.time_budget_s`` the coarse search may use (the rest is for the fine
grid, whose solves cost ~4x as much)."""

PER_FAMILY = 2
"""At most this many screened layouts of one family (polygon type) go to the coarse solves."""

FINE_ROUNDS = 2
"""Fine local search, then a full solve of what it found, at most this many times."""

FINE_SEARCH_MAX_RATIO = 1.05
"""The fine local search (one-voxel moves) runs only when the worst target voxel at the limits
is within this factor of its threshold (e_irr / |E| <= 1.05); a larger gap goes straight to
repositioning. Measured on the segment-8 phantom: 4 fine trials (30 s) took the worst voxel from
12 % to 7 % below e_irr (ratio 1.138 to 1.077) without covering any of the 22 voxels short."""

REPOSITION_CONFIRM = 3
"""Further placements (best predicted first) solved on the fine grid per repositioning round."""

SEARCH_RTOL = 1e-2
"""Solver tolerance for search solves (the default is 2e-3): measured on the segment-8 phantom
it changes pair currents by < 0.2 % and |E| by < 3 % at 1 mm, and saves ~25 % of the time."""


@dataclass(frozen=True)
class PlanOptions:
    """Planner settings (SI). ``fine_spacing_m`` is the confirmation grid.

    ``coarse_safety``: the coarse search asks every target voxel for this factor above its
    threshold (the 2 mm grid overestimates the field at tissue interfaces, see the module doc).
    ``refine``: run the local searches. ``lower_voltages``: lower each pair's voltage once the
    fine grid shows full coverage at the limits (else every pair stays at its limit).
    ``coarse_trials`` and ``fine_trials`` bound the local search (moves tried on each grid);
    ``time_budget_s`` bounds the whole search and confirmation per pullback position (each
    position's pairs are solved on the fine grid; a target that needs two positions gets twice
    the time; the thermal model runs after it): the searches stop early rather than overrun
    it, leaving time to solve the result in full. None: no time limit (the result then depends
    on the trial budgets only).
    ``max_extra_placements``: sideways placements of the array the planner may add when the
    best placement(s) still miss target voxels at the limits (:mod:`irelab.plan.reposition`);
    0 turns repositioning off.
    """

    margin_m: float = 5e-3
    direction: tuple[float, float, float] = (0.0, 0.0, 1.0)
    coarse_spacing_m: float = 2e-3
    fine_spacing_m: float = 1e-3
    limits: PlanLimits = field(default_factory=PlanLimits)
    schedule: PulseSchedule = field(default_factory=PulseSchedule)
    screen_keep: int = 3
    refine: bool = True
    coarse_safety: float = 1.08
    coarse_trials: int = 24
    fine_trials: int = 12
    time_budget_s: float | None = 115.0
    lower_voltages: bool = True
    thermal: bool = True
    max_extra_placements: int = 2


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
    case: Case
    """The plan as a case: the input's anatomy and tissues with the planned probes and protocol
    (what ``plan.yaml`` holds)."""

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


def _contrast(problem: FieldProblem, target: PlanTarget) -> np.ndarray:
    """Per-voxel factor by which the homogeneous-medium field overstates the field inside the
    tumour: a sphere of conductivity s_t in a medium s_b carries the uniform interior field
    3 s_b / (s_t + 2 s_b) times the applied one (Maxwell's conducting-sphere solution, e.g.
    Jackson, Classical Electrodynamics, 3rd ed., sec. 4.4 with permittivities replaced by
    conductivities). Each tissue's conductivity at its lethal threshold is used."""
    sig = np.array([float(m.conductivity.sigma(np.asarray(m.lethal_threshold_V_per_m)))
                    if np.isfinite(m.lethal_threshold_V_per_m) else m.conductivity.sigma0_S_per_m
                    for m in problem.materials])
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
        if families.get(family, 0) >= PER_FAMILY:
            continue
        families[family] = families.get(family, 0) + 1
        volts = np.minimum(kappa * layout.spacings_m(), limits.max_voltage_V)
        chosen.append(layout.with_voltages(volts))
        if len(chosen) >= keep:
            break
    return chosen


def _try_evaluate(evaluator: Evaluator, layout: ProbeLayout,
                  base: LayoutEvaluation | None = None) -> LayoutEvaluation | None:
    """A search candidate the solver cannot handle is skipped (logged), not fatal."""
    try:
        return evaluator.evaluate(layout, base=base)
    except (RuntimeError, ValueError, np.linalg.LinAlgError) as exc:
        log.warning("skipping layout %s: field solve failed (%s)", layout.label, exc)
        return None


def _at_limits(evaluator: Evaluator, ev: LayoutEvaluation | None,
               limits: PlanLimits) -> LayoutEvaluation | None:
    """``ev`` re-solved with the pairs that pass the current limit turned down (if any)."""
    if ev is None:
        return None
    volts = limit_voltages(ev, limits)
    if volts is None:
        return ev
    return _try_evaluate(evaluator, ev.layout.with_voltages(volts), base=ev)


def _with_all_pairs(layout: ProbeLayout, limits: PlanLimits) -> ProbeLayout | None:
    """The same probes with every pair the spacing limits allow (more field between probes)."""
    pts = np.asarray(layout.points_m)
    extra = [(i, j) for i in range(len(pts)) for j in range(i + 1, len(pts))
             if (i, j) not in layout.pairs and (j, i) not in layout.pairs
             and limits.min_spacing_m - 1e-9 <= np.linalg.norm(pts[i] - pts[j])
             <= limits.max_spacing_m + 1e-9]
    if not extra:
        return None
    return replace(layout, pairs=layout.pairs + tuple(extra),
                   voltages_V=layout.voltages_V + (limits.max_voltage_V,) * len(extra),
                   label=layout.label + " +pairs")


def _key(evaluator: Evaluator, ev: LayoutEvaluation, safety: float) -> tuple:
    """Search rank, lower is better: coverage shortfall at the limits, then the healthy volume
    at the voltages predicted to just keep the coverage."""
    s = shortfall(ev, evaluator.target.lethal_threshold_V_per_m, safety)
    healthy = ev.healthy_m3
    if s.covered and ev.fields:
        healthy = predicted_healthy(evaluator, ev, safety)
    return (round(s.excess, 4), s.uncovered, healthy)


def _budget_left(deadline: float | None) -> float:
    return math.inf if deadline is None else deadline - time.perf_counter()


def plan_treatment(case: Case, options: PlanOptions | None = None,
                   progress: Callable[[str, float], None] | None = None) -> PlanResult:
    """Plan probes, pairs, voltages and pullbacks for ``case``'s anatomy (its own probes and
    protocol, if any, are ignored); the plan is ``result.case``.

    The target is the tissues whose role is ``target`` plus the margin; tissues whose role is
    ``critical`` are spared. ``progress(stage, fraction)`` is told what is happening. Raises
    ``ValueError`` when the anatomy has no target tissue or no layout can be placed.
    """
    def problem_at(spacing_m: float) -> FieldProblem:
        return case.field_problem(spacing_mm=spacing_m * 1e3, anatomy_only=True)

    opts = options or PlanOptions()
    # the generator's current rises over a pair's pulses: limit the predicted current so that
    # the last pulse stays within the current limit (the delivery simulator's own model)
    rise = current_rise_factor(GeneratorConfig(), opts.schedule.pulses_per_pair)
    opts = replace(opts, limits=replace(opts.limits, current_rise=rise))
    limits = opts.limits
    report = progress or (lambda stage, frac: None)
    t0 = time.perf_counter()
    budget = None

    report("coarse grid: target and candidates", 0.0)
    coarse = problem_at(opts.coarse_spacing_m)
    # the search keeps an extra coarse half-voxel away from critical structures, so that the
    # fine grid's check (finer voxelisation) cannot find a crossing the coarse one missed
    target_c = build_target(coarse, opts.margin_m, opts.direction,
                            clearance_m=CLEARANCE_M + opts.coarse_spacing_m / 2)
    if not target_c.target.any():
        raise ValueError("the anatomy has no voxels of a target tissue (role: target) to "
                         "plan for")
    ab = target_c.in_plane(target_c.target_points_m())
    centroid = ab.mean(axis=0)
    r_target = float(np.max(np.linalg.norm(ab - centroid, axis=1)))
    axial_tips = axial_positions(target_c, limits)[1]
    tip_c = axial_tips[0]
    if opts.time_budget_s:
        budget = opts.time_budget_s * len(axial_tips)
    deadline = None if budget is None else t0 + budget
    snap_c = _snap(target_c, opts.coarse_spacing_m)

    def place_c(point):
        return nearest_allowed(point, target_c, tip_c, snap_c, opts.coarse_spacing_m,
                               MAX_SHIFT_M)

    pool = [lay for lay in candidates(target_c, limits, centroid, r_target, place_c)
            if valid_layout(lay, limits)]
    if not pool:
        raise ValueError("no probe layout within the spacing limits avoids the critical "
                         "structures")
    shortlist = _screen(target_c, pool, limits, opts.screen_keep, _contrast(coarse, target_c))
    log.info("screened %d layouts, solving %d", len(pool), len(shortlist))

    coarse_eval = Evaluator(coarse, target_c, SolverOptions(nonlinear_rtol=SEARCH_RTOL))
    best = None
    for i, lay in enumerate(shortlist):
        report(f"coarse search: {lay.label}", 0.05 + 0.15 * i / len(shortlist))
        lay = lay.with_voltages([limits.max_voltage_V] * len(lay.pairs))
        solved = _at_limits(coarse_eval, _try_evaluate(coarse_eval, lay), limits)
        if solved is None:
            continue
        log.info("coarse %s: coverage %.4f, %.1f A", lay.label, solved.coverage,
                 solved.max_current_A)
        if best is None or _key(coarse_eval, solved, opts.coarse_safety) < _key(
                coarse_eval, best, opts.coarse_safety):
            best = solved
    if best is None:
        raise ValueError("the field solver failed on every candidate layout")
    richer = _with_all_pairs(best.layout, limits)
    if richer is not None and not shortfall(best, target_c.lethal_threshold_V_per_m,
                                            opts.coarse_safety).covered:
        report("coarse search: every pair within the spacing limit", 0.2)
        solved = _at_limits(coarse_eval, _try_evaluate(coarse_eval, richer, base=best), limits)
        if solved is not None and _key(coarse_eval, solved, opts.coarse_safety) < _key(
                coarse_eval, best, opts.coarse_safety):
            best = solved
    if opts.refine:
        best, trials = improve_positions(
            coarse_eval, best, safety=opts.coarse_safety, step_m=opts.coarse_spacing_m,
            place=place_c, limits=limits, max_trials=opts.coarse_trials,
            deadline=None if budget is None else t0 + COARSE_SHARE * budget,
            report=lambda text: report(f"coarse search: {text}", 0.3))
        log.info("coarse local search: %d trials", trials)
    t_search = time.perf_counter()
    coarse_solves = coarse_eval.solves
    del coarse_eval  # its cached solvers and solutions are not needed any more

    report("fine grid: confirmation", 0.45)
    fine = problem_at(opts.fine_spacing_m)
    target_f = build_target(fine, opts.margin_m, opts.direction, clearance_m=CLEARANCE_M)
    fine_eval = Evaluator(fine, target_f, SolverOptions(), keep_power=opts.thermal,
                          max_solvers=2, coverage_margin=FINE_SLACK)
    # trial moves are solved to a looser tolerance, starting from (and feeding) the same warm
    # starts; whatever is reported is solved again with the default one (fine_eval)
    fine_search = Evaluator(fine, target_f, SolverOptions(nonlinear_rtol=SEARCH_RTOL),
                            warm=fine_eval.warm_starts, max_solvers=2,
                            coverage_margin=FINE_SLACK)
    thr_f = target_f.lethal_threshold_V_per_m
    snap_f = _snap(target_f, opts.fine_spacing_m)

    def place_f(point):
        return nearest_allowed(point, target_f, best.layout.tips_m[0], snap_f,
                               opts.fine_spacing_m, MAX_SHIFT_M)

    final = _at_limits(fine_eval, fine_eval.evaluate(best.layout), limits)
    # a full solve from warm starts takes about half the first (cold) one: keep that much for
    # solving the search's result in full
    reserve = 0.6 * (time.perf_counter() - t_search)
    gap = shortfall(final, thr_f, FINE_SLACK)
    if opts.refine and not gap.covered and gap.worst_ratio > FINE_SEARCH_MAX_RATIO:
        log.info("fine grid: worst voxel %.1f %% below e_irr, beyond one-voxel moves: "
                 "repositioning instead of the fine local search",
                 100 * (1 - 1 / gap.worst_ratio))
    for _ in range(FINE_ROUNDS):
        if shortfall(final, thr_f, FINE_SLACK).covered or not opts.refine:
            break
        if gap.worst_ratio > FINE_SEARCH_MAX_RATIO:
            break
        found, trials = improve_positions(
            fine_search, final, safety=FINE_SLACK, step_m=opts.fine_spacing_m, place=place_f,
            limits=limits, max_trials=opts.fine_trials,
            deadline=None if deadline is None else deadline - reserve,
            report=lambda text: report(f"fine search: {text}", 0.6))
        log.info("fine local search: %d trials", trials)
        if found is final:
            break
        report("fine grid: every pair solved in the new layout", 0.7)
        exact = _at_limits(fine_eval, fine_eval.evaluate(found.layout), limits)
        if _key(fine_eval, exact, FINE_SLACK) < _key(fine_eval, final, FINE_SLACK):
            final = exact
        else:
            break
        if _budget_left(deadline) < 2 * reserve:
            break
    if opts.max_extra_placements and not shortfall(final, thr_f, FINE_SLACK).covered:
        final = _reposition(fine_eval, final, limits, opts.max_extra_placements, deadline,
                            lambda text: report(f"repositioning: {text}", 0.75))
    if (opts.lower_voltages and shortfall(final, thr_f, FINE_SLACK).covered
            and _budget_left(deadline) > -reserve):
        report("fine grid: lowering voltages", 0.8)
        final = lower_voltages(fine_eval, final, FINE_SLACK,
                               report=lambda text: report(f"fine grid: {text}", 0.8))
    t_confirm = time.perf_counter()

    thermal = None
    if opts.thermal:
        report("thermal model", 0.85)
        n_pairs = len(final.layout.pairs)
        thermal = simulate_heating(
            fine.grid, fine.labels, fine.tissue_names, final.power, opts.schedule,
            tissues=thermal_tissues(fine.materials),
            position_starts=[p * n_pairs for p in range(1, final.layout.n_positions)])
    t_thermal = time.perf_counter()
    checks = check_constraints(final, target_f, thermal, limits)
    report("done", 1.0)
    timings = PlanTimings(search_s=t_search - t0, confirm_s=t_confirm - t_search,
                          thermal_s=t_thermal - t_confirm, total_s=t_thermal - t0,
                          coarse_solves=coarse_solves,
                          fine_solves=fine_eval.solves + fine_search.solves)
    plan = plan_case(case, final, target_f, opts)
    return PlanResult(layout=final.layout, fine=final, target=target_f, thermal=thermal,
                      checks=tuple(checks), timings=timings, options=opts, case=plan)


def _reposition(evaluator: Evaluator, ev: LayoutEvaluation, limits: PlanLimits,
                max_extra: int, deadline: float | None,
                report: Callable[[str], None]) -> LayoutEvaluation:
    """``ev`` with up to ``max_extra`` further placements of its array shifted sideways
    (:mod:`irelab.plan.reposition`), each kept only if its fine-grid solve lowers the shortfall;
    stops as soon as the target is covered. Every pair stays at its limit (a new placement's
    currents may turn a pair down)."""
    thr = evaluator.target.lethal_threshold_V_per_m
    last_s = 0.0
    for _ in range(max_extra):
        candidates = shift_candidates(ev, evaluator.target, FINE_SLACK,
                                      evaluator.healthy_mask, limits.probe_diameter_m / 2,
                                      keep=REPOSITION_CONFIRM)
        chosen = None
        for cand in candidates:
            if _budget_left(deadline) < last_s:
                log.info("repositioning: out of time")
                break
            a, b = (1e3 * v for v in cand.shift_m)
            report(f"placement {cand.layout.n_positions} shifted ({a:.0f}, {b:.0f}) mm, "
                   f"predicted {cand.predicted_uncovered} voxels short")
            t0 = time.perf_counter()
            solved = _at_limits(evaluator, _try_evaluate(evaluator, cand.layout, base=ev),
                                limits)
            last_s = time.perf_counter() - t0
            if solved is None:
                continue
            s = shortfall(solved, thr, FINE_SLACK)
            log.info("repositioning (%.0f, %.0f) mm after position %d (which moves %s mm): "
                     "predicted %d short (worst ratio %.3f), solved %d short (worst ratio "
                     "%.3f), %.1f s", a, b,
                     cand.after + 1, tuple(round(1e3 * v) for v in cand.nudge_m),
                     cand.predicted_uncovered, cand.predicted_worst_ratio,
                     s.uncovered, s.worst_ratio, last_s)
            if chosen is None or _key(evaluator, solved, FINE_SLACK) < _key(
                    evaluator, chosen, FINE_SLACK):
                chosen = solved
            if s.covered:
                break
        if chosen is None or _key(evaluator, chosen, FINE_SLACK) >= _key(evaluator, ev,
                                                                         FINE_SLACK):
            break
        ev = chosen
        if shortfall(ev, thr, FINE_SLACK).covered:
            break
    return ev


def check_constraints(ev: LayoutEvaluation, target: PlanTarget, thermal: ThermalResult | None,
                      limits: PlanLimits) -> list[ConstraintCheck]:
    """Every limit of the plan (:class:`PlanLimits`, critical structures, thermal damage),
    with the numbers that decide it."""
    lay = ev.layout
    checks = [_coverage_check(ev, target, limits)]
    currents = ev.pair_currents_A()
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
                                      f"{'within' if ok_d else 'outside'} 5-25 mm"))
    ok_n = limits.min_probes <= lay.n_probes <= limits.max_probes
    checks.append(ConstraintCheck("probes", ok_n, f"{lay.n_probes} probes (2-6)"))
    ok_l = limits.min_exposed_m - 1e-9 <= lay.exposed_m <= limits.max_exposed_m + 1e-9
    checks.append(ConstraintCheck("exposed length", ok_l,
                                  f"exposed length {lay.exposed_m * 1e3:.0f} mm (5-40 mm)"))
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


def _coverage_check(ev: LayoutEvaluation, target: PlanTarget,
                    limits: PlanLimits) -> ConstraintCheck:
    """Coverage, and when it falls short: how many voxels, by how much, and which limit keeps
    the pair that reaches the worst voxel best from reaching it."""
    if ev.coverage >= 1.0:
        return ConstraintCheck("coverage", True, "coverage 100 % = 100 %")
    cov = math.floor(ev.coverage * 1e4) / 1e2  # never rounds up to 100
    thr = target.lethal_threshold_V_per_m
    counted = ev.counted
    ratio = np.zeros(counted.shape)
    ratio[counted] = thr[counted] / np.maximum(ev.max_e_V_per_m[counted], 1e-30)
    short = ratio * FINE_SLACK > 1.0
    n = int(short.sum())
    worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    r = float(ratio[worst])
    text = (f"coverage {cov:.2f} % < 100 %: {n} target voxel{'' if n == 1 else 's'} "
            f"({n * target.grid.voxel_volume_m3 * 1e6:.3f} cm3) below their lethal threshold "
            f"(+{100 * (FINE_SLACK - 1):.1f} % margin), the worst at {100 * (1 - 1 / r):.1f} % "
            f"below it")
    if ev.fields and r < math.inf:
        n_pairs = len(ev.layout.pairs)
        at = [float(f[worst]) for f in ev.fields]
        p = int(np.argmax(at)) % n_pairs
        i, j = ev.layout.pairs[p]
        volts = ev.layout.voltages_V[p]
        current = float(ev.pair_currents_A()[p])
        # |E| ~ V**0.8 near the threshold (median, see irelab.plan.voltages.FIELD_EXPONENT)
        need = volts * r ** (1 / 0.8)
        if volts >= limits.max_voltage_V - 1e-6:
            bound = f"at the {limits.max_voltage_V:.0f} V limit"
        elif current >= 0.95 * limits.initial_current_limit_A:
            bound = f"held there by the {limits.max_current_A:.0f} A current limit"
        else:
            bound = "below the limits"
        text += (f"; the strongest pair there, P{i + 1}-P{j + 1}, is at {volts:.0f} V "
                 f"({bound}, {current:.1f} A) and would need about {need:.0f} V")
    return ConstraintCheck("coverage", False, text)
