"""Small anatomies for the planner tests, as cases (the planner takes a case and returns one).

Imported by name (``plan_cases``), not through conftest: several test folders have a conftest.
"""

from __future__ import annotations

import numpy as np

from irelab.case import Case, parse_case
from irelab.field import FieldProblem, Grid, Material, SmoothStepConductivity, TissueRole

LIVER = SmoothStepConductivity(0.067, 0.241, 362e2, 637e2)
"""Sel D et al., IEEE Trans Biomed Eng 52(5):816-827, 2005: liver smoothed-step model."""

SEL_LIVER = {"sigma0_S_per_m": 0.067, "sigma1_S_per_m": 0.241, "e_rev_V_per_cm": 362,
             "e_irr_V_per_cm": 637,
             "source": "Sel D et al., IEEE Trans Biomed Eng 52(5):816-827, 2005 (liver)"}
"""A tumour with the liver's numbers: the planner's geometry alone decides (no contrast). The
cases pin the liver to the same model (``liver-sel2005``), whatever the default preset is."""


def sphere_case(size_mm: tuple[float, float, float], radius_mm: float,
                tumour: dict | None = None, vessel_y_mm: float | None = None,
                name: str = "sphere") -> Case:
    """Liver box, tumour sphere at the origin (the liver's numbers unless ``tumour`` gives
    others), optional blood vessel (radius 1.5 mm) along x at ``vessel_y_mm``."""
    regions = [{"tissue": "tumour", "sphere": {"center_mm": [0, 0, 0], "radius_mm": radius_mm}}]
    if vessel_y_mm is not None:
        half = size_mm[0] / 2
        regions.append({"tissue": "blood", "cylinder": {
            "start_mm": [-half, vessel_y_mm, 0], "end_mm": [half, vessel_y_mm, 0],
            "radius_mm": 1.5}})
    return parse_case({
        "name": name,
        "domain": {"size_mm": list(size_mm), "spacing_mm": 1.0},
        "anatomy": {"background": "liver", "regions": regions},
        "tissues": {"liver": {"like": "liver-sel2005"}, "tumour": tumour or SEL_LIVER},
    }, source=name)


def rod_case(size_mm: tuple[float, float, float], radius_mm: float,
             length_mm: float) -> Case:
    """Liver box, a tumour rod (cylinder) of ``length_mm`` along z (the default insertion
    axis), centred at the origin, with the liver's numbers."""
    return parse_case({
        "name": "rod",
        "domain": {"size_mm": list(size_mm), "spacing_mm": 1.0},
        "anatomy": {"background": "liver", "regions": [{"tissue": "tumour", "cylinder": {
            "start_mm": [0, 0, -length_mm / 2], "end_mm": [0, 0, length_mm / 2],
            "radius_mm": radius_mm}}]},
        "tissues": {"liver": {"like": "liver-sel2005"}, "tumour": SEL_LIVER},
    }, source="rod")


def anatomy(case: Case, spacing_m: float) -> FieldProblem:
    """The case's anatomy (no probes) on a grid of ``spacing_m``."""
    return case.field_problem(spacing_mm=spacing_m * 1e3, anatomy_only=True)


def liver_problem(grid: Grid, labels: np.ndarray, n_labels: int = 3) -> FieldProblem:
    """Labels 0 liver (background), 1 tumour (target), 2 blood (critical), all with the liver's
    conductivity: geometry tests that need roles, not physics."""
    roles = (TissueRole.BACKGROUND, TissueRole.TARGET, TissueRole.CRITICAL)
    names = ("liver", "tumour", "blood")
    materials = tuple(Material(names[k], LIVER, 637e2, roles[k]) for k in range(n_labels))
    return FieldProblem(grid, labels, materials)


def case_track(case, grid: Grid) -> np.ndarray:
    """Voxel centres inside any probe at any placement, from the case file alone (an
    independent copy of the rule, for the recomputation checks)."""
    x, y, z = grid.centres_m()
    pts = np.stack(np.broadcast_arrays(x, y, z), axis=-1)
    out = np.zeros(grid.shape, dtype=bool)
    for placement in case.protocol.placements:
        for p in case.probes:
            tip = placement.tip_mm(p) * 1e-3
            u = np.asarray(p.direction, dtype=float) / np.linalg.norm(p.direction)
            rel = pts - tip
            s = rel @ u
            radial = np.linalg.norm(rel - s[..., None] * u, axis=-1)
            out |= (radial <= p.diameter_mm * 1e-3 / 2) & (s >= 0)
    return out
