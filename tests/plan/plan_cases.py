"""Small anatomies built directly as FieldProblems (the planner needs only ``problem_at``).

Imported by name (``plan_cases``), not through conftest: several test folders have a conftest.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from irelab.field import FieldProblem, Grid, SmoothStepConductivity

LIVER = SmoothStepConductivity(0.067, 0.241, 362e2, 637e2)
"""Sel D et al., IEEE Trans Biomed Eng 52(5):816-827, 2005: liver smoothed-step model."""

BLOOD = SmoothStepConductivity(0.7, 0.7, 1e5, 2e5)
"""Blood, linear 0.7 S/m (Gabriel C et al., Phys Med Biol 41:2271, 1996, low-frequency blood)."""


def sphere_anatomy(size_mm: tuple[float, float, float], radius_mm: float,
                   tumour: SmoothStepConductivity = LIVER,
                   vessel_y_mm: float | None = None) -> Callable[[float], FieldProblem]:
    """``problem_at(spacing_m)``: liver box, tumour sphere at the origin, optional vessel."""

    def problem_at(spacing_m: float) -> FieldProblem:
        grid = Grid.centred(tuple(s * 1e-3 for s in size_mm), spacing_m)
        x, y, z = grid.centres_m()
        full = np.ones(grid.shape, dtype=bool)
        labels = np.zeros(grid.shape, dtype=np.int8)
        labels[(x**2 + y**2 + z**2 <= (radius_mm * 1e-3) ** 2) & full] = 1
        if vessel_y_mm is not None:
            labels[((y - vessel_y_mm * 1e-3) ** 2 + z**2 <= 1.5e-3**2) & full] = 2
        return FieldProblem(grid, labels, (LIVER, tumour, BLOOD), ("liver", "tumour", "blood"),
                            ())

    return problem_at


def rod_anatomy(size_mm: tuple[float, float, float], radius_mm: float,
                length_mm: float) -> Callable[[float], FieldProblem]:
    """``problem_at(spacing_m)``: liver box, a tumour rod (cylinder) of ``length_mm`` along z
    (the default insertion axis), centred at the origin."""

    def problem_at(spacing_m: float) -> FieldProblem:
        grid = Grid.centred(tuple(s * 1e-3 for s in size_mm), spacing_m)
        x, y, z = grid.centres_m()
        labels = np.zeros(grid.shape, dtype=np.int8)
        rod = (x**2 + y**2 <= (radius_mm * 1e-3) ** 2) & (np.abs(z) <= length_mm * 5e-4)
        labels[rod] = 1
        return FieldProblem(grid, labels, (LIVER, LIVER), ("liver", "tumour"), ())

    return problem_at


def case_track(case, grid: Grid) -> np.ndarray:
    """Voxel centres inside any probe at any placement, from the case file alone."""
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
