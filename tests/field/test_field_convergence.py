"""Observed order of convergence in 3-D: finite needles with tips, junctions and shafts.

Reference: NGSolve (an established finite-element package) on the same problem, the
``convergence`` scene of benchmarks/field_vs_fem.py, solved by ``run_fem(SCENES["convergence"],
FemLevel(3, 0.12, 0.7, 4.0))``: P3 elements on a Netgen mesh graded to 0.12 mm along the needles
(0.06 mm on the rims), 0.7 mm in the treated region, 896 k unknowns: current 2.48749 A, lethal
volume (|E| >= 400 V/cm) 1.00615 cm3. The level before it (P3, 0.2 / 1.0 mm, 432 k unknowns)
gave 2.48813 A and 1.00649 cm3: the reference is good to about 0.03 %.

Measured here (1, 0.5, 0.25 mm): lethal volume -1.49 %, -0.54 %, -0.17 % (fitted slope 1.57:
1.46 from 1 to 0.5 mm, 1.69 from 0.5 to 0.25 mm); current -0.13 %, -0.14 %, -0.12 %: within
0.15 % on every grid, but its remaining error does not shrink with the spacing at this level -
it comes from the needles' ends, whose correction is exact for the axisymmetric part of the
near field only. The needles' axes lie on cell edges on every grid; at 1 mm no cell centre is
inside a needle, and before the reported field next to such a needle was corrected (a half face
partly open and partly linked counted twice, see
:meth:`irelab.field.operators.FieldOperator.e_field_central`) the 1 mm volume was -2.36 %, the
finer grids' the same, and the fitted slope 1.9: the slope fell because the coarsest grid got
better, so the test holds every grid's error under what it was and asks for a slope above 1.45.
"""

from __future__ import annotations

import numpy as np
import pytest
from field_cases import MM, convergence_problem

from irelab.field import FieldSolver, SolverOptions, lethal_volume_m3

SPACINGS_MM = np.array([1.0, 0.5, 0.25])
FEM_CURRENT_A = 2.48749
FEM_LETHAL_CM3 = 1.00615
THRESHOLD_V_PER_M = 400e2
VOLTAGE_V = 1000.0
SLOPE_RANGE = (1.45, 2.4)  # measured 1.57 (module doc)
MAX_ERRORS = (0.0155, 0.0056, 0.0018)  # measured 1.49, 0.54, 0.17 %
CURRENT_RTOL = 0.002  # measured 0.14 % at worst; the FEM reference itself is good to 0.03 %


@pytest.fixture(scope="module")
def results() -> list[tuple[float, float]]:
    out = []
    for h in SPACINGS_MM * MM:
        problem = convergence_problem(h)
        solution = FieldSolver(problem, SolverOptions(nonlinear_rtol=1e-5)).solve_pair(
            "A", "B", VOLTAGE_V)
        assert solution.converged
        volume = lethal_volume_m3(problem, solution.e_field_V_per_m, THRESHOLD_V_PER_M) * 1e6
        out.append((solution.current_A, volume))
    return out


@pytest.mark.slow
def test_lethal_volume_converges_at_second_order(results) -> None:
    """The relative error of the lethal volume falls monotonically with the spacing, with a
    fitted log-log slope between first and second order (three grids, module doc), and stays
    under the measured error on every grid."""
    errors = np.abs(np.array([v for _, v in results]) / FEM_LETHAL_CM3 - 1)
    assert np.all(np.diff(errors) < 0)
    assert np.all(errors < MAX_ERRORS)
    slope = np.polyfit(np.log(SPACINGS_MM), np.log(errors), 1)[0]
    assert SLOPE_RANGE[0] < slope < SLOPE_RANGE[1]
    assert errors[-1] < 0.003


@pytest.mark.slow
def test_current_is_within_a_fifth_of_a_percent_on_every_grid(results) -> None:
    """The current is within 0.2 % of the finite-element reference at 1, 0.5 and 0.25 mm
    (a voxel staircase misses by 5-12 %, the cut cells without end correction by 1-3 %)."""
    for current, _ in results:
        assert current == pytest.approx(FEM_CURRENT_A, rel=CURRENT_RTOL)
