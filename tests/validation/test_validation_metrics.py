"""Zone agreement and margins against shapes whose answers are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from irelab.validation.metrics import (
    dice,
    hd95_mm,
    minimal_margin_mm,
    signed_distance_mm,
    zone_agreement,
)

H = 0.5  # mm
STAIRCASE_MM = H  # a voxelised sphere's surface lies within half a voxel either side: two sides


def _sphere(radius_mm: float, centre_mm=(0.0, 0.0, 0.0), half_mm: float = 14.0) -> np.ndarray:
    axis = np.arange(-half_mm, half_mm + H / 2, H)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    cx, cy, cz = centre_mm
    return (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= radius_mm**2


def test_dice_of_identical_disjoint_and_nested_spheres() -> None:
    """Nested spheres r and R: Dice = 2 r^3 / (r^3 + R^3) (volumes of the voxelised balls to
    about 1 %)."""
    small, large = _sphere(6.0), _sphere(9.0)
    assert dice(large, large) == 1.0
    assert dice(_sphere(3.0, (-10, 0, 0)), _sphere(3.0, (10, 0, 0))) == 0.0
    assert dice(small, large) == pytest.approx(2 * 6**3 / (6**3 + 9**3), rel=0.02)


def test_hd95_of_concentric_spheres_is_the_radius_difference() -> None:
    assert hd95_mm(_sphere(6.0), _sphere(9.0), H) == pytest.approx(3.0, abs=STAIRCASE_MM)
    assert hd95_mm(_sphere(6.0), _sphere(6.0), H) == 0.0
    assert hd95_mm(_sphere(6.0), np.zeros_like(_sphere(6.0)), H) is None


def test_signed_distance_puts_the_boundary_half_a_voxel_out() -> None:
    one = np.zeros((5, 5, 5), dtype=bool)
    one[2, 2, 2] = True
    sd = signed_distance_mm(one, H)
    assert sd[2, 2, 2] == pytest.approx(H / 2)
    assert sd[3, 2, 2] == pytest.approx(-H / 2)
    assert sd[4, 2, 2] == pytest.approx(-1.5 * H)


def test_margin_of_a_centred_tumour_is_the_gap_between_the_surfaces() -> None:
    """Tumour r = 6 mm in a zone R = 10 mm, same centre: margin R - r = 4 mm."""
    margin = minimal_margin_mm(_sphere(10.0), _sphere(6.0), H)
    assert margin == pytest.approx(4.0, abs=STAIRCASE_MM)


def test_margin_is_the_thinnest_side_when_the_tumour_is_off_centre() -> None:
    """Tumour r = 5 mm centred 3 mm off the zone's centre (R = 10 mm): 10 - (5 + 3) = 2 mm."""
    margin = minimal_margin_mm(_sphere(10.0), _sphere(5.0, (3.0, 0.0, 0.0)), H)
    assert margin == pytest.approx(2.0, abs=STAIRCASE_MM)


def test_margin_is_negative_by_how_far_the_tumour_sticks_out() -> None:
    """Tumour r = 5 mm centred 8 mm off (R = 10 mm): it reaches 13 mm, 3 mm outside."""
    margin = minimal_margin_mm(_sphere(10.0), _sphere(5.0, (8.0, 0.0, 0.0)), H)
    assert margin == pytest.approx(-3.0, abs=STAIRCASE_MM)


def test_agreement_collects_volumes_and_ratio() -> None:
    predicted, achieved, tumour = _sphere(9.0), _sphere(10.0), _sphere(5.0)
    agreement = zone_agreement(predicted, achieved, tumour, H)
    voxel_cm3 = H**3 * 1e-3
    assert agreement.predicted_volume_cm3 == pytest.approx(predicted.sum() * voxel_cm3)
    assert agreement.volume_ratio == pytest.approx(achieved.sum() / predicted.sum())
    assert agreement.volume_ratio == pytest.approx((10 / 9) ** 3, rel=0.03)
    assert agreement.minimal_margin_mm == pytest.approx(5.0, abs=STAIRCASE_MM)
    assert agreement.predicted_minimal_margin_mm == pytest.approx(4.0, abs=STAIRCASE_MM)
    assert agreement.tumour_outside_cm3 == 0.0
    assert set(agreement.to_json()) >= {"dice", "hd95_mm", "volume_ratio",
                                        "minimal_ablative_margin_mm", "achieved_volume_cm3"}
