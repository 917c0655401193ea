"""What the stages of one planning run share: the case, the options, both grids' anatomy and
target, the evaluators (with their cached solvers and warm starts) and the journal.

The search grid's evaluator is built on first use and released when the search is done; the
confirmation grid's two evaluators (one solving to the default tolerance for everything that is
reported, one to the search tolerance for trial moves) share their warm starts.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property

from irelab.case.model import Case
from irelab.delivery.generator import GeneratorConfig, current_rise_factor
from irelab.field.problem import FieldProblem
from irelab.field.solver import SolverOptions
from irelab.plan.evaluate import Evaluator, LayoutEvaluation
from irelab.plan.journal import Journal
from irelab.plan.margin import MarginReport, measure_margin
from irelab.plan.options import CLEARANCE_M, FINE_SLACK, SEARCH_RTOL, PlanOptions
from irelab.plan.targets import PlanLimits, PlanTarget, build_target
from irelab.plan.workers import SolverPool

__all__ = ["PlanContext", "with_current_rise"]


def with_current_rise(options: PlanOptions) -> PlanOptions:
    """``options`` with the current limit's rise factor from the generator's current model:
    the current of a pair rises over its pulses (:func:`irelab.delivery.current_rise_factor`),
    so the predicted (first-pulse) current is limited such that the last pulse stays within
    the current limit, as the delivery simulator will check it."""
    rise = current_rise_factor(GeneratorConfig(), options.schedule.pulses_per_pair)
    return replace(options, limits=replace(options.limits, current_rise=rise))


class PlanContext:
    """Grids, targets, evaluators and journal of one planning run (see the module doc)."""

    def __init__(self, case: Case, options: PlanOptions, journal: Journal,
                 pool: SolverPool | None = None) -> None:
        self.case = case
        self.pool = pool
        self.options = options
        self.journal = journal
        self.coarse_solves = 0
        self._margins: dict[int, tuple[LayoutEvaluation, MarginReport]] = {}

    @property
    def limits(self) -> PlanLimits:
        return self.options.limits

    def problem(self, spacing_m: float) -> FieldProblem:
        return self.case.field_problem(spacing_mm=spacing_m * 1e3, anatomy_only=True)

    @cached_property
    def coarse_target(self) -> PlanTarget:
        """The search grid's target; the search keeps an extra half voxel away from critical
        structures, so that the confirmation grid's finer voxels cannot find a crossing the
        search missed."""
        spacing = self.options.search_spacing_m
        return build_target(self.coarse_problem, self.options.margin_m, self.options.direction,
                            clearance_m=CLEARANCE_M + spacing / 2,
                            threshold_factor=self.options.threshold_factor,
                            standoff_m=dict(self.options.standoff_m))

    @cached_property
    def coarse_problem(self) -> FieldProblem:
        return self.problem(self.options.search_spacing_m)

    @cached_property
    def coarse_eval(self) -> Evaluator:
        return Evaluator(self.coarse_problem, self.coarse_target,
                         SolverOptions(nonlinear_rtol=SEARCH_RTOL), max_solvers=2,
                         pool=self.pool)

    def release_search_grid(self) -> None:
        """Forget the search grid's solvers and solutions (memory), keeping the solve count."""
        if "coarse_eval" in self.__dict__:
            self.coarse_solves += self.coarse_eval.solves
            self.coarse_eval.forget()
            del self.__dict__["coarse_eval"]

    @cached_property
    def fine_problem(self) -> FieldProblem:
        return self.problem(self.options.fine_spacing_m)

    @cached_property
    def fine_target(self) -> PlanTarget:
        return build_target(self.fine_problem, self.options.margin_m, self.options.direction,
                            clearance_m=CLEARANCE_M,
                            threshold_factor=self.options.threshold_factor,
                            standoff_m=dict(self.options.standoff_m))

    @cached_property
    def fine_eval(self) -> Evaluator:
        """Exact solves on the confirmation grid (what is reported)."""
        return Evaluator(self.fine_problem, self.fine_target, SolverOptions(),
                         keep_power=self.options.thermal, max_solvers=2,
                         coverage_margin=FINE_SLACK, pool=self.pool)

    @cached_property
    def fine_search(self) -> Evaluator:
        """Trial moves on the confirmation grid: the search tolerance, the same warm starts."""
        return Evaluator(self.fine_problem, self.fine_target,
                         SolverOptions(nonlinear_rtol=SEARCH_RTOL),
                         warm=self.fine_eval.warm_starts, max_solvers=2,
                         coverage_margin=FINE_SLACK, pool=self.pool)

    @property
    def fine_solves(self) -> int:
        count = 0
        for name in ("fine_eval", "fine_search"):
            if name in self.__dict__:
                count += self.__dict__[name].solves
        return count

    @property
    def search_solves(self) -> int:
        live = self.__dict__.get("coarse_eval")
        return self.coarse_solves + (live.solves if live is not None else 0)

    def margin(self, ev: LayoutEvaluation) -> MarginReport:
        """Tumour coverage and minimal ablative margin of a confirmation-grid evaluation."""
        cached = self._margins.get(id(ev))
        if cached is not None and cached[0] is ev:
            return cached[1]
        target = self.fine_target
        report = measure_margin(ev.max_e_V_per_m, target.lethal_threshold_V_per_m, FINE_SLACK,
                                target.tumour, self.fine_eval.conductor(ev.layout,
                                                                        ev.max_e_V_per_m),
                                target.critical,
                                target.grid, self.options.margin_m)
        while len(self._margins) >= 8:
            del self._margins[next(iter(self._margins))]
        self._margins[id(ev)] = (ev, report)
        return report

    def describe(self, ev: LayoutEvaluation) -> str:
        """What a confirmation-grid evaluation achieves, in a few words with the numbers."""
        m = self.margin(ev)
        if not m.tumour_covered:
            below = 100 * (1 - 1 / m.tumour_worst_ratio)
            text = (f"{m.tumour_short} tumour voxels short (the worst {below:.1f} % below its "
                    "threshold)")
        else:
            text = (f"tumour covered, minimal margin {m.achieved_mm:.1f} mm of "
                    f"{m.requested_mm:g} mm, {m.target_short} margin voxels short")
        return f"{text}; {ev.layout.n_positions} placement(s), {ev.max_current_A:.1f} A"
