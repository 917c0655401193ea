"""The procedure around the plan: the probes as placed (measured tips and directions, Slicer
markups or pair spacings) and the re-plan that keeps the target covered with them."""

from irelab.procedure.cover import COVER_FACTOR
from irelab.procedure.field import FieldOutcome, PlacedField, TargetRegion
from irelab.procedure.measured import MeasuredKind, MeasuredProbes, ProbeDeviation, read_measured
from irelab.procedure.replan import ReplanOptions, ReplanResult, replan
from irelab.procedure.spacing import SPACING_TOLERANCE_MM, MeasuredSpacing, arrange_by_spacings

__all__ = [
    "COVER_FACTOR",
    "SPACING_TOLERANCE_MM",
    "FieldOutcome",
    "MeasuredKind",
    "MeasuredProbes",
    "MeasuredSpacing",
    "PlacedField",
    "ProbeDeviation",
    "ReplanOptions",
    "ReplanResult",
    "TargetRegion",
    "arrange_by_spacings",
    "read_measured",
    "replan",
]
