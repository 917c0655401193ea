"""Insertion approaches: parsed in the patient's frame, proposed from the body outline clear of
obstacles, the same in patient coordinates whatever the scan's orientation, and never assumed
for a case made from images."""

from __future__ import annotations

import numpy as np
import pytest
from case_examples import two_needles

from irelab.case import parse_case
from irelab.errors import InputError
from irelab.imaging import case_from_images, parse_approach, propose_approaches, resolve_direction
from irelab.imaging.approach import check_approach


@pytest.fixture(scope="module")
def cases(axial, oblique, tmp_path_factory):
    out = tmp_path_factory.mktemp("approach")
    return {name: case_from_images(p.ct, [p.files["rtstruct"]], "GTV", out / f"{name}.yaml").case
            for name, p in (("axial", axial), ("oblique", oblique))}


def test_named_and_vector_approaches() -> None:
    assert parse_approach("anterior") == (0.0, -1.0, 0.0)
    assert parse_approach("right-lateral") == (-1.0, 0.0, 0.0)
    assert np.allclose(parse_approach("anterior+caudal"), [0, -np.sqrt(0.5), -np.sqrt(0.5)])
    assert np.allclose(parse_approach("0,-3,4"), [0, -0.6, 0.8])
    with pytest.raises(InputError, match="an approach"):
        parse_approach("from the left")
    with pytest.raises(InputError, match="not zero"):
        parse_approach("anterior+posterior")


def test_proposals_are_anterior_and_the_blocked_sides_say_why(cases) -> None:
    """The phantom's tumour sits under the anterior wall between the ribs' anterior ends: the
    shallowest proposals come from the front; right lateral crosses ribs, posterior the kidney,
    caudal the colon, cranial leaves the scan."""
    case = cases["axial"]
    proposals = propose_approaches(case)
    assert proposals and proposals[0].direction[1] < -0.9
    assert all(p.feasible for p in proposals)
    blocked = {name: set(check_approach(case, parse_approach(name)).blocked_by)
               for name in ("right-lateral", "posterior", "caudal", "cranial")}
    assert "RIBS" in blocked["right-lateral"]
    assert "KIDNEY_R" in blocked["posterior"]
    assert "BOWEL" in blocked["caudal"]
    assert "the body outline beyond the scan's field of view" in blocked["cranial"]
    assert check_approach(case, parse_approach("anterior")).feasible


def test_proposals_do_not_depend_on_the_scan_orientation(cases) -> None:
    """Same anatomy, axial and oblique acquisitions: the best approach is the same direction in
    patient coordinates (within the ~10 degree spacing of the directions tried) at the same
    depth (within a voxel's diagonal)."""
    a, b = (propose_approaches(cases[n])[0] for n in ("axial", "oblique"))
    angle = np.degrees(np.arccos(np.clip(np.dot(a.direction, b.direction), -1, 1)))
    assert angle < 10.0
    assert abs(a.depth_mm - b.depth_mm) < 3.5


def test_no_silent_default_for_image_cases(cases) -> None:
    case = cases["axial"]
    with pytest.raises(InputError, match="--approach.*expected an insertion approach.*anterior"):
        resolve_direction(case, None, None)
    assert resolve_direction(parse_case(two_needles()), None, None).direction == (0, 0, 1)
    with pytest.raises(InputError, match="either --approach or --direction"):
        resolve_direction(case, "anterior", (0.0, 0.0, 1.0))
    auto = resolve_direction(case, "auto", None)
    assert auto.direction == propose_approaches(case)[0].direction and "shallowest" in auto.note
    lateral = resolve_direction(case, "right-lateral", None)
    assert lateral.direction == (-1.0, 0.0, 0.0) and "crosses RIBS" in lateral.note
    assert resolve_direction(case, "anterior", None).note is None
