"""Electric field with field-dependent conductivity on a voxel grid."""

from irelab.field.conductivity import MODELS, ConductivityModel, SmoothStepConductivity
from irelab.field.problem import Electrode, FieldProblem, Grid, Insulator, PairSolution

__all__ = [
    "MODELS",
    "ConductivityModel",
    "Electrode",
    "FieldProblem",
    "Grid",
    "Insulator",
    "PairSolution",
    "SmoothStepConductivity",
]
