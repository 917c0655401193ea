"""Probe tips and entry points from a 3D Slicer markups file (``.mrk.json``): its one reader.

The format is Slicer's markups JSON (schema ``markups-schema-v1.0.x``,
https://github.com/Slicer/Slicer, Modules/Loadable/Markups/Resources/Schema): a ``markups``
list whose items have a ``type``, a ``name``, a ``coordinateSystem`` (``LPS``, the default, or
``RAS``), ``coordinateUnits`` (``mm``, the default, or ``um``) and ``controlPoints`` with a
``position`` each. A probe is one ``Line`` markup named after it, with two control points: the
one labelled ``...tip`` and the one labelled ``...entry`` (as a label ending, any case);
without such labels the first point is the entry and the second the tip (a line drawn along the
insertion). Other markups (fiducials, planes) are ignored. Positions are converted to the plan's
patient frame (LPS, mm) here, once: RAS flips x and y.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from irelab.errors import InputError

__all__ = ["read_markup_lines"]

_UNITS_MM = {"mm": 1.0, "um": 1e-3}
_FRAMES = {"LPS": np.array([1.0, 1.0, 1.0]), "RAS": np.array([-1.0, -1.0, 1.0])}


def _point(source: str, where: str, point: Any, scale: np.ndarray) -> np.ndarray:
    if not isinstance(point, dict):
        raise InputError(source, where, "a control point (an object with a position)")
    if point.get("positionStatus", "defined") != "defined":
        raise InputError(source, f"{where}.positionStatus", "a placed point (defined)",
                         point.get("positionStatus"))
    position = point.get("position")
    if (not isinstance(position, list) or len(position) != 3
            or not all(isinstance(c, int | float) and not isinstance(c, bool)
                       and math.isfinite(c) for c in position)):
        raise InputError(source, f"{where}.position", "three finite numbers [x, y, z]",
                         position if isinstance(position, list | str) else None)
    return np.asarray(position, dtype=float) * scale


def _ends(points: list, source: str, where: str) -> tuple[int, int]:
    """Indices of the (tip, entry) control points (module docstring)."""
    labels = [str(p.get("label", "")).strip().lower() if isinstance(p, dict) else ""
              for p in points]
    tips = [i for i, label in enumerate(labels) if label.endswith("tip")]
    entries = [i for i, label in enumerate(labels) if label.endswith("entry")]
    if len(tips) == 1 and len(entries) == 1:
        return tips[0], entries[0]
    if tips or entries:
        raise InputError(source, f"{where}.controlPoints", "one point labelled ...tip and one "
                         "labelled ...entry", labels)
    return 1, 0


def read_markup_lines(path: str | Path) -> list[tuple[str, np.ndarray, np.ndarray, str]]:
    """Every line markup of the file as ``(name, tip_mm, entry_mm, where)`` in LPS mm, where
    ``where`` names it in the file (``markups[2]``) for errors."""
    path = Path(path)
    source = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(source, "", "a readable markups file", exc.strerror) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(source, "", "a Slicer markups JSON file (.mrk.json)",
                         str(exc)[:80]) from None
    markups = data.get("markups") if isinstance(data, dict) else None
    if not isinstance(markups, list):
        raise InputError(source, "markups", "a list of markups (Slicer markups JSON)")
    out = []
    for index, markup in enumerate(markups):
        where = f"markups[{index}]"
        if not isinstance(markup, dict) or markup.get("type") != "Line":
            continue
        name = markup.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InputError(source, f"{where}.name", "the probe's name")
        frame = markup.get("coordinateSystem", "LPS")
        units = markup.get("coordinateUnits", "mm")
        if frame not in _FRAMES:
            raise InputError(source, f"{where}.coordinateSystem", "LPS or RAS", frame)
        if isinstance(units, list) and units:  # the coded form [code, scheme, meaning]
            units = units[0]
        if units not in _UNITS_MM:
            raise InputError(source, f"{where}.coordinateUnits", "mm or um", units)
        points = markup.get("controlPoints")
        if not isinstance(points, list) or len(points) != 2:
            raise InputError(source, f"{where}.controlPoints", "two points: the tip and the "
                             "entry", len(points) if isinstance(points, list) else None)
        scale = _FRAMES[frame] * _UNITS_MM[units]
        tip, entry = _ends(points, source, where)
        out.append((name.strip(),
                    _point(source, f"{where}.controlPoints[{tip}]", points[tip], scale),
                    _point(source, f"{where}.controlPoints[{entry}]", points[entry], scale),
                    where))
    return out
