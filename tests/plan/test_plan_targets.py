"""Target construction and the geometric rules of the planner (no field solve)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from plan_cases import liver_problem

from irelab.field import FieldProblem, Grid
from irelab.plan import PlanLimits, build_target, dilate_mm
from irelab.plan.layout import AXIAL_OVERHANG_M, axial_positions


def _anatomy(size_mm, spacing_mm, tumour) -> FieldProblem:
    grid = Grid.centred(tuple(s * 1e-3 for s in size_mm), spacing_mm * 1e-3)
    x, y, z = grid.centres_m()
    labels = np.zeros(grid.shape, dtype=np.int8)
    labels[tumour(x, y, z) & np.ones(grid.shape, dtype=bool)] = 1
    return liver_problem(grid, labels, 2)


def test_margin_dilation_matches_the_analytic_sphere_volume() -> None:
    """A 10 mm-radius sphere dilated by 5 mm is a 15 mm-radius sphere: 4/3 pi 15^3 = 14.14 cm3.

    Reference: the closed-form ball volume. The dilation counts voxel centres within
    margin + h/2 of a tumour centre (surface-based, see ``dilate_mm``), which errs by up to ~h/4
    in radius on the large side: +2.5 % in volume at h = 0.5 mm; tolerance 4 %, and never more
    than 1 % small (an under-treated margin). An iterated 6-neighbour structuring element grows
    an octahedron-like shape, ~15 % smaller, which this test would catch.
    """
    h = 0.5e-3
    grid = Grid.centred((0.05, 0.05, 0.05), h)
    x, y, z = grid.centres_m()
    ball = (x**2 + y**2 + z**2) <= 0.01**2
    dilated = dilate_mm(ball, h, 5e-3)
    volume = dilated.sum() * h**3
    exact = 4 / 3 * math.pi * 0.015**3
    assert volume == pytest.approx(exact, rel=0.04)
    assert volume >= 0.99 * exact


def test_target_excludes_critical_structures_and_keep_out_surrounds_them() -> None:
    grid = Grid.centred((0.04, 0.04, 0.04), 1e-3)
    x, y, z = grid.centres_m()
    labels = np.zeros(grid.shape, dtype=np.int8)
    labels[(x**2 + y**2 + z**2 <= 0.008**2)] = 1
    vessel = ((y - 0.01) ** 2 + z**2 <= 0.002**2) & np.ones(grid.shape, dtype=bool)
    labels[vessel] = 2
    problem = liver_problem(grid, labels)
    target = build_target(problem, margin_m=5e-3)
    assert not (target.target & vessel).any()
    assert target.target.sum() > 0
    assert target.keep_out[vessel].all()
    assert target.keep_out.sum() > vessel.sum()


def test_a_standoff_widens_the_keep_out_around_the_named_structure_only() -> None:
    """A 4 mm vessel along x at y = 10 mm: the keep-out reaches the probe radius (0.55 mm) plus
    the clearance (0.5 mm) beyond its wall, and 2 mm further with a 2 mm standoff from
    ``blood``. On 1 mm voxels (centres at half millimetres; the wall's outer centre at 8.5 mm,
    the dilation counting centres within the reach plus half a voxel of it) the keep-out's
    lowest centre is y = 7.5 mm without (>= 8 - 1.05) and 5.5 mm with the standoff
    (>= 8 - 3.05): 0.5 and 2.5 mm below the wall. An unknown structure or a negative distance
    is refused with its name."""
    grid = Grid.centred((0.04, 0.04, 0.04), 1e-3)
    x, y, z = grid.centres_m()
    labels = np.zeros(grid.shape, dtype=np.int8)
    labels[(x**2 + y**2 + z**2 <= 0.006**2)] = 1
    labels[((y - 0.01) ** 2 + z**2 <= 0.002**2) & np.ones(grid.shape, dtype=bool)] = 2
    problem = liver_problem(grid, labels)
    plain = build_target(problem, margin_m=5e-3)
    held = build_target(problem, margin_m=5e-3, standoff_m={"blood": 2e-3})
    assert (held.keep_out >= plain.keep_out).all()
    assert np.array_equal(held.target, plain.target)

    def reach_mm(keep_out: np.ndarray) -> float:
        """How far below the vessel's lower wall (y = 8 mm) the keep-out reaches at z = 0."""
        column = keep_out[grid.shape[0] // 2, :, grid.shape[2] // 2]
        return (0.008 - float(y[0, column, 0].min())) * 1e3

    assert reach_mm(plain.keep_out) == pytest.approx(0.5)
    assert reach_mm(held.keep_out) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="'bile' is not a critical structure"):
        build_target(problem, standoff_m={"bile": 2e-3})
    with pytest.raises(ValueError, match="standoff from blood"):
        build_target(problem, standoff_m={"blood": -1e-3})


@pytest.mark.parametrize("length_mm, positions", [(30, 1), (45, 1), (46.5, 2), (60, 2),
                                                  (90, 3)])
def test_pullbacks_exactly_when_the_target_is_longer_than_one_placement(length_mm,
                                                                       positions) -> None:
    """One placement covers 40 mm of exposed electrode plus the zone's overhang at both ends
    (2 x 3 mm), i.e. a target up to 46 mm long; longer targets need ceil((L - 6) / 40) positions.
    """
    half = length_mm / 2 * 1e-3
    problem = _anatomy((30, 30, length_mm + 20), 0.5,
                       lambda x, y, z: (x**2 + y**2 <= 0.005**2) & (np.abs(z) <= half - 1e-9))
    target = build_target(problem, margin_m=0.0)
    lo, hi = target.axial_extent_m()
    assert hi - lo == pytest.approx(length_mm * 1e-3, abs=0.6e-3)
    exposed, tips = axial_positions(target, PlanLimits())
    expected = max(1, math.ceil((hi - lo - 2 * AXIAL_OVERHANG_M) / 0.040 - 1e-9))
    assert len(tips) == expected == positions
    assert 5e-3 <= exposed <= 40e-3 + 1e-12
    # the positions cover the target's extent, deepest first, in equal whole-mm steps that
    # overlap (at most the exposed length apart)
    assert tips[0] <= lo + AXIAL_OVERHANG_M + 1e-9
    assert tips[-1] + exposed >= hi - AXIAL_OVERHANG_M - 1e-9
    steps = np.diff(tips)
    assert np.all(steps > 0) and np.all(steps <= exposed + 1e-12)
    assert np.allclose(steps, steps[0]) if len(steps) else True
    assert np.allclose(steps * 1e3, np.round(steps * 1e3))
    if positions == 1:  # one position: an electrode as long as the target allows
        assert exposed == pytest.approx(min(0.040, math.ceil((hi - lo) * 1e3 - 1e-6) / 1e3))


@pytest.mark.parametrize("length_mm", [30, 60])
def test_one_extra_pullback_shortens_the_electrodes_and_still_spans_the_target(
        length_mm) -> None:
    """The shorter-electrodes alternative: one pullback position more than the fewest gives a
    shorter exposed length (a pair then draws less current), overlapping positions in whole-mm
    steps that still span the target, overlapping by the same fraction of the electrode as
    PULLBACK_OVERLAP_M of the longest (15 / 40): two positions on a 30 mm target (one needed)
    get 30 / (2 - 0.375) = 18.5 -> 19 mm electrodes."""
    half = length_mm / 2 * 1e-3
    problem = _anatomy((30, 30, length_mm + 20), 0.5,
                       lambda x, y, z: (x**2 + y**2 <= 0.005**2) & (np.abs(z) <= half - 1e-9))
    target = build_target(problem, margin_m=0.0)
    lo, hi = target.axial_extent_m()
    exposed0, tips0 = axial_positions(target, PlanLimits())
    exposed, tips = axial_positions(target, PlanLimits(), extra=1)
    assert len(tips) == len(tips0) + 1
    assert 5e-3 <= exposed < exposed0
    # spanned up to the zone's overhang beyond the electrode ends (whole-mm steps), as above
    assert tips[0] <= lo + AXIAL_OVERHANG_M + 1e-9
    assert tips[-1] + exposed >= hi - AXIAL_OVERHANG_M - 1e-9
    assert np.all(np.diff(tips) > 0) and np.all(np.diff(tips) < exposed)
    if length_mm == 30:
        assert exposed == pytest.approx(19e-3)
