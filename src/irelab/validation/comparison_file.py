"""The comparison folder ``irelab compare --out DIR`` writes, its one writer and its one reader.

``comparison.json`` holds what a registry stores per treated tumour (``metrics``: Dice, HD95,
volume ratio, volumes, the minimal ablative margins) and what a calibration needs to redo the
prediction at another threshold without solving again: the grid, the tissues in label order
with their roles and lethal thresholds, the delivered pairs with predicted and measured
currents, and the arrays, written next to it as NIfTI on the plan's grid (SimpleITK; LPS inside,
RAS in the file):

- ``e_field_V_per_cm.nii.gz``: the largest |E| over the delivered pairs (float32);
- ``achieved.nii.gz``, ``predicted.nii.gz``, ``tumour.nii.gz``, ``conductor.nii.gz``: masks;
- ``labels.nii.gz``: tissue index of each voxel (into ``tissues``), with its legend as a 3D
  Slicer colour table, ``labels.ctbl``;
- ``slices.png``: the slice figure.

Keys of ``comparison.json``: ``format`` (``irelab-comparison``), ``version``, ``plan``,
``achieved``, ``label``, ``scans``, ``registration`` (null or the rigid transform and its
residual), ``delivered`` (``from``: ``plan`` or the log, ``pairs``), ``grid`` (``shape``,
``spacing_mm``, ``origin_mm``), ``tissues``, ``metrics``, ``achieved_outside_domain``,
``converged``, ``files``. Paths in ``files`` are relative to the folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from irelab.case import Tissue
from irelab.errors import InputError
from irelab.field import Grid
from irelab.simulation.output import write_label_volume
from irelab.validation.compare import Comparison
from irelab.validation.figures import write_comparison_figure
from irelab.validation.images import read_grid_array, write_grid_array

__all__ = ["StoredComparison", "comparison_json", "read_comparison", "write_comparison"]

FORMAT = "irelab-comparison"
VERSION = 1
ARRAYS = {"e_field": "e_field_V_per_cm.nii.gz", "achieved": "achieved.nii.gz",
          "predicted": "predicted.nii.gz", "tumour": "tumour.nii.gz",
          "conductor": "conductor.nii.gz", "labels": "labels.nii.gz"}
FIGURE = "slices.png"


def comparison_json(comparison: Comparison) -> dict:
    """The ``comparison.json`` content (also what ``irelab compare --json`` prints)."""
    grid = comparison.grid
    plan = comparison.plan
    tissues = []
    for name in plan.tissue_names:
        t = plan.tissues[name]
        tissues.append({"name": name, "kind": t.kind, "role": str(t.role),
                        "lethal_threshold_V_per_cm": t.lethal_V_per_cm,
                        "sigma0_S_per_m": t.sigma0_S_per_m, "sigma1_S_per_m": t.sigma1_S_per_m,
                        "e_rev_V_per_cm": t.e_rev_V_per_cm, "e_irr_V_per_cm": t.e_irr_V_per_cm,
                        "model": t.model, "source": t.source})
    return {
        "format": FORMAT, "version": VERSION, "plan": plan.source,
        "achieved": str(comparison.achieved_path), "label": comparison.label,
        "scans": comparison.scans,
        "registration": None if comparison.registration is None
        else comparison.registration.to_json(),
        "delivered": {"from": comparison.delivered_from,
                      "pairs": [d.to_json() for d in comparison.delivered]},
        "grid": {"shape": list(grid.shape), "spacing_mm": grid.spacing_m * 1e3,
                 "origin_mm": [round(o * 1e3, 6) for o in grid.origin_m]},
        "tissues": tissues,
        "metrics": comparison.agreement.to_json(),
        "achieved_outside_domain": round(comparison.achieved_outside_domain, 4),
        "converged": comparison.converged,
        "files": {**ARRAYS, "figure": FIGURE},
    }


def write_comparison(comparison: Comparison, out: str | Path) -> Path:
    """Write the comparison folder (created if needed); returns the path of comparison.json,
    written last so that a folder with one is complete."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    grid = comparison.grid
    arrays = {"e_field": (comparison.e_max_V_per_m / 100.0).astype(np.float32),
              "achieved": comparison.achieved, "predicted": comparison.predicted,
              "tumour": comparison.tumour, "conductor": comparison.conductor,
              "labels": comparison.labels}
    for key, name in ARRAYS.items():
        if key == "labels":
            write_label_volume(out / name, comparison.labels, grid,
                               comparison.plan.tissue_names)
        else:
            write_grid_array(arrays[key], grid, out / name)
    write_comparison_figure(comparison, out / FIGURE)
    path = out / "comparison.json"
    partial = out / "comparison.json.partial"
    partial.write_text(json.dumps(comparison_json(comparison), indent=2) + "\n",
                       encoding="utf-8")
    partial.replace(path)
    return path


@dataclass(frozen=True, eq=False)
class StoredComparison:
    """A comparison read back: its JSON and the arrays a calibration needs."""

    path: Path
    data: dict
    grid: Grid
    tissues: tuple[Tissue, ...]
    """In label order, as the comparison used them."""
    e_max_V_per_cm: np.ndarray
    achieved: np.ndarray
    conductor: np.ndarray
    labels: np.ndarray

    @property
    def dice(self) -> float:
        return float(self.data["metrics"]["dice"])

    def currents(self) -> list[tuple[float, float]]:
        """(predicted, measured) first-pulse current of each delivered pair that has both."""
        return [(p["predicted_current_A"], p["measured_current_A"])
                for p in self.data["delivered"]["pairs"]
                if p["predicted_current_A"] and p["measured_current_A"]]


def _require(data: dict, source: str, *keys: str) -> None:
    for key in keys:
        if key not in data:
            raise InputError(source, key, "a comparison.json written by irelab compare")


def read_comparison(path: str | Path) -> StoredComparison:
    """Read a comparison folder (or its comparison.json)."""
    path = Path(path)
    if path.is_dir():
        path = path / "comparison.json"
    source = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(source, "", "a comparison.json written by irelab compare --out",
                         exc.strerror) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(source, "", "a JSON comparison written by irelab compare") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(source, "format", f"{FORMAT!r} (a comparison written by irelab "
                         "compare)")
    if data.get("version") != VERSION:
        raise InputError(source, "version", f"version {VERSION}", data.get("version"))
    _require(data, source, "grid", "tissues", "metrics", "delivered", "files")
    g = data["grid"]
    h = float(g["spacing_mm"]) * 1e-3
    grid = Grid(tuple(int(n) for n in g["shape"]), h, tuple(o * 1e-3 for o in g["origin_mm"]))
    try:
        tissues = tuple(Tissue(t["name"], t["sigma0_S_per_m"], t["sigma1_S_per_m"],
                               t["e_rev_V_per_cm"], t["e_irr_V_per_cm"], t["source"], t["model"],
                               t["role"], t["kind"], t["lethal_threshold_V_per_cm"])
                        for t in data["tissues"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(source, "tissues", "each tissue's model, role and lethal threshold",
                         str(exc)) from None
    files = data["files"]

    def array(key: str) -> np.ndarray:
        return read_grid_array(path.parent / files[key], grid, f"files.{key}")

    labels = array("labels").astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(tissues)):
        raise InputError(source, "files.labels", f"labels 0-{len(tissues) - 1} (one per tissue)")
    return StoredComparison(path=path, data=data, grid=grid, tissues=tissues,
                            e_max_V_per_cm=array("e_field").astype(float),
                            achieved=array("achieved").astype(bool),
                            conductor=array("conductor").astype(bool), labels=labels)
