"""Two parallel cylinders: exact current and |E| isolines, spacing independence, observed order.

Reference: the exact two-cylinder solution (see field_cases: Smythe, Static and Dynamic
Electricity, Sec. 4.13: |E| = V b / (arccosh(c/a) r1 r2), conductance per metre
pi sigma / arccosh(c/a)), corrected for our insulated 120 mm box by the method of images (the
correction lowers the current by 0.81 % for c = 7.5 mm, a = 0.55 mm; without it the errors below
would read 0.8 % more negative). The needles (1.1 mm, 15 mm apart) span the full height of a
box two voxels thick, so the 3-D solver is tested on the 2-D solution.
"""

from __future__ import annotations

import numpy as np
import pytest
from field_cases import MM, TwoCylinderReference, two_cylinder_problem

from irelab.field import FieldSolver, Grid

VOLTAGE = 1000.0

CURRENT_RTOL = 0.005  # current at 0.4-1 mm, any needle offset: measured within 0.31 % (the
# original acceptance bound was 2 %; the ray-cast cut cells keep it well inside 0.5 %)
AREA_RTOL = 0.03  # isoline areas at 0.5 mm (voxel counting of the area)
SPREAD = 0.005  # max-min spread over 0.4-1 mm and offsets: measured 0.32 % (bound was 2 %)


def _reference(problem) -> TwoCylinderReference:
    g = problem.grid
    return TwoCylinderReference(half_x=g.upper_m[0], half_y=g.upper_m[1], voltage=VOLTAGE)


def _relative_current_error(spacing_m: float, shift_m=(0.0, 0.0)) -> float:
    problem = two_cylinder_problem(spacing_m, shift_m=shift_m)
    solution = FieldSolver(problem).solve_pair("A", "B", VOLTAGE)
    height = problem.grid.shape[2] * spacing_m
    return solution.current_A / (_reference(problem).current_per_m * height) - 1


@pytest.fixture(scope="module")
def reference_120mm() -> TwoCylinderReference:
    grid = Grid.centred((0.12, 0.12, 1e-3), 0.5e-3)
    return TwoCylinderReference(half_x=grid.upper_m[0], half_y=grid.upper_m[1], voltage=VOLTAGE)


def test_box_truncation_is_small_and_quantified(reference_120mm) -> None:
    """The image correction for the 120 mm box is below 1 % (it is applied, not ignored)."""
    ratio = reference_120mm.current_per_m / reference_120mm.free_current_per_m
    assert -0.01 < ratio - 1 < -0.005


def test_current_and_isoline_areas_at_half_millimetre() -> None:
    """Current within 2 % and the area inside four |E| isolines within 3 % at 0.5 mm.

    Levels are multiples of |E| at the midpoint between the needles (0.5, 0.75, 1.25, 1.75),
    avoiding the saddle isoline through the midpoint itself. Analytic areas are counted on a
    0.05 mm sampling grid; model areas count voxel centres of one layer.
    """
    h = 0.5 * MM
    problem = two_cylinder_problem(h)
    solution = FieldSolver(problem).solve_pair("A", "B", VOLTAGE)
    ref = _reference(problem)
    height = problem.grid.shape[2] * h
    assert solution.converged
    assert solution.current_A == pytest.approx(ref.current_per_m * height, rel=CURRENT_RTOL)
    e_mid = VOLTAGE * ref.b / (np.arccosh(ref.c / ref.a) * ref.b**2)
    levels = e_mid * np.array([0.5, 0.75, 1.25, 1.75])
    exact = ref.area_above(levels)
    layer = solution.e_field_V_per_m[:, :, 0]
    model = np.array([np.sum(layer > level) * h * h for level in levels])
    np.testing.assert_allclose(model, exact, rtol=AREA_RTOL)


@pytest.mark.slow
def test_current_nearly_independent_of_spacing_and_needle_offset() -> None:
    """The sub-voxel electrode keeps the current within 0.5 % of exact over 0.4-1 mm spacings and
    five needle positions relative to the voxels (on a row, between rows, diagonal), with a
    max-min spread below 0.5 %. A voxel staircase misses by 5-12 %, non-monotonically, as
    measured by the team. Measured here: -0.01 % to +0.31 %."""
    offsets = ((0.0, 0.0), (0.31, 0.0), (0.17, 0.102), (0.05, 0.29), (0.5, 0.5))
    errors = [
        _relative_current_error(h * MM, (sx * MM, sy * MM))
        for h in (0.4, 0.5, 0.667, 1.0)
        for sx, sy in offsets
    ]
    assert max(abs(e) for e in errors) < CURRENT_RTOL
    assert max(errors) - min(errors) < SPREAD


@pytest.mark.slow
def test_observed_convergence_order_of_the_field() -> None:
    """Relative L2 error of |E| against the exact field, over the voxels at least 2 mm from
    both needles in a 30 x 20 mm window, at 1, 0.71, 0.5 and 0.35 mm: fit log error against
    log h and expect second order (measured slope 1.85, error 2.9 % at 1 mm to 0.43 %)."""
    spacings = np.array([1.0, 0.707, 0.5, 0.354]) * MM
    errors = []
    for h in spacings:
        problem = two_cylinder_problem(h)
        solution = FieldSolver(problem).solve_pair("A", "B", VOLTAGE)
        ref = _reference(problem)
        x, y, _ = problem.grid.centres_m()
        shape = problem.grid.shape[:2]
        xx, yy = np.broadcast_to(x[:, :, 0], shape), np.broadcast_to(y[:, :, 0], shape)
        near = np.minimum(np.hypot(xx + ref.c, yy), np.hypot(xx - ref.c, yy))
        region = (near > 2 * MM) & (np.abs(xx) < 15 * MM) & (np.abs(yy) < 10 * MM)
        exact = ref.e_magnitude(xx[region], yy[region])
        model = solution.e_field_V_per_m[:, :, 0][region]
        errors.append(np.sqrt(np.mean((model - exact) ** 2) / np.mean(exact**2)))
    slope = np.polyfit(np.log(spacings), np.log(errors), 1)[0]
    assert 1.7 < slope < 2.3
    assert np.all(np.diff(errors) < 0)


def test_reference_grid_matches_problem_grid() -> None:
    """The fixture's box is the box of the 0.5 mm problem (guards the reference's walls)."""
    g = Grid.centred((0.12, 0.12, 1e-3), 0.5e-3)
    assert two_cylinder_problem(0.5e-3).grid.upper_m[0] == pytest.approx(g.upper_m[0])
