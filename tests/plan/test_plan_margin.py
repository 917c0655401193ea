"""The minimal ablative margin on analytic shapes (no field solve): concentric and off-centre
spheres, where it falls short, critical structures and needle tracks excused."""

from __future__ import annotations

import numpy as np
import pytest

from irelab.field import Grid
from irelab.plan import measure_margin

H = 0.5e-3
GRID = Grid.centred((0.04, 0.04, 0.04), H)
X, Y, Z = GRID.centres_m()
R_TUMOUR = 8e-3
TUMOUR = (X**2 + Y**2 + Z**2 <= R_TUMOUR**2) & np.ones(GRID.shape, dtype=bool)
THRESHOLD = np.ones(GRID.shape)
NONE = np.zeros(GRID.shape, dtype=bool)


def _zone(radius_m: float, centre=(0.0, 0.0, 0.0)) -> np.ndarray:
    """|E| = 2 (lethal) inside a ball, 0.5 outside."""
    inside = (X - centre[0])**2 + (Y - centre[1])**2 + (Z - centre[2])**2 <= radius_m**2
    return np.where(inside, 2.0, 0.5)


def test_a_concentric_zone_has_the_margin_of_the_radii() -> None:
    """Tumour r = 8 mm, lethal ball r = 13 mm: the margin is 5 mm, exactly (the difference of
    the radii) up to the voxel staircase of the two spheres: at most one voxel (0.5 mm) less
    and half a voxel more (the tumour's surface lies half a voxel beyond its outer centres);
    the requested 5 mm is met and no target voxel is missed."""
    staircase = H  # two voxelised sphere surfaces, each within half a voxel of the true one
    report = measure_margin(_zone(13e-3), THRESHOLD, 1.0, TUMOUR, NONE, {}, GRID, 5e-3)
    assert report.tumour_covered and report.tumour_voxels == int(TUMOUR.sum())
    assert 5.0 - 1e3 * staircase <= report.achieved_mm <= 5.0 + 1e3 * staircase / 2
    assert report.margin_met and report.acceptable


def test_an_off_centre_zone_is_short_on_one_side_and_says_where() -> None:
    """Lethal ball r = 13 mm moved 3 mm along +x: the margin is 13 - 3 - 8 = 2 mm, on the -x
    side; a 5 mm margin is missed by more than the 0.5 mm grid spacing, the largest gap lies
    at x < 0, and a 2 mm request is met."""
    e = _zone(13e-3, centre=(3e-3, 0.0, 0.0))
    report = measure_margin(e, THRESHOLD, 1.0, TUMOUR, NONE, {}, GRID, 5e-3)
    assert report.tumour_covered
    assert report.achieved_mm == pytest.approx(2.0, abs=1e3 * H)
    assert not report.margin_met and not report.acceptable
    assert report.target_short > 0 and report.gaps
    assert report.gaps[0].centre_mm[0] < -4.0  # the missed crescent lies on the -x side
    assert report.gaps[0].margin_mm == pytest.approx(report.achieved_mm, abs=1e3 * H)
    assert measure_margin(e, THRESHOLD, 1.0, TUMOUR, NONE, {}, GRID, 2e-3).margin_met


def test_a_margin_short_by_less_than_one_grid_spacing_is_met_and_still_reported() -> None:
    """Lethal ball r = 12.8 mm around the 8 mm tumour: a 4.8 mm margin (voxelised: 4.3-5.05 mm,
    measured 4.5 mm) against 5 mm requested: short by less than the 0.5 mm grid spacing, so met,
    with the missed margin voxels counted and located; against 5.5 mm it is missed."""
    report = measure_margin(_zone(12.8e-3), THRESHOLD, 1.0, TUMOUR, NONE, {}, GRID, 5e-3)
    assert 4.5 - 1e-6 <= report.achieved_mm < 5.0
    assert report.margin_met and report.target_short > 0 and report.gaps
    assert not measure_margin(_zone(12.8e-3), THRESHOLD, 1.0, TUMOUR, NONE, {}, GRID,
                              5.5e-3).margin_met


def test_vessels_and_needle_tracks_are_not_live_tissue() -> None:
    """A vessel and a needle track inside the margin are not lethal (the field there is low)
    yet the margin stays 5 mm: they are not tissue the plan must kill; a gap beside the vessel
    is said to lie beside it (the zone reaches 13.5 mm: every target voxel, whose centres lie
    within 5 + 0.25 mm of the tumour's, is lethal)."""
    e = _zone(13.5e-3)
    vessel = ((Y - 11e-3)**2 + Z**2 <= (1.5e-3)**2) & np.ones(GRID.shape, dtype=bool)
    track = ((X - 10e-3)**2 + Y**2 <= (0.55e-3)**2) & (Z >= -15e-3)
    e[vessel | track] = 0.1
    report = measure_margin(e, THRESHOLD, 1.0, TUMOUR, track, {"blood": vessel}, GRID, 5e-3)
    assert report.achieved_mm >= 4.5 and report.target_short == 0
    shadow = e.copy()
    shadow[(Y > 9.5e-3) & (np.abs(Z) < 3e-3) & (np.abs(X) < 3e-3)] = 0.1  # behind the vessel
    short = measure_margin(shadow, THRESHOLD, 1.0, TUMOUR, track, {"blood": vessel}, GRID,
                           5e-3)
    assert short.gaps and short.gaps[0].beside == "blood"


def test_an_uncovered_tumour_has_no_margin() -> None:
    """A lethal ball smaller than the tumour: tumour voxels are short, no margin is measured,
    and the worst tumour voxel's threshold ratio (2: |E| 0.5 against 1) is reported."""
    report = measure_margin(_zone(6e-3), THRESHOLD, 1.0, TUMOUR, NONE, {}, GRID, 5e-3)
    assert not report.tumour_covered and report.achieved_mm is None
    assert report.tumour_worst_ratio == pytest.approx(2.0)
    assert not report.acceptable
