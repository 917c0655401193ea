"""Treatment planning: targets, probe layouts, coarse search, fine-grid confirmation and repair."""

from irelab.plan.evaluate import Evaluator, LayoutEvaluation
from irelab.plan.layout import VOLTS_PER_SPACING, ProbeLayout
from irelab.plan.optimiser import (
    ConstraintCheck,
    PlanOptions,
    PlanResult,
    PlanTimings,
    plan_treatment,
)
from irelab.plan.search import Shortfall, improve_positions, shortfall
from irelab.plan.targets import PlanLimits, PlanTarget, build_target, dilate_mm
from irelab.plan.voltages import limit_voltages, lower_voltages

__all__ = [
    "VOLTS_PER_SPACING",
    "ConstraintCheck",
    "Evaluator",
    "LayoutEvaluation",
    "PlanLimits",
    "PlanOptions",
    "PlanResult",
    "PlanTarget",
    "PlanTimings",
    "ProbeLayout",
    "Shortfall",
    "build_target",
    "dilate_mm",
    "improve_positions",
    "limit_voltages",
    "lower_voltages",
    "plan_treatment",
    "shortfall",
]
