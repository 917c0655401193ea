"""Electric field with field-dependent conductivity on a voxel grid."""

from irelab.field.conductivity import MODELS, ConductivityModel, SmoothStepConductivity
from irelab.field.interfaces import (
    BoxShape,
    CylinderShape,
    ShapeRegion,
    SphereShape,
    TissueInterfaces,
)
from irelab.field.problem import (
    Electrode,
    FieldProblem,
    Grid,
    Insulator,
    Material,
    PairSolution,
    TissueRole,
)
from irelab.field.solver import FieldSolver, SolverOptions, solve_pair
from irelab.field.volume import lethal_volume_m3

__all__ = [
    "MODELS",
    "BoxShape",
    "CylinderShape",
    "ShapeRegion",
    "SphereShape",
    "TissueInterfaces",
    "ConductivityModel",
    "Electrode",
    "FieldProblem",
    "FieldSolver",
    "Grid",
    "Insulator",
    "Material",
    "PairSolution",
    "SmoothStepConductivity",
    "SolverOptions",
    "TissueRole",
    "lethal_volume_m3",
    "solve_pair",
]
