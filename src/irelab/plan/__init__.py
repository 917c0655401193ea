"""Treatment planning: a pipeline of stages (search, confirm, reposition, alternatives,
voltages, thermal, constraints), each in its own module; :func:`plan_treatment` composes them."""

from irelab.plan.constraints import ConstraintCheck
from irelab.plan.evaluate import Evaluator, LayoutEvaluation
from irelab.plan.journal import Journal, Step
from irelab.plan.layout import VOLTS_PER_SPACING, ProbeLayout
from irelab.plan.margin import MarginGap, MarginReport, measure_margin
from irelab.plan.options import PlanOptions
from irelab.plan.pipeline import PlanResult, PlanTimings, adjust_voltages, plan_treatment
from irelab.plan.search import Shortfall, improve_positions, shortfall
from irelab.plan.targets import PlanLimits, PlanTarget, Unreachable, build_target, dilate_mm
from irelab.plan.voltages import limit_voltages, lower_voltages

__all__ = [
    "VOLTS_PER_SPACING",
    "ConstraintCheck",
    "Evaluator",
    "Journal",
    "LayoutEvaluation",
    "MarginGap",
    "MarginReport",
    "PlanLimits",
    "PlanOptions",
    "PlanResult",
    "PlanTarget",
    "PlanTimings",
    "ProbeLayout",
    "Shortfall",
    "Step",
    "Unreachable",
    "adjust_voltages",
    "build_target",
    "dilate_mm",
    "improve_positions",
    "limit_voltages",
    "lower_voltages",
    "measure_margin",
    "plan_treatment",
    "shortfall",
]
