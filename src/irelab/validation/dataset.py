"""The validation set: published in vivo ablation zones, each with the case that reproduces it.

A validation set is a folder (the repository's ``validation/``) holding ``points.csv`` and the
case files it names. Each row of ``points.csv`` is one published zone:

- ``id``; ``case``: the case file (relative to the folder) with the study's needles, spacing,
  exposure, voltage and pulses, in a frame whose x runs along the pair, y across it and z along
  the needles;
- ``set``: ``fit`` (a preset may be fitted on it) or ``held-out`` (only reported);
- ``x_mm``, ``x_sd_mm``, ``y_mm``, ``y_sd_mm``, ``z_mm``, ``z_sd_mm``: the measured extent of the
  zone along each case axis and its standard deviation (empty where the source gives none);
- ``measured_by``, ``source``, ``evidence`` (what of the source was read: ``abstract (read)``,
  or ``second-hand``) and ``notes`` (what was assumed).

:func:`load_validation_set` is the one reader; it refuses a bad row with one error naming the
file, the row and the column.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from irelab.errors import InputError

__all__ = ["AXES", "DataPoint", "Measure", "load_validation_set"]

AXES = ("x", "y", "z")
"""Case axes a zone is measured along: along the pair, across it, along the needles."""

SUBSETS = ("fit", "held-out")
COLUMNS = ("id", "case", "set", "x_mm", "x_sd_mm", "y_mm", "y_sd_mm", "z_mm", "z_sd_mm",
           "measured_by", "source", "evidence", "notes")


@dataclass(frozen=True)
class Measure:
    """A measured extent: mean and standard deviation (mm)."""

    mean_mm: float
    sd_mm: float


@dataclass(frozen=True)
class DataPoint:
    """One published zone and the case that reproduces its set-up."""

    id: str
    case_path: Path
    subset: str
    measured: dict[str, Measure]
    """By axis (``x``, ``y``, ``z``); axes the source does not report are absent."""
    measured_by: str
    source: str
    evidence: str
    notes: str


def _number(text: str, source: str, key: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(source, key, "a number in mm (or empty)", text) from None
    if not (math.isfinite(value) and value > 0):
        raise InputError(source, key, "a positive number in mm", text)
    return value


def _point(row: dict[str, str], folder: Path, source: str, where: str) -> DataPoint:
    for column in ("id", "case", "source", "evidence"):
        if not (row.get(column) or "").strip():
            raise InputError(source, f"{where}.{column}", "a value")
    if row["set"] not in SUBSETS:
        raise InputError(source, f"{where}.set", f"one of {', '.join(SUBSETS)}", row["set"])
    measured = {}
    for axis in AXES:
        mean = _number(row[f"{axis}_mm"], source, f"{where}.{axis}_mm")
        sd = _number(row[f"{axis}_sd_mm"], source, f"{where}.{axis}_sd_mm")
        if (mean is None) != (sd is None):
            raise InputError(source, f"{where}.{axis}_sd_mm", "a mean and its standard deviation"
                             " together (or neither)")
        if mean is not None:
            measured[axis] = Measure(mean, sd)
    if not measured:
        raise InputError(source, where, "at least one measured axis")
    case_path = folder / row["case"]
    if not case_path.is_file():
        raise InputError(source, f"{where}.case", "an existing case file in the validation "
                         "folder", row["case"])
    return DataPoint(row["id"], case_path, row["set"], measured, row["measured_by"],
                     row["source"], row["evidence"], row["notes"])


def load_validation_set(folder: str | Path) -> tuple[DataPoint, ...]:
    """The data points of a validation folder's ``points.csv``, in file order."""
    folder = Path(folder)
    path = folder / "points.csv"
    source = str(path)
    if not path.is_file():
        raise InputError(str(folder), "", "a validation folder with points.csv (the irelab "
                         "repository's validation/)")
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise InputError(source, "header", f"the columns {', '.join(COLUMNS)}",
                             f"missing {', '.join(missing)}")
        points = [_point(row, folder, source, f"row {i}") for i, row in
                  enumerate(reader, start=2)]
    if not points:
        raise InputError(source, "", "at least one data point")
    ids = [p.id for p in points]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate is not None:
        raise InputError(source, "id", "unique ids", duplicate)
    return tuple(points)
