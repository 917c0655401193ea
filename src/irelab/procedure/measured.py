"""The probes as placed: read from the intra-procedural measurement and checked against the plan.

Three inputs, all in the plan's patient frame (LPS, mm), each read only here:

- a CSV of probe tips and directions, one row per probe: ``name, tip_x_mm, tip_y_mm, tip_z_mm``
  and either ``entry_x_mm, entry_y_mm, entry_z_mm`` (a point on the shaft towards the skin) or
  ``direction_x, direction_y, direction_z`` (from the tip towards the entry, any length);
- a 3D Slicer markups file (``.mrk.json``): one line markup per probe, tip and entry
  (:mod:`irelab.procedure.markups`);
- a CSV of measured spacings, as a generator asks for them: ``anode, cathode, spacing_mm``, the
  distance between the two probes' axes (:mod:`irelab.procedure.spacing` turns them into
  positions; unmeasured pairs keep the plan's spacing).

Lines starting with ``#`` are comments. Each probe keeps the plan's electrode (exposed length or
bipolar lengths) and diameter: the checklist confirms that they were set as planned. Bad input is
one error naming the file and row: a name the plan has no probe for, a probe given twice or not
at all, a number that is not finite, a direction pointing away from the planned one (tip and
entry swapped), and, once placed, a probe inside or touching another or outside the domain (the
case's own checks, :meth:`irelab.case.Case.with_plan`, reported at the row of the probe).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

import numpy as np

from irelab.case import Case, Probe
from irelab.errors import InputError
from irelab.procedure.markups import read_markup_lines
from irelab.procedure.spacing import MeasuredSpacing, arrange_by_spacings

__all__ = ["MeasuredKind", "MeasuredProbes", "ProbeDeviation", "read_measured"]

TIP = ("tip_x_mm", "tip_y_mm", "tip_z_mm")
ENTRY = ("entry_x_mm", "entry_y_mm", "entry_z_mm")
DIRECTION = ("direction_x", "direction_y", "direction_z")
SPACING = ("anode", "cathode", "spacing_mm")


class MeasuredKind(StrEnum):
    """What was measured."""

    TIPS = "tips"
    """Tips and directions (CSV)."""
    MARKUPS = "markups"
    """Tips and entry points (Slicer line markups)."""
    SPACINGS = "spacings"
    """Spacings of probe pairs (CSV)."""


@dataclass(frozen=True)
class ProbeDeviation:
    """How far a probe as placed is from its plan: the tip's offset across the planned axis
    (``lateral_mm``) and along it (``depth_mm``, positive towards the entry: not as deep), and
    the angle between the axes (``angle_deg``)."""

    name: str
    lateral_mm: float
    depth_mm: float
    angle_deg: float


@dataclass(frozen=True)
class MeasuredProbes:
    """The probes as placed (the plan's probes, in its order, at their measured tips and
    directions) and where each was read (``rows``, for errors)."""

    source: str
    kind: MeasuredKind
    probes: tuple[Probe, ...]
    rows: tuple[str, ...]
    residual_mm: float | None = None
    """Spacings only: RMS misfit of the measured spacings by the arrangement found."""

    def deviations(self, plan: Case) -> tuple[ProbeDeviation, ...]:
        out = []
        for planned, placed in zip(plan.probes, self.probes, strict=True):
            u = np.asarray(planned.direction)
            offset = np.asarray(placed.tip_mm) - np.asarray(planned.tip_mm)
            along = float(offset @ u)
            across = float(np.linalg.norm(offset - along * u))
            cos = float(np.clip(u @ np.asarray(placed.direction), -1.0, 1.0))
            out.append(ProbeDeviation(planned.name, across, along, math.degrees(math.acos(cos))))
        return tuple(out)

    def placed_case(self, plan: Case) -> Case:
        """``plan`` with these probes (its pairs, voltages and placements), checked as a case
        file would be; a check that fails names the measured row of the probe."""
        try:
            return plan.with_plan(self.probes, plan.protocol, name=plan.name)
        except InputError as exc:
            match = re.match(r"probes\[(\d+)\]", exc.key)
            where = self.rows[int(match.group(1))] if match else ""
            raise InputError(self.source, where, f"{exc.expected} (the probes as placed, "
                             f"checked in the plan {exc.source})", exc.got) from None


def _rows(path: Path) -> tuple[list[str], list[tuple[str, dict[str, str]]]]:
    """Header and ``(line N, {column: text})`` rows of a CSV (comments and blank lines
    skipped)."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(source, "", "a readable CSV file", exc.strerror) from None
    except UnicodeDecodeError:
        raise InputError(source, "", "a UTF-8 text file") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise InputError(source, "", "a header row and one row per probe or pair")
    header = [h.strip() for h in next(csv.reader([lines[0][1]]))]
    rows = []
    for n, line in lines[1:]:
        values = [v.strip() for v in next(csv.reader([line]))]
        if len(values) != len(header):
            raise InputError(source, f"line {n}", f"{len(header)} values ({', '.join(header)})",
                             len(values))
        rows.append((f"line {n}", dict(zip(header, values, strict=True))))
    return header, rows


def _number(source: str, where: str, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InputError(source, f"{where}.{column}", "a finite number", text)
    return value


def _vector(source: str, where: str, row: dict[str, str], columns: tuple[str, ...]
            ) -> np.ndarray | None:
    if all(not row.get(c) for c in columns):
        return None
    return np.array([_number(source, where, c, row.get(c, "")) for c in columns])


def _plan_probe(plan: Case, source: str, where: str, name: str, seen: dict[str, str]) -> int:
    names = [p.name for p in plan.probes]
    if name not in names:
        raise InputError(source, f"{where}.name", f"a probe of the plan {plan.source} "
                         f"({', '.join(names)})", name)
    if name in seen:
        raise InputError(source, f"{where}.name", f"each probe once ({name} is also on "
                         f"{seen[name]})", name)
    seen[name] = where
    return names.index(name)


def _placed(plan: Case, source: str, kind: MeasuredKind,
            lines: list[tuple[str, str, np.ndarray, np.ndarray | None, np.ndarray | None]]
            ) -> MeasuredProbes:
    """Probes from ``(where, name, tip, entry, direction)`` rows, all checked."""
    seen: dict[str, str] = {}
    probes: list[Probe | None] = [None] * len(plan.probes)
    rows = [""] * len(plan.probes)
    for where, name, tip, entry, direction in lines:
        k = _plan_probe(plan, source, where, name, seen)
        if direction is None and entry is None:
            raise InputError(source, where, "the entry point or the direction of the probe")
        u = direction if direction is not None else entry - tip
        norm = float(np.linalg.norm(u))
        if norm < 1e-6:
            raise InputError(source, where, "an entry point away from the tip (or a direction "
                             "that is not zero)")
        u = u / norm
        if u @ np.asarray(plan.probes[k].direction) <= 0:
            raise InputError(source, where, f"a direction from the tip towards the entry (this "
                             f"one points away from the planned insertion of {name}: tip and "
                             "entry swapped?)")
        probes[k] = replace(plan.probes[k], tip_mm=tuple(float(c) for c in tip),
                            direction=tuple(float(c) for c in u))
        rows[k] = where
    missing = [p.name for p, got in zip(plan.probes, probes, strict=True) if got is None]
    if missing:
        raise InputError(source, "", f"a row for every probe of the plan {plan.source}",
                         f"no row for {', '.join(missing)}")
    return MeasuredProbes(source, kind, tuple(probes), tuple(rows))


def _tips_csv(plan: Case, path: Path, rows: list[tuple[str, dict[str, str]]]
              ) -> MeasuredProbes:
    source = str(path)
    lines = []
    for where, row in rows:
        tip = _vector(source, where, row, TIP)
        if tip is None:
            raise InputError(source, f"{where}.tip_x_mm", "the tip of the probe (mm)")
        lines.append((where, row["name"], tip, _vector(source, where, row, ENTRY),
                      _vector(source, where, row, DIRECTION)))
    return _placed(plan, source, MeasuredKind.TIPS, lines)


def _spacings_csv(plan: Case, path: Path, rows: list[tuple[str, dict[str, str]]]
                  ) -> MeasuredProbes:
    source = str(path)
    owner = {e: p.name for p in plan.probes for e in (p.name, *p.electrode_names)}
    names = [p.name for p in plan.probes]
    spacings: list[MeasuredSpacing] = []
    pairs: dict[frozenset[str], str] = {}
    for where, row in rows:
        ends = []
        for column in ("anode", "cathode"):
            if row[column] not in owner:
                raise InputError(source, f"{where}.{column}", f"a probe of the plan "
                                 f"{plan.source} ({', '.join(names)})", row[column])
            ends.append(owner[row[column]])
        if ends[0] == ends[1]:
            raise InputError(source, f"{where}.cathode", "a probe other than the anode's",
                             row["cathode"])
        key = frozenset(ends)
        if key in pairs:
            raise InputError(source, where, f"each pair once ({'-'.join(ends)} is also on "
                             f"{pairs[key]})")
        pairs[key] = where
        spacing = _number(source, where, "spacing_mm", row["spacing_mm"])
        a, b = (plan.probes[names.index(n)] for n in ends)
        touch = (a.diameter_mm + b.diameter_mm) / 2
        if spacing < touch:
            raise InputError(source, f"{where}.spacing_mm", f"a spacing of at least {touch:g} mm "
                             f"(the probes' axes closer than that put one inside the other)",
                             spacing)
        spacings.append(MeasuredSpacing(ends[0], ends[1], spacing, where))
    unmeasured = [n for n in names if not any(n in key for key in pairs)]
    if unmeasured:
        raise InputError(source, "", "a spacing to every probe of the plan "
                         f"{plan.source}", f"none to {', '.join(unmeasured)}")
    probes, residual = arrange_by_spacings(plan.probes, tuple(spacings), source)
    rows_of = {n: next(w for key, w in pairs.items() if n in key) for n in names}
    return MeasuredProbes(source, MeasuredKind.SPACINGS, probes,
                          tuple(rows_of[n] for n in names), residual)


def read_measured(path: str | Path, plan: Case) -> MeasuredProbes:
    """The probes of ``plan`` as placed, from the measurement at ``path`` (module docstring):
    ``.mrk.json`` is Slicer markups; a CSV is tips (a ``tip_x_mm`` column) or spacings (a
    ``spacing_mm`` column)."""
    path = Path(path)
    source = str(path)
    if not plan.probes:
        raise InputError(plan.source, "probes", "a plan with probes to compare the measurement "
                         "with")
    if path.name.lower().endswith(".json"):
        lines = [(where, name, tip, entry, None)
                 for name, tip, entry, where in read_markup_lines(path)]
        return _placed(plan, source, MeasuredKind.MARKUPS, lines)
    header, rows = _rows(path)
    if "spacing_mm" in header:
        needed, read = SPACING, _spacings_csv
    else:
        needed, read = ("name", *TIP), _tips_csv
        if not (set(ENTRY) <= set(header) or set(DIRECTION) <= set(header)):
            raise InputError(source, "line 1", "columns entry_x_mm, entry_y_mm, entry_z_mm or "
                             "direction_x, direction_y, direction_z", ", ".join(header))
    absent = [c for c in needed if c not in header]
    if absent:
        raise InputError(source, "line 1", "a header with " + ", ".join(needed) + " (probe tips)"
                         " or anode, cathode, spacing_mm (spacings)", ", ".join(header))
    return read(plan, path, rows)
