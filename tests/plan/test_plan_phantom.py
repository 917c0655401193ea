"""The built-in phantoms: example files agree with the module, anatomy where the issue says."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import yaml

from irelab.plan.phantom import PHANTOMS, phantom_mapping

ROOT = Path(__file__).resolve().parents[2]
FILES = {"segment8-30mm": "phantom-30mm.yaml", "elongated-55mm": "phantom-55mm.yaml"}


def test_example_files_equal_the_builtin_phantoms() -> None:
    for name, file in FILES.items():
        loaded = yaml.safe_load((ROOT / "examples" / file).read_text())
        assert loaded == PHANTOMS[name]


def test_segment8_tumour_abuts_the_vein_and_sits_superior_posterior_right() -> None:
    """Frame x left, y posterior, z caudal: segment 8 is x < 0, y > 0, z < 0; the 6 mm vein's
    surface is within 0.5 mm of the 30 mm tumour's surface; the bile duct lies outside the
    5 mm margin but within 10 mm of the tumour."""
    regions = phantom_mapping("segment8-30mm")["anatomy"]["regions"]
    tumour = regions[0]["sphere"]
    centre = np.asarray(tumour["center_mm"], dtype=float)
    assert tumour["radius_mm"] * 2 == 30
    assert centre[0] < 0 and centre[1] > 0 and centre[2] < 0

    def gap(cyl) -> float:
        a, b = np.asarray(cyl["start_mm"], float), np.asarray(cyl["end_mm"], float)
        u = (b - a) / np.linalg.norm(b - a)
        d = np.linalg.norm((centre - a) - ((centre - a) @ u) * u)
        return d - cyl["radius_mm"] - tumour["radius_mm"]

    vein, duct = regions[1]["cylinder"], regions[2]["cylinder"]
    assert vein["radius_mm"] * 2 == 6
    assert -0.5 <= gap(vein) <= 0.5
    assert 5 < gap(duct) < 10


def test_elongated_tumour_is_55_mm_long_along_the_insertion_axis() -> None:
    regions = phantom_mapping("elongated-55mm")["anatomy"]["regions"]
    cyl = regions[0]["cylinder"]
    length = math.dist(cyl["start_mm"], cyl["end_mm"]) + 2 * cyl["radius_mm"]
    assert length == 55
    assert cyl["start_mm"][:2] == cyl["end_mm"][:2]  # parallel to z, the default axis
