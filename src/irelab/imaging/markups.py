"""Probe trajectories as 3D Slicer markups (``.mrk.json``): the one reader and writer.

Format: 3D Slicer developer guide, Markups module, "Markups json file format (.mrk.json)" and
its JSON schema (markups-schema-v1.0.3). Each trajectory is one ``Line`` markup in its own file
(Slicer loads one markups node per file, named after it) with two control points, the entry and
the tip, in ``LPS`` coordinates (Slicer converts them to its RAS on loading) and
``positionStatus: defined`` (without it recent Slicer versions leave points unplaced). Lines are
locked: a plan is to be looked at, not dragged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from irelab.errors import InputError
from irelab.imaging.trajectories import Trajectory

__all__ = ["read_line_markup", "write_line_markups"]

SCHEMA = ("https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/"
          "Resources/Schema/markups-schema-v1.0.3.json#")
LINE_COLOUR = (0.9, 0.2, 0.1)
"""Trajectory colour (display choice: red-orange, visible on grey CT)."""


def _point(number: int, label: str, position, description: str) -> dict:
    return {"id": str(number), "label": label, "description": description,
            "position": [round(float(v), 4) for v in position], "selected": False,
            "locked": True, "visibility": True, "positionStatus": "defined"}


def markup_name(t: Trajectory) -> str:
    return f"{t.probe}-placement{t.placement}"


def write_line_markups(folder: str | Path, trajectories: Sequence[Trajectory]) -> list[Path]:
    """One ``NAME.mrk.json`` per trajectory under ``folder`` (created)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for t in trajectories:
        depth = "" if t.depth_mm is None else f", {t.depth_mm:.1f} mm below the skin"
        markup = {
            "type": "Line", "coordinateSystem": "LPS", "coordinateUnits": "mm", "locked": True,
            "fixedNumberOfControlPoints": True, "labelFormat": "%N-%d",
            "controlPoints": [
                _point(1, f"{t.label} entry", t.entry_mm, f"entry at the {t.entry_at}"),
                _point(2, f"{t.label} tip", t.tip_mm,
                       f"tip; exposed {t.exposed_mm:g} mm{depth}")],
            "measurements": [{"name": "length", "enabled": True, "units": "mm",
                              "printFormat": "%-#4.4g%s"}],
            "display": {"visibility": True, "color": list(LINE_COLOUR),
                        "selectedColor": list(LINE_COLOUR), "propertiesLabelVisibility": True,
                        "pointLabelsVisibility": True, "textScale": 3.0,
                        "glyphType": "Sphere3D", "glyphScale": 2.0, "lineThickness": 0.3},
        }
        path = folder / f"{markup_name(t)}.mrk.json"
        path.write_text(json.dumps({"@schema": SCHEMA, "markups": [markup]}, indent=2) + "\n",
                        encoding="utf-8")
        files.append(path)
    return files


def read_line_markup(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(entry, tip) of a line markup, in LPS mm whichever frame the file uses."""
    path = Path(path)
    try:
        markup = json.loads(path.read_text(encoding="utf-8"))["markups"][0]
        points = [np.asarray(p["position"], dtype=float) for p in markup["controlPoints"]]
        frame = markup.get("coordinateSystem", "LPS")
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        raise InputError(str(path), "", "a 3D Slicer markups file with one line") from None
    if markup.get("type") != "Line" or len(points) != 2 or frame not in ("LPS", "RAS"):
        raise InputError(str(path), "markups[0]", "a Line with two control points in LPS or "
                         "RAS")
    flip = np.array([-1.0, -1.0, 1.0]) if frame == "RAS" else np.ones(3)
    return points[0] * flip, points[1] * flip
