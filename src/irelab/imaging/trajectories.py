"""Probe trajectories of a plan: entry and tip of every probe at every placement, in patient LPS
mm, with the insertion depth from the skin and what the straight path crosses.

Tip: the probe's tip at the placement (:meth:`irelab.case.Placement.tip_mm`). Entry: where the
line from the tip back along the probe's direction leaves the body outline, when the case has
one (a case made from images with a body or skin segment); the depth is the distance from there
to the tip. Without a body outline the entry is where the shaft leaves the solver's domain and
no depth is given.

Crossings: the path from the skin to the tip is sampled every half of the scan's smallest
spacing along the axis and along six lines on the probe's surface; a sample in an obstacle
(ribs, bowel...) or in a critical tissue (a vessel, a duct) outside the target (tumour plus
margin) is a crossing, reported with how far below the skin it starts. Each is a warning: the
plan's geometry was chosen inside the domain; the rest of the path is checked here.

The CSV (one row per probe and placement, ``trajectories.csv``) is read and written here.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from irelab.case import Case
from irelab.case.checks import exit_distance_mm
from irelab.errors import InputError
from irelab.field.problem import Grid
from irelab.imaging.structures import CaseStructures

__all__ = ["Crossing", "Trajectory", "plan_trajectories", "read_trajectory_csv",
           "write_trajectory_csv"]

SURFACE_LINES = 6
"""Lines along the probe's surface checked besides its axis, 60 degrees apart (a 1.1 mm probe
on a 1 mm scan: a structure the axis just misses but the shaft touches is found)."""
CSV_COLUMNS = ("probe", "placement", "tip_L_mm", "tip_P_mm", "tip_S_mm", "entry_L_mm",
               "entry_P_mm", "entry_S_mm", "entry_at", "depth_mm", "exposed_mm", "diameter_mm")


@dataclass(frozen=True)
class Crossing:
    """A structure the path from the skin to the tip runs through."""

    structure: str
    role: str
    below_skin_mm: float


@dataclass(frozen=True)
class Trajectory:
    """One probe at one placement (``placement`` counts from 1, as people number them)."""

    probe: str
    placement: int
    tip_mm: tuple[float, float, float]
    entry_mm: tuple[float, float, float]
    entry_at: str
    """``skin`` (the body outline) or ``domain`` (where the shaft leaves the solver's box)."""
    depth_mm: float | None
    exposed_mm: float
    diameter_mm: float
    crossings: tuple[Crossing, ...] = ()
    note: str | None = None
    """Why a case with a body outline has no depth for this probe (its tip outside the body,
    or the body outline beyond the scan along its path)."""

    @property
    def label(self) -> str:
        return f"{self.probe}@{self.placement}"

    def warnings(self) -> list[str]:
        where = f"probe {self.probe} at placement {self.placement}"
        out = [f"{where}: the straight path from the skin to the tip crosses {c.structure} "
               f"({c.role}) {c.below_skin_mm:.1f} mm below the skin" for c in self.crossings]
        if self.note is not None:
            out.append(f"{where}: {self.note}")
        return out

    def to_json(self) -> dict:
        return {"probe": self.probe, "placement": self.placement,
                "tip_mm": [round(v, 3) for v in self.tip_mm],
                "entry_mm": [round(v, 3) for v in self.entry_mm], "entry_at": self.entry_at,
                "depth_mm": None if self.depth_mm is None else round(self.depth_mm, 2),
                "crossings": [{"structure": c.structure, "role": c.role,
                               "below_skin_mm": round(c.below_skin_mm, 1)}
                              for c in self.crossings], "note": self.note}


def _surface_offsets(u: np.ndarray, radius: float) -> np.ndarray:
    ref = np.array([1.0, 0, 0]) if abs(u[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = ref - (ref @ u) * u
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(u, e1)
    angles = 2 * np.pi * np.arange(SURFACE_LINES) / SURFACE_LINES
    ring = radius * (np.outer(np.cos(angles), e1) + np.outer(np.sin(angles), e2))
    return np.vstack([np.zeros(3), ring])


def _skin(structures: CaseStructures, tip: np.ndarray, u: np.ndarray
          ) -> tuple[float | None, str | None]:
    """The depth of the tip below the skin along ``-u``, or None and why not."""
    g = structures.geometry
    step = 0.5 * min(g.spacing_mm)
    lo, hi = g.bounds_mm()
    t = np.arange(0.0, float(np.linalg.norm(hi - lo)), step)
    points = tip + t[:, None] * u
    values = structures.sample(points)
    outside = ~structures.inside_body(values) & g.contains(points)
    leaves_scan = ~g.contains(points)
    first_out = int(np.argmax(outside)) if outside.any() else None
    first_gone = int(np.argmax(leaves_scan)) if leaves_scan.any() else None
    if first_out == 0:
        return None, "its tip lies outside the body outline"
    if first_out is None or (first_gone is not None and first_gone < first_out):
        return None, "its path reaches the edge of the scan before the skin (no depth)"
    return float(t[first_out] - step / 2), None


def _crossings(structures: CaseStructures, tip: np.ndarray, u: np.ndarray, depth: float,
               radius: float, in_target) -> tuple[Crossing, ...]:
    step = 0.5 * min(structures.geometry.spacing_mm)
    t = np.arange(0.0, depth, step)
    offsets = _surface_offsets(u, radius)
    points = tip + t[None, :, None] * u + offsets[:, None, :]
    values = structures.sample(points)
    found = []
    for values_set, role, outside_target in ((structures.obstacles, "obstacle", False),
                                             (structures.critical, "critical", True)):
        hit = np.isin(values, sorted(values_set))
        if outside_target:
            hit &= ~in_target(points)
        for value in np.unique(values[hit]):
            along = ((values == value) & hit).any(axis=0)
            found.append(Crossing(structures.name(int(value)), role,
                                  depth - float(t[along].max())))
    return tuple(sorted(found, key=lambda c: c.below_skin_mm))


def plan_trajectories(plan: Case, structures: CaseStructures | None,
                      target: np.ndarray | None = None, grid: Grid | None = None
                      ) -> tuple[Trajectory, ...]:
    """Every probe at every placement of ``plan``, with depth and crossings when the case has a
    body outline. ``target`` (on ``grid``) is the tumour plus margin, where critical tissue
    is not reported."""

    def in_target(points: np.ndarray) -> np.ndarray:
        if target is None or grid is None:
            return np.zeros(points.shape[:-1], dtype=bool)
        idx = np.rint((points * 1e-3 - np.asarray(grid.origin_m)) / grid.spacing_m
                      ).astype(np.int64)
        ok = np.all((idx >= 0) & (idx < np.asarray(grid.shape)), axis=-1)
        out = np.zeros(points.shape[:-1], dtype=bool)
        out[ok] = target[idx[ok][:, 0], idx[ok][:, 1], idx[ok][:, 2]]
        return out

    out = []
    lo, hi = plan.domain.lower_mm, plan.domain.upper_mm
    for number, placement in enumerate(plan.placements, start=1):
        for probe in plan.probes:
            u = np.asarray(probe.direction, dtype=float)
            tip = placement.tip_mm(probe)
            depth, crossings, entry_at, note = None, (), "domain", None
            if structures is not None and structures.has_body:
                depth, note = _skin(structures, tip, u)
            if depth is not None:
                entry, entry_at = tip + depth * u, "skin"
                crossings = _crossings(structures, tip, u, depth, probe.diameter_mm / 2,
                                       in_target)
            else:
                end = tip + probe.length_mm * u
                entry = end + exit_distance_mm(end, u, lo, hi) * u
            out.append(Trajectory(probe.name, number, tuple(float(v) for v in tip),
                                  tuple(float(v) for v in entry), entry_at, depth,
                                  float(probe.length_mm), float(probe.diameter_mm), crossings,
                                  note))
    return tuple(out)


def write_trajectory_csv(path: str | Path, trajectories: Sequence[Trajectory]) -> Path:
    """One row per probe and placement: tip and entry in LPS mm, depth from the skin."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for t in trajectories:
            writer.writerow([t.probe, t.placement, *(f"{v:.3f}" for v in t.tip_mm),
                             *(f"{v:.3f}" for v in t.entry_mm), t.entry_at,
                             "" if t.depth_mm is None else f"{t.depth_mm:.2f}",
                             f"{t.exposed_mm:g}", f"{t.diameter_mm:g}"])
    return path


def read_trajectory_csv(path: str | Path) -> tuple[Trajectory, ...]:
    """The trajectories of a CSV written by :func:`write_trajectory_csv` (without crossings)."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = []
    for number, row in enumerate(rows, start=2):
        try:
            out.append(Trajectory(
                row["probe"], int(row["placement"]),
                tuple(float(row[f"tip_{a}_mm"]) for a in "LPS"),
                tuple(float(row[f"entry_{a}_mm"]) for a in "LPS"), row["entry_at"],
                float(row["depth_mm"]) if row["depth_mm"] else None,
                float(row["exposed_mm"]), float(row["diameter_mm"])))
        except (KeyError, ValueError, TypeError):
            raise InputError(str(path), f"line {number}", f"the columns {', '.join(CSV_COLUMNS)}"
                             " with numbers") from None
    return tuple(out)
