"""comparison.json files for the registry tests, written by irelab's own writer
(:func:`irelab.validation.comparison_json` / :func:`irelab.validation.write_comparison`) from a
small plan and hand-drawn zones, so no field is solved: the registry reads what ``irelab
compare`` writes, not a copy of the format made up here. A plain module like
``registry_cases``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from irelab.case import parse_case
from irelab.validation import Comparison, comparison_json, write_comparison, zone_agreement

PLAN = {
    "name": "zone-test",
    "domain": {"size_mm": [40, 40, 40], "spacing_mm": 2.0},
    "anatomy": {
        "background": "liver",
        "regions": [{"tissue": "tumour", "sphere": {"center_mm": [0, 0, 0], "radius_mm": 6}}],
    },
}
#: Radii of the drawn zones (mm): the achieved zone reaches 4-6 mm beyond the 6 mm tumour.
PREDICTED_RADIUS_MM = 13.0
ACHIEVED_RADIUS_MM = 11.0


def _comparison(plan_path: Path) -> Comparison:
    plan = parse_case(PLAN, str(plan_path))
    grid = plan.grid()
    labels = plan.labels(grid)
    tumour = labels == plan.tissue_names.index("tumour")
    x, y, z = (c * 1e3 for c in grid.centres_m())
    radius_mm = np.sqrt(x**2 + y**2 + z**2)
    predicted = radius_mm <= PREDICTED_RADIUS_MM
    achieved = (radius_mm <= ACHIEVED_RADIUS_MM) & (x <= 8.0)
    agreement = zone_agreement(predicted, achieved, tumour, grid.spacing_m * 1e3)
    return Comparison(
        plan=plan, achieved_path=plan_path.parent / "zone-seg.nii.gz", label=None, grid=grid,
        delivered=(), delivered_from="plan", registration=None, agreement=agreement,
        e_max_V_per_m=np.zeros(grid.shape), predicted=predicted, achieved=achieved,
        tumour=tumour, conductor=np.zeros(grid.shape, bool), labels=labels,
        achieved_outside_domain=0.0, converged=True,
    )  # fmt: skip


def comparison_text(folder: Path, **metrics: float | None) -> str:
    """comparison.json's text for the drawn zones, with ``metrics`` (fields of
    :class:`irelab.validation.ZoneAgreement`) replaced."""
    comparison = _comparison(folder / "plan-of-patient.yaml")
    comparison = replace(comparison, agreement=replace(comparison.agreement, **metrics))
    return json.dumps(comparison_json(comparison), indent=2) + "\n"


def write_comparison_file(folder: Path, name: str = "comparison.json", **metrics) -> Path:
    """``folder/name`` holding :func:`comparison_text`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(comparison_text(folder, **metrics), encoding="utf-8")
    return path


def write_comparison_folder(folder: Path) -> Path:
    """The whole folder ``irelab compare --out`` writes (arrays, figure), for the drawn zones."""
    return write_comparison(_comparison(folder / "plan-of-patient.yaml"), folder)
