"""Treatment planning: targets, probe layouts, coarse search and fine-grid confirmation."""

from irelab.plan.evaluate import Evaluator, LayoutEvaluation
from irelab.plan.layout import VOLTS_PER_SPACING, ProbeLayout
from irelab.plan.optimiser import (
    ConstraintCheck,
    PlanOptions,
    PlanResult,
    PlanTimings,
    plan_treatment,
)
from irelab.plan.targets import PlanLimits, PlanTarget, build_target, dilate_mm

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
    "build_target",
    "dilate_mm",
    "plan_treatment",
]
