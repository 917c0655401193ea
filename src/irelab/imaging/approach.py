"""The insertion approach: a clinical choice the planner is told, never assumes for a patient.

``--approach`` takes a name in the patient's frame (``anterior``, ``posterior``,
``right-lateral``, ``left-lateral``, ``cranial``, ``caudal``, or several joined by ``+``, e.g.
``anterior+caudal``), a direction vector in patient LPS axes (``0,-0.9,-0.4``; from the tip
towards the skin, like a probe's ``direction``), or ``auto``. A case made from images gets no
default: without an approach the planner stops and lists the feasible ones.

Proposals (:func:`propose_approaches`) need a body outline. For each of a fixed set of
directions (a Fibonacci lattice on the sphere: deterministic, evenly spread) straight lines run
from the tumour's centre and from a ring of points at the target's radius around it (where the
parallel probes go) towards the skin. A direction is feasible when none of them crosses an
obstacle (ribs, bowel...) or a critical structure outside the target, each reaches the skin
inside the scan, and the deepest tip (the skin's distance from the target's centre plane, plus
the target's radius) is within ``MAX_DEPTH_MM``. Feasible directions are ranked by that distance
and thinned to ones at least ``MIN_SEPARATION_DEG`` apart. The check is the probes'
axes in a ball-shaped target; the planner's actual probes are checked again, one by one, when
the plan is exported (:mod:`irelab.imaging.trajectories`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from irelab.case import Case
from irelab.errors import InputError
from irelab.imaging.structures import CaseStructures, case_structures

__all__ = ["Approach", "NAMED_APPROACHES", "parse_approach", "propose_approaches",
           "resolve_direction"]

NAMED_APPROACHES: dict[str, tuple[float, float, float]] = {
    "anterior": (0.0, -1.0, 0.0),
    "posterior": (0.0, 1.0, 0.0),
    "right-lateral": (-1.0, 0.0, 0.0),
    "left-lateral": (1.0, 0.0, 0.0),
    "cranial": (0.0, 0.0, 1.0),
    "caudal": (0.0, 0.0, -1.0),
}
"""Entry side -> direction from the tip towards the entry in patient LPS (x left, y posterior,
z superior)."""

AXIS_WORDS = (("right", "left"), ("anterior", "posterior"), ("caudal", "cranial"))

MAX_DEPTH_MM = 150.0
"""Deepest tip below the skin a proposal may ask for (design choice: a 15 cm electrode shaft, a
common percutaneous length; check the probes at hand)."""
DIRECTIONS = 400
"""Directions tried (Fibonacci lattice): neighbours about 10 degrees apart."""
RING_POINTS = 8
"""Lines from the target's rim, 45 degrees apart (where the parallel probes go)."""
MIN_SEPARATION_DEG = 25.0
"""Proposals differ by at least this angle (design choice: a distinct approach, not a
neighbour of the one before)."""
STEP_FRACTION = 0.5
"""Samples along a line every half of the scan's smallest voxel spacing."""


@dataclass(frozen=True)
class Approach:
    """A proposed insertion direction (unit, tip towards entry, patient LPS), how far the skin
    is from the target's centre plane along it (the farthest of its lines), or what blocks it."""

    direction: tuple[float, float, float]
    depth_mm: float | None
    blocked_by: tuple[str, ...] = ()

    @property
    def feasible(self) -> bool:
        return not self.blocked_by and self.depth_mm is not None

    @property
    def label(self) -> str:
        return describe(self.direction)

    def to_json(self) -> dict:
        return {"approach": self.label, "direction": [round(v, 4) for v in self.direction],
                "depth_mm": None if self.depth_mm is None else round(self.depth_mm, 1),
                "blocked_by": list(self.blocked_by)}


def describe(direction) -> str:
    """``anterior``, or ``anterior, 20 deg right, 10 deg caudal`` for an oblique direction."""
    u = np.asarray(direction, dtype=float)
    main = int(np.argmax(np.abs(u)))
    name = next(n for n, v in NAMED_APPROACHES.items() if v[main] == np.sign(u[main]))
    tilts = []
    for axis in range(3):
        if axis == main:
            continue
        angle = float(np.degrees(np.arctan2(abs(u[axis]), abs(u[main]))))
        if angle >= 5:
            tilts.append(f"{angle:.0f} deg {AXIS_WORDS[axis][int(u[axis] > 0)]}")
    return ", ".join([name, *tilts])


def parse_approach(text: str, source: str = "--approach") -> tuple[float, float, float]:
    """A named approach (``+``-joined names add up) or an ``x,y,z`` vector, as a unit vector."""
    words = [w.strip().lower() for w in text.split("+")]
    if all(w in NAMED_APPROACHES for w in words):
        u = np.sum([NAMED_APPROACHES[w] for w in words], axis=0)
    else:
        try:
            u = np.array([float(v) for v in text.split(",")])
        except ValueError:
            u = np.zeros(0)
        if u.shape != (3,):
            raise InputError(source, "", f"an approach ({', '.join(NAMED_APPROACHES)}, several "
                             "joined by +, auto) or a direction x,y,z in patient LPS axes", text)
    norm = float(np.linalg.norm(u))
    if norm == 0 or not np.isfinite(norm):
        raise InputError(source, "", "a direction that is not zero", text)
    return tuple(float(v) for v in u / norm)  # type: ignore[return-value]


def _fibonacci(n: int) -> np.ndarray:
    k = np.arange(n) + 0.5
    z = 1 - 2 * k / n
    phi = np.pi * (3 - np.sqrt(5)) * k
    r = np.sqrt(1 - z * z)
    return np.column_stack([r * np.cos(phi), r * np.sin(phi), z])


def _frame(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.array([1.0, 0, 0]) if abs(u[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = ref - (ref @ u) * u
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(u, e1)


def _evaluate(structures: CaseStructures, centre: np.ndarray, radius: float,
              directions: np.ndarray) -> list[Approach]:
    g = structures.geometry
    step = STEP_FRACTION * min(g.spacing_mm)
    lo, hi = g.bounds_mm()
    reach = float(np.linalg.norm(hi - lo))
    t = np.arange(0.0, reach, step)
    out = []
    angles = 2 * np.pi * np.arange(RING_POINTS) / RING_POINTS
    for u in directions:
        e1, e2 = _frame(u)
        starts = np.vstack([centre, centre + radius * (np.outer(np.cos(angles), e1)
                                                       + np.outer(np.sin(angles), e2))])
        points = starts[:, None, :] + t[None, :, None] * u
        values = structures.sample(points)
        in_scan = g.contains(points)
        outside = ~structures.inside_body(values) & in_scan
        leaves = outside.any(axis=1)
        exit_at = np.where(leaves, np.argmax(outside, axis=1), len(t))
        before = np.arange(len(t))[None, :] < exit_at[:, None]
        in_target = np.linalg.norm(points - centre, axis=-1) <= radius
        crossed = set()
        for values_set, outside_target in ((structures.obstacles, False),
                                           (structures.critical, True)):
            hit = np.isin(values, sorted(values_set)) & before
            if outside_target:
                hit &= ~in_target
            crossed |= {structures.name(int(v)) for v in np.unique(values[hit])}
        blocked = sorted(crossed)
        if not leaves.all() or (~in_scan & before).any():
            blocked.append("the body outline beyond the scan's field of view")
        depth = float(t[exit_at].max()) if leaves.all() else None
        if depth is not None and depth + radius > MAX_DEPTH_MM:
            blocked.append(f"tips deeper than {MAX_DEPTH_MM:g} mm")
        out.append(Approach(tuple(float(v) for v in u), depth, tuple(blocked)))
    return out


def propose_approaches(case: Case, margin_mm: float = 5.0, count: int = 5,
                       structures: CaseStructures | None = None) -> list[Approach]:
    """Up to ``count`` feasible approaches to the case's tumour, shallowest first, at least
    ``MIN_SEPARATION_DEG`` apart (empty when none is feasible). Needs a body outline."""
    structures = structures or case_structures(case)
    if structures is None or not structures.has_body or not structures.target:
        raise InputError(case.source, "imaging", "a case made from images with a body (or "
                         "skin) segment and a tumour, to propose approaches from")
    tumour = np.argwhere(structures.mask(structures.target))
    points = structures.geometry.to_world(tumour)
    centre = points.mean(axis=0)
    radius = float(np.linalg.norm(points - centre, axis=1).max()) + margin_mm
    candidates = _evaluate(structures, centre, radius, _fibonacci(DIRECTIONS))
    feasible = sorted((a for a in candidates if a.feasible), key=lambda a: a.depth_mm)
    chosen: list[Approach] = []
    cos_min = np.cos(np.radians(MIN_SEPARATION_DEG))
    for a in feasible:
        if all(np.dot(a.direction, b.direction) < cos_min for b in chosen):
            chosen.append(a)
        if len(chosen) == count:
            break
    return chosen


def check_approach(case: Case, direction, margin_mm: float = 5.0,
                   structures: CaseStructures | None = None) -> Approach:
    """The same check for one given direction."""
    structures = structures or case_structures(case)
    tumour = np.argwhere(structures.mask(structures.target))
    points = structures.geometry.to_world(tumour)
    centre = points.mean(axis=0)
    radius = float(np.linalg.norm(points - centre, axis=1).max()) + margin_mm
    return _evaluate(structures, centre, radius, np.asarray([direction], dtype=float))[0]


@dataclass(frozen=True)
class Resolved:
    """The planner's insertion direction and what to tell the user about it."""

    direction: tuple[float, float, float]
    note: str | None = None


def resolve_direction(case: Case, approach: str | None,
                      direction: tuple[float, float, float] | None,
                      margin_mm: float = 5.0) -> Resolved:
    """The insertion direction for ``case`` from ``--approach`` / ``--direction``.

    A case of shapes keeps the documented default ``0,0,1``; a case made from images must be
    told (``auto`` takes the shallowest feasible proposal and says so)."""
    if approach is not None and direction is not None:
        raise InputError("--approach", "", "either --approach or --direction, not both")
    if direction is not None:
        return Resolved(direction)
    if approach is None:
        if case.imaging is None:
            return Resolved((0.0, 0.0, 1.0))
        raise InputError(case.source, "--approach", "an insertion approach for a case made from "
                         "images (the planner assumes none): " + _choices(case, margin_mm))
    if approach.strip().lower() == "auto":
        proposals = propose_approaches(case, margin_mm)
        if not proposals:
            raise InputError(case.source, "--approach auto", "a feasible approach: every "
                             "direction tried crosses an obstacle or a critical structure, or "
                             f"is deeper than {MAX_DEPTH_MM:g} mm; give one with --approach")
        best = proposals[0]
        return Resolved(best.direction, f"approach {best.label} "
                        f"({', '.join(f'{v:.3f}' for v in best.direction)}), target centre "
                        f"{best.depth_mm:.0f} mm below the skin: the shallowest feasible of "
                        f"{len(proposals)} proposed")
    u = parse_approach(approach)
    note = None
    structures = case_structures(case)
    if structures is not None and structures.has_body and structures.target:
        check = check_approach(case, u, margin_mm, structures)
        if not check.feasible:
            note = (f"approach {check.label} crosses {', '.join(check.blocked_by)}; feasible: "
                    + _choices(case, margin_mm, structures))
    return Resolved(u, note)


def _choices(case: Case, margin_mm: float, structures: CaseStructures | None = None) -> str:
    structures = structures or case_structures(case)
    names = ", ".join(NAMED_APPROACHES)
    if structures is None or not structures.has_body or not structures.target:
        return f"--approach with one of {names}, or a vector x,y,z in patient LPS axes"
    proposals = propose_approaches(case, margin_mm, structures=structures)
    if not proposals:
        return (f"no direction is clear of obstacles from the body outline; --approach {names}"
                " or x,y,z")
    listed = "; ".join(f"{a.label} = {','.join(f'{v:.3f}' for v in a.direction)} "
                       f"({a.depth_mm:.0f} mm deep)" for a in proposals)
    return f"--approach auto, or one of: {listed}"
