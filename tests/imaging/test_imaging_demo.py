"""``irelab demo --images`` end to end (slow: it runs the planner, about 100 s of CPU): the
synthetic CT and its DICOM SEG in, a plan and its exports out, all in the scan's frame.

Checked: the plan covers its target; the probes come from the front (the demo's approach);
plan.yaml, the markups and the CSV give the same tips; the tumour's centroid is within half a
CT voxel of the truth in the case, in the plan's labels.nii.gz read back by SimpleITK and in the
exported SEG read back by highdicom; the SEG references the phantom's CT series; no trajectory
crosses an obstacle.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from imaging_cases import TRUTH_MM, centroid_mm
from typer.testing import CliRunner

from irelab.case import load_case
from irelab.cli.main import app
from irelab.imaging import ImageGeometry, open_segmentation, read_ct, read_line_markup

HALF_SLICE_MM = 1.25
"""Half the demo CT's largest voxel side (2.5 mm slices)."""


@pytest.mark.slow
def test_image_demo_plans_and_exports_in_the_scan_frame(tmp_path, monkeypatch) -> None:
    import SimpleITK as sitk

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767268800")
    out = tmp_path / "demo"
    run = CliRunner().invoke(app, ["demo", "--images", "--out", str(out), "--json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout.strip().splitlines()[-1])
    assert data["coverage_percent"] == 100.0 and data["feasible"]
    plan = load_case(out / "plan.yaml")
    assert all(p.direction == (0.0, -1.0, 0.0) for p in plan.probes)
    for probe in plan.probes:
        _, tip = read_line_markup(out / "trajectories" / f"{probe.name}-placement1.mrk.json")
        assert np.allclose(tip, probe.tip_mm, atol=1e-4)
    assert [t["crossings"] for t in data["trajectories"]] == [[]] * len(plan.probes)
    errors = {}
    case = load_case(out / "case.yaml")
    grid = case.grid()
    errors["case"] = centroid_mm(case.region_masks(grid)["tumour"], ImageGeometry.of_grid(grid))
    image = sitk.ReadImage(str(out / "labels.nii.gz"))
    labels = np.transpose(sitk.GetArrayFromImage(image), (2, 1, 0))
    errors["plan labels.nii.gz"] = centroid_mm(labels == plan.tissue_names.index("tumour"),
                                               ImageGeometry.from_sitk(image))
    ct = read_ct(out / "phantom" / "ct")
    seg = open_segmentation(out / "plan-seg.dcm", ct)
    tumour = [s.name for s in seg.segments].index("Tumour")
    errors["plan-seg.dcm"] = centroid_mm(seg.mask(tumour), ct.geometry)
    for where, centroid in errors.items():
        assert np.linalg.norm(centroid - TRUTH_MM) < HALF_SLICE_MM, where
    assert (out / "plan-overlay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
