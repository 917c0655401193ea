"""The planning test set: its case files are the description's, and the phantoms are what the
description says (sizes, shapes, locations, vessel calibres), measured on their voxels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import ndimage

from irelab.case import parse_case
from irelab.plan.testset import PLANNING_SET, case_mapping, write_planning_set

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "examples" / "planning-set"


def test_the_example_files_are_the_description(tmp_path) -> None:
    """Every phantom of PLANNING_SET is a file under examples/planning-set/ with exactly the
    generated content, and there are no other case files there."""
    written = write_planning_set(tmp_path)
    assert sorted(p.name for p in FOLDER.glob("*.yaml")) == sorted(p.name for p in written)
    for path in written:
        assert yaml.safe_load((FOLDER / path.name).read_text(encoding="utf-8")) == \
            yaml.safe_load(path.read_text(encoding="utf-8"))


def test_the_set_spans_what_it_is_meant_to() -> None:
    """At least 12 phantoms; tumours 10-50 mm; spheres, spheroids and lobulated shapes; central
    and sub-capsular (liver surface within 5 mm); portal/hepatic veins of 5-12 mm, bile ducts,
    and a tumour between two vessels."""
    assert len(PLANNING_SET) >= 12
    sizes = [s.tumour.size_mm for s in PLANNING_SET]
    assert min(sizes) == 10 and max(sizes) == 50
    assert {s.tumour.shape for s in PLANNING_SET} == {"sphere", "spheroid", "lobulated"}
    capsular = [s.capsule_gap_mm for s in PLANNING_SET if s.capsule_gap_mm is not None]
    assert capsular and max(capsular) <= 5
    assert any(s.capsule_gap_mm is None for s in PLANNING_SET)
    veins = [v.diameter_mm for s in PLANNING_SET for v in s.vessels if v.tissue == "blood"]
    assert veins and min(veins) >= 5 and max(veins) <= 12
    assert any(v.tissue == "bile" for s in PLANNING_SET for v in s.vessels)
    assert any(len(s.vessels) >= 2 for s in PLANNING_SET)


@pytest.mark.parametrize("spec", PLANNING_SET, ids=lambda s: s.name)
def test_each_phantom_voxelises_as_described(spec) -> None:
    """On the 1 mm grid: the tumour's largest extent is its nominal size (within 2 mm; a
    lobulated tumour's lobes reach the nominal radius in their own directions, so its extent
    along the axes may be smaller, down to 70 %); a sub-capsular tumour lies within its stated
    distance (+1 voxel) of the liver's surface (the +x face); each vessel's wall is within its
    stated gap (+1.5 voxels) of the tumour or closer (a lobe may reach further)."""
    case = parse_case(case_mapping(spec), source=spec.name)
    grid = case.grid(1.0)
    masks = case.region_masks(grid)
    tumour = masks["tumour"]
    idx = np.argwhere(tumour)
    pts = np.asarray(grid.origin_m) + idx * grid.spacing_m
    extent_mm = 1e3 * (np.max(np.ptp(pts, axis=0)) + grid.spacing_m)
    lower = 0.7 if spec.tumour.shape == "lobulated" else 1.0
    assert lower * spec.tumour.size_mm - 2 <= extent_mm <= spec.tumour.size_mm + 2
    if spec.capsule_gap_mm is not None:
        face = grid.upper_m[0]
        gap_mm = 1e3 * (face - (pts[:, 0].max() + grid.spacing_m / 2))
        assert gap_mm <= spec.capsule_gap_mm + 1.0
    to_tumour = ndimage.distance_transform_edt(~tumour, sampling=grid.spacing_m)
    for vessel in spec.vessels:
        wall = masks[vessel.tissue]
        assert wall.any()
        gap_mm = 1e3 * (to_tumour[wall].min() - grid.spacing_m)
        assert gap_mm <= vessel.gap_mm + 1.5
