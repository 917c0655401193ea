"""The built-in phantoms: example files agree with the module; anatomy as its docstring says."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
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


def test_the_55_mm_phantom_needs_pullbacks_and_the_30_mm_one_does_not() -> None:
    """Through the case layer, on the 1 mm confirmation grid: tumour + 5 mm margin of the
    elongated phantom is 65 mm long (> 40 mm + 2 x 3 mm overhang): two overlapping positions;
    the segment-8 target is 40 mm long: one position with a 40 mm electrode."""
    from irelab.case import parse_case
    from irelab.plan import PlanLimits, build_target
    from irelab.plan.layout import axial_positions

    expected = {"elongated-55mm": (2, 0.065), "segment8-30mm": (1, 0.040)}
    for name, (positions, length_m) in expected.items():
        case = parse_case(phantom_mapping(name), source=name)
        target = build_target(case.field_problem(spacing_mm=1.0), margin_m=5e-3)
        lo, hi = target.axial_extent_m()
        assert hi - lo == pytest.approx(length_m, abs=1.01e-3)
        exposed, tips = axial_positions(target, PlanLimits())
        assert len(tips) == positions
        assert tips[0] <= lo + 1e-9 and tips[-1] + exposed >= hi - 1e-9  # the whole extent
        if positions > 1:
            assert 0 < tips[1] - tips[0] < exposed
