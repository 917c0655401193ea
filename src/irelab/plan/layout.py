"""Probe layouts: where the parallel probes go, which pairs fire at what voltage, placements.

A layout is a set of probe positions in the plane normal to the insertion axis, one exposed
length, and one or more placements of that rigid array: the axial tip position of each (pullback
positions, deepest first) and an in-plane shift of each (repositioning: the array moved
sideways, zero unless the planner adds such a placement). The pairs with their voltages are the
same pair protocol, repeated at every placement. Candidate layouts are
regular polygons around the target's centroid, with or without a centre probe, at several radii
and rotations; a cheap analytic screen (the two-cylinder field, below) ranks them before any
field solve.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from irelab.case.model import Placement, Probe
from irelab.case.probes import conductor_mask, probe_conductors
from irelab.field.problem import Electrode, FieldProblem, Insulator
from irelab.plan.targets import PlanLimits, PlanTarget

__all__ = ["ProbeLayout", "VOLTS_PER_SPACING", "off_centre_tips"]

VOLTS_PER_SPACING = 1500.0 / 1e-2
"""Starting voltage per metre of probe spacing: the clinical rule of thumb of 1500 V per cm
between parallel probes (NanoKnife guidance; Ben-David E, Ahmed M, Faroja M, et al.
Irreversible electroporation: treatment effect is susceptible to local environment and tissue
properties. Radiology 269(3):738-747, 2013, used 1500-2500 V/cm settings in porcine liver)."""

AXIAL_OVERHANG_M = 3e-3
"""How far the lethal zone is assumed to reach beyond the ends of the exposed electrodes when
choosing the number of pullback positions (checked afterwards by the field simulation, which is
what counts)."""

PULLBACK_OVERLAP_M = 15e-3
"""Overlap of consecutive pullback positions' electrodes, as far as the maximum exposed length
allows (on the 55 mm phantom: 12 mm with 40 mm electrodes, where butting positions left the
junction up to 18 % below e_irr, a 10 mm overlap 5 % and a 12 mm overlap 2 %)."""


@dataclass(frozen=True)
class ProbeLayout:
    """Probes (in-plane positions), exposed length, placements and the pair protocol (SI).

    ``points_m[k]`` = (a, b) in the target's (e1, e2) plane; ``tips_m`` = axial coordinate of the
    tip at each placement (position) in delivery order; ``shifts_m`` = the in-plane shift (a, b)
    of the whole array at each placement (empty: no shift at any); ``pairs`` index probes;
    ``voltages_V`` is one voltage per pair (the same at every placement).
    """

    points_m: tuple[tuple[float, float], ...]
    exposed_m: float
    tips_m: tuple[float, ...]
    pairs: tuple[tuple[int, int], ...]
    voltages_V: tuple[float, ...]
    label: str = ""
    shifts_m: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if self.shifts_m and len(self.shifts_m) != len(self.tips_m):
            raise ValueError(f"{len(self.shifts_m)} shifts for {len(self.tips_m)} placements")

    @property
    def n_probes(self) -> int:
        return len(self.points_m)

    @property
    def n_positions(self) -> int:
        return len(self.tips_m)

    @property
    def repositioned(self) -> bool:
        """Whether some placement moves the array sideways (not only back along the axis)."""
        return any(a != 0.0 or b != 0.0 for a, b in self.shifts_m)

    def shift_m(self, position: int) -> tuple[float, float]:
        """In-plane shift of the array at ``position``."""
        return self.shifts_m[position] if self.shifts_m else (0.0, 0.0)

    def points_at(self, position: int) -> np.ndarray:
        """In-plane probe positions at ``position`` (probes x 2)."""
        return np.asarray(self.points_m) + np.asarray(self.shift_m(position))

    def with_placement(self, tip_m: float, shift_m: tuple[float, float],
                       after: int) -> ProbeLayout:
        """The same array and pairs with one more placement inserted after position ``after``
        (delivery order): tip at axial ``tip_m``, array shifted by ``shift_m`` in the plane."""
        shifts = [self.shift_m(p) for p in range(self.n_positions)]
        tips = list(self.tips_m)
        tips.insert(after + 1, float(tip_m))
        shifts.insert(after + 1, (float(shift_m[0]), float(shift_m[1])))
        return replace(self, tips_m=tuple(tips), shifts_m=tuple(shifts))

    def spacing_m(self, pair: tuple[int, int]) -> float:
        a, b = (np.asarray(self.points_m[i]) for i in pair)
        return float(np.linalg.norm(a - b))

    def spacings_m(self) -> np.ndarray:
        return np.array([self.spacing_m(p) for p in self.pairs])

    def min_probe_distance_m(self) -> float:
        pts = np.asarray(self.points_m)
        d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
        d[np.diag_indices(len(pts))] = np.inf
        return float(d.min())

    def with_voltages(self, voltages) -> ProbeLayout:
        return replace(self, voltages_V=tuple(float(v) for v in voltages))

    def world_tip_m(self, target: PlanTarget, k: int, position: int) -> np.ndarray:
        a, b = self.points_at(position)[k]
        return a * target.e1 + b * target.e2 + self.tips_m[position] * target.axis

    def probes(self, target: PlanTarget, limits: PlanLimits = PlanLimits()) -> tuple[Probe, ...]:
        """The probes P1..Pn as a case holds them: tips at the first placement, in mm rounded
        to 1 um (what the plan file says, so what is solved is what is written)."""
        axis = tuple(float(c) for c in target.axis)
        return tuple(Probe(name=f"P{k + 1}",
                           tip_mm=tuple(_mm(c) for c in self.world_tip_m(target, k, 0)),
                           direction=axis, diameter_mm=_mm(limits.probe_diameter_m),
                           exposed_mm=_mm(self.exposed_m))
                     for k in range(self.n_probes))

    def placements(self, target: PlanTarget) -> tuple[Placement, ...]:
        """Each placement relative to the first, as a case holds them: ``back_mm`` along the
        insertion direction and ``shift_mm`` (a world vector), mm rounded to 1 um."""
        first = np.asarray(self.shift_m(0))
        out = []
        for p in range(self.n_positions):
            da, db = np.asarray(self.shift_m(p)) - first
            shift = da * target.e1 + db * target.e2
            out.append(Placement(_mm(self.tips_m[p] - self.tips_m[0]),
                                 tuple(_mm(c) + 0.0 for c in shift)))
        return tuple(out)

    def conductors(self, target: PlanTarget, position: int,
                   limits: PlanLimits = PlanLimits()) -> tuple[tuple[Electrode, ...],
                                                              tuple[Insulator, ...]]:
        """Electrodes and insulated shafts at ``position`` on ``target``'s grid (the case
        layer's builder, on this layout's probes and placements)."""
        return probe_conductors(self.probes(target, limits), self.placements(target)[position],
                                target.grid)

    def problem(self, anatomy: FieldProblem, target: PlanTarget, position: int) -> FieldProblem:
        els, ins = self.conductors(target, position)
        return replace(anatomy, electrodes=els, insulators=ins)

    def pair_names(self) -> list[tuple[str, str]]:
        """(anode, cathode) electrode names of each pair (the same at every placement)."""
        return [(f"P{i + 1}", f"P{j + 1}") for i, j in self.pairs]


def _mm(v: float) -> float:
    return round(float(v) * 1e3, 3)


def polygon(n: int, radius_m: float, rotation: float, centre: bool, origin: np.ndarray,
            diagonals: bool = False) -> tuple[list[tuple[float, float]], list[tuple[int, int]]]:
    """``n`` probes: a regular polygon (n - 1 corners plus one centre probe if ``centre``).

    Pairs: every side of the polygon, each corner with the centre probe, and with ``diagonals``
    each corner with the corner after next (for 4 or more corners).
    """
    m = n - 1 if centre else n
    ang = rotation + 2 * np.pi * np.arange(m) / m
    pts = [(float(origin[0] + radius_m * np.cos(t)), float(origin[1] + radius_m * np.sin(t)))
           for t in ang]
    if m == 2:
        pairs = [(0, 1)]
    else:
        pairs = [(i, (i + 1) % m) for i in range(m)]
    if diagonals and m >= 4:
        skip = [(i, (i + 2) % m) for i in range(m)]
        pairs += [p for p in skip if (p[1], p[0]) not in skip[: skip.index(p)]]
    if centre:
        pts.append((float(origin[0]), float(origin[1])))
        pairs += [(i, m) for i in range(m)]
    return pts, pairs


def axial_positions(target: PlanTarget, limits: PlanLimits, extra: int = 0
                    ) -> tuple[float, tuple[float, ...]]:
    """Exposed length and tip positions (deepest first); ``extra`` pullback positions more than
    the fewest (shorter electrodes, each pair drawing less current), as far as the minimum
    exposed length allows.

    The number of positions: one if the target's axial extent minus the assumed overhang at both
    ends fits the longest exposed length, else the fewest pullback positions that do. The zone's
    overhang beyond the electrode ends is weakest where it matters most (the target's poles, the
    junction between positions, measured 18 % short at a junction of butting positions on the
    55 mm phantom), so it is not relied upon when the limits allow more: one position gets an
    electrode as long as the target (at most the maximum), and with pullbacks consecutive
    positions overlap by ``PULLBACK_OVERLAP_M`` (less only where the maximum length forces it)
    and together span the target; the step is a whole millimetre. With ``extra`` positions the
    overlap is the same fraction of the (shorter) electrode as ``PULLBACK_OVERLAP_M`` of the
    longest (design choice: the junction was measured only with 40 mm electrodes; the field
    solve of the plan checks it).
    """
    s_lo, s_hi = target.axial_extent_m()
    extent = s_hi - s_lo
    need = extent - 2 * AXIAL_OVERHANG_M
    n_pos = max(1, math.ceil(need / limits.max_exposed_m - 1e-9)) + max(0, extra)
    if extra > 0:  # overlap in proportion to the shorter electrodes
        ratio = PULLBACK_OVERLAP_M / limits.max_exposed_m
        wanted = extent / (n_pos - (n_pos - 1) * ratio)
    else:
        wanted = (extent + (n_pos - 1) * PULLBACK_OVERLAP_M) / n_pos
    exposed = min(max(wanted, limits.min_exposed_m), limits.max_exposed_m)
    exposed = math.ceil(exposed * 1e3 - 1e-6) / 1e3  # whole mm, as typed on the generator
    exposed = min(exposed, limits.max_exposed_m)
    step = 0.0
    if n_pos > 1:
        step = min(exposed, math.floor((extent - exposed) / (n_pos - 1) * 1e3 + 1e-6) / 1e3)
    span = exposed + (n_pos - 1) * step
    start = 0.5 * (s_lo + s_hi) - span / 2
    tips = tuple(start + i * step for i in range(n_pos))
    return exposed, tips


RADIUS_FRACTIONS = (0.45, 0.55, 0.65, 0.75, 0.8, 0.85, 0.9)
"""Polygon radii tried, as fractions of the target's in-plane radius (largest distance of a
target voxel from the centroid)."""


def candidates(target: PlanTarget, limits: PlanLimits, centroid: np.ndarray,
               radius_target_m: float,
               place: Callable[[tuple[float, float]], tuple[float, float] | None] | None = None,
               ) -> Iterator[ProbeLayout]:
    """Polygon layouts with 2-6 probes, several radii and rotations (pre-screen input).

    ``place`` maps each polygon point to where the probe may go (snapped to the grid, moved
    out of the keep-out around critical structures), or None to drop the layout. A polygon
    point in the keep-out is thus moved beside the vessel instead of losing the layout.
    Layouts that violate the spacing limits are skipped; duplicates are yielded once.
    """
    exposed, tips = axial_positions(target, limits)
    seen: set[tuple] = set()
    for n in range(limits.min_probes, limits.max_probes + 1):
        for centre in (False, True):
            m = n - 1 if centre else n
            if m < 2 or (centre and m < 3):
                continue
            for frac, rot_step, diagonals in itertools.product(
                    RADIUS_FRACTIONS, range(3), (False, True)):
                if diagonals and m < 4:
                    continue
                radius = frac * radius_target_m
                rotation = rot_step * (2 * np.pi / m) / 3
                if m == 2:
                    rotation = rot_step * np.pi / 3
                pts, pairs = polygon(n, radius, rotation, centre, centroid, diagonals)
                if place is not None:
                    placed = [place(p) for p in pts]
                    if any(p is None for p in placed):
                        continue
                    pts = placed
                key = (tuple(pts), tuple(pairs))
                if key in seen:
                    continue
                seen.add(key)
                layout = ProbeLayout(tuple(pts), exposed, tips, tuple(pairs), (),
                                     label=f"{m}-gon{'+centre' if centre else ''}"
                                           f"{'+diagonals' if diagonals else ''} "
                                           f"r={radius * 1e3:.1f}mm rot={rotation:.2f}")
                sp = layout.spacings_m()
                if layout.min_probe_distance_m() < limits.min_spacing_m:
                    continue
                if sp.max() > limits.max_spacing_m or sp.min() < limits.min_spacing_m:
                    continue
                yield layout.with_voltages(np.minimum(VOLTS_PER_SPACING * sp,
                                                      limits.max_voltage_V))


def off_centre_tips(layout: ProbeLayout, target: PlanTarget) -> ProbeLayout:
    """``layout`` with every tip moved along the axis (by the same amount, less than half a
    voxel) so that the first lies a quarter voxel past a voxel centre, when the axis is a grid
    axis. Then no voxel centre lies on a probe's tip or on the end of its electrode (exposed
    lengths and pullback steps are whole millimetres): there the needle track (centres strictly
    inside a probe) and the solver's cut cells would disagree about what is tissue."""
    axis = int(np.argmax(np.abs(target.axis)))
    if abs(target.axis[axis]) < 1 - 1e-9:
        return layout
    sign = float(np.sign(target.axis[axis]))
    h = target.grid.spacing_m
    origin = sign * target.grid.origin_m[axis]  # a voxel centre, in axial coordinates
    tip = layout.tips_m[0]
    wanted = origin + (round((tip - origin) / h - 0.25) + 0.25) * h
    delta = round((wanted - tip) * 1e6) / 1e6  # whole micrometres, as the plan file holds
    return replace(layout, tips_m=tuple(t + delta for t in layout.tips_m))


def track_mask(layout: ProbeLayout, target: PlanTarget,
               limits: PlanLimits = PlanLimits()) -> np.ndarray:
    """Voxels whose centre lies inside a probe (any placement): the needle tracks.

    There is no tissue to ablate there (the conductor displaces it, and the field solver has no
    tissue unknown in such a voxel), so coverage is counted over the target minus the track.
    """
    return conductor_mask(target.grid, layout.probes(target, limits),
                          layout.placements(target))


def blocked_columns(points_ab: np.ndarray, target: PlanTarget, tip_s: float) -> np.ndarray:
    """Whether a probe at each in-plane point (M x 2), tip at axial ``tip_s``, would touch a
    keep-out voxel anywhere from its tip to the domain's edge, or has its tip outside the
    domain (shape M). Sampled every half voxel along the axis, nearest voxel."""
    grid = target.grid
    h = grid.spacing_m
    reach = float(np.linalg.norm(grid.upper_m - grid.lower_m))
    t = np.arange(0.0, reach, h / 2)
    pts = np.atleast_2d(np.asarray(points_ab, dtype=float))
    tips = (pts[:, :1] * target.e1 + pts[:, 1:2] * target.e2 + tip_s * target.axis)
    world = tips[:, None, :] + t[None, :, None] * target.axis
    idx = np.round((world - np.asarray(grid.origin_m)) / h).astype(int)
    inside = np.all((idx >= 0) & (idx < np.asarray(grid.shape)), axis=-1)
    clipped = np.clip(idx, 0, np.asarray(grid.shape) - 1)
    hit = target.keep_out[clipped[..., 0], clipped[..., 1], clipped[..., 2]] & inside
    return hit.any(axis=1) | ~inside[:, 0]


def crosses_keep_out(layout: ProbeLayout, target: PlanTarget) -> bool:
    """Whether any probe (exposed part or shaft, every placement) passes a keep-out voxel or
    has its tip outside the domain."""
    return any(bool(blocked_columns(layout.points_at(p), target, layout.tips_m[p]).any())
               for p in range(layout.n_positions))


def nearest_allowed(point: tuple[float, float], target: PlanTarget, tip_s: float,
                    snap: Callable[[float, float], tuple[float, float]], step_m: float,
                    max_shift_m: float) -> tuple[float, float] | None:
    """The allowed (snapped) probe position nearest to ``point``: the point itself if its
    column is clear, else the closest clear one on a ``step_m`` lattice within
    ``max_shift_m``; None if there is none. Probes may sit right beside a vessel: the keep-out
    already holds the probe radius plus the clearance."""
    p = snap(*point)
    if not blocked_columns(np.asarray([p]), target, tip_s)[0]:
        return p
    n = int(max_shift_m / step_m)
    offsets = np.arange(-n, n + 1) * step_m
    da, db = np.meshgrid(offsets, offsets, indexing="ij")
    cand = np.stack([p[0] + da.ravel(), p[1] + db.ravel()], axis=1)
    cand = np.asarray([snap(float(a), float(b)) for a, b in cand])
    dist = np.hypot(cand[:, 0] - point[0], cand[:, 1] - point[1])
    keep = dist <= max_shift_m + 1e-12
    cand, dist = cand[keep], dist[keep]
    order = np.argsort(dist, kind="stable")
    clear = ~blocked_columns(cand[order], target, tip_s)
    if not clear.any():
        return None
    a, b = cand[order][int(np.argmax(clear))]
    return float(a), float(b)


def proxy_field_per_volt(layout: ProbeLayout, ab: np.ndarray, radius_m: float) -> np.ndarray:
    """|E| per volt of each pair at in-plane points ``ab`` (pairs x points), two-cylinder model.

    Two parallel infinite cylinders of radius a with centre spacing 2c in a uniform medium:
    |E| = V b / (arccosh(c/a) r1 r2), b = sqrt(c^2 - a^2), r1, r2 the distances to the line
    charges at +-b (Smythe WR, Static and Dynamic Electricity, 3rd ed., 1968, sec. 4.13; the
    same closed form the solver's tests check it against). Used only to rank layouts.
    """
    out = np.empty((len(layout.pairs), len(ab)))
    for p, (i, j) in enumerate(layout.pairs):
        pi, pj = np.asarray(layout.points_m[i]), np.asarray(layout.points_m[j])
        mid = (pi + pj) / 2
        c = np.linalg.norm(pj - pi) / 2
        u = (pj - pi) / (2 * c)
        b = math.sqrt(max(c * c - radius_m**2, 1e-12))
        rel = ab - mid
        f1 = mid + b * u
        f2 = mid - b * u
        r1 = np.linalg.norm(ab - f1, axis=1)
        r2 = np.linalg.norm(ab - f2, axis=1)
        del rel
        out[p] = b / (math.acosh(c / radius_m) * np.maximum(r1 * r2, (radius_m / 2) ** 2))
    return out

