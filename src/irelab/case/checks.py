"""What a case schema cannot check: the grid's size, probes inside the domain and apart from each
other at every placement, pairs naming real electrodes.

Each problem is one :class:`~irelab.errors.InputError` naming the file, the key and what was
expected.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from irelab.case.model import MAX_VOXELS, Case, Domain, Placement
from irelab.errors import InputError

__all__: list[str] = []


def check_domain(domain: Domain, source: str) -> None:
    if domain.spacing_mm * 4 > min(domain.size_mm):
        raise InputError(source, "domain.spacing_mm", "a spacing of at most a quarter of the "
                         f"smallest box side ({min(domain.size_mm) / 4:g} mm)", domain.spacing_mm)
    voxels = int(np.prod([round(s / domain.spacing_mm) for s in domain.size_mm]))
    if voxels > MAX_VOXELS:
        raise InputError(source, "domain.spacing_mm", f"a grid of at most {MAX_VOXELS:,} voxels",
                         f"{voxels:,} voxels")


def check_imaging(case: Case, source: str) -> None:
    """An image-based case's label volume exists (it is read with the regions' images)."""
    if case.imaging is None:
        return
    path = Path(case.imaging.labels)
    if not path.is_absolute():
        path = case.base_dir / path
    if not path.is_file():
        raise InputError(source, "imaging.labels", "an existing label volume file", str(path))


def exit_distance_mm(point: np.ndarray, u: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """How far along ``u`` from ``point`` (inside the box) the box ends."""
    with np.errstate(divide="ignore"):
        t = np.where(u > 0, (hi - point) / u, np.where(u < 0, (lo - point) / u, np.inf))
    return float(max(t.min(), 0.0))


def segment_distance(p0, p1, q0, q1) -> float:
    """Shortest distance between segments p0-p1 and q0-q1 (closest points by clamped
    parameters; Ericson C, Real-Time Collision Detection, 2005, sec. 5.1.9)."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a, e, f = d1 @ d1, d2 @ d2, d2 @ r
    c, b = d1 @ r, d1 @ d2
    denom = a * e - b * b
    s = float(np.clip((b * f - c * e) / denom, 0, 1)) if denom > 1e-12 * a * e else 0.0
    t = (b * s + f) / e
    if t < 0:
        t, s = 0.0, float(np.clip(-c / a, 0, 1))
    elif t > 1:
        t, s = 1.0, float(np.clip((b - c) / a, 0, 1))
    return float(np.linalg.norm(p0 + s * d1 - (q0 + t * d2)))


def check_probes(case: Case, source: str) -> None:
    names = [p.name for p in case.probes]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise InputError(source, f"probes[{i}].name", "a name no other probe has", name)
    lo, hi = case.domain.lower_mm, case.domain.upper_mm
    moves = "pullback_steps_mm" if case.protocol is not None and case.protocol.pullbacks \
        else "placements"
    for pos, placement in enumerate(case.placements):
        axes = []
        for i, probe in enumerate(case.probes):
            u = np.asarray(probe.direction)
            tip = placement.tip_mm(probe)
            end = tip + probe.length_mm * u
            for point, what in ((tip, "tip"), (end, "end of the exposed part")):
                if np.any(point < lo) or np.any(point > hi):
                    moved = placement != Placement()
                    key = f"protocol.{moves}" if moved else f"probes[{i}].tip_mm"
                    where = f" at position {pos + 1}" if moved else ""
                    raise InputError(source, key, f"the probe's {what}{where} inside the domain "
                                     f"box {lo.tolist()}-{hi.tolist()} mm",
                                     np.round(point, 3).tolist())
            axes.append((tip, tip + (probe.length_mm + exit_distance_mm(end, u, lo, hi)) * u))
        for (i, a), (j, b) in itertools.combinations(enumerate(axes), 2):
            gap = segment_distance(a[0], a[1], b[0], b[1])
            touch = (case.probes[i].diameter_mm + case.probes[j].diameter_mm) / 2
            if gap < touch:
                where = f" at position {pos + 1}" if pos else ""
                raise InputError(source, f"probes[{j}]", f"a probe that does not touch probe "
                                 f"{case.probes[i].name}{where} (axes at least {touch:g} mm "
                                 "apart)", f"{gap:.2f} mm apart")


def check_pairs(case: Case, source: str) -> None:
    if case.protocol is None:
        return
    electrodes = case.electrode_names
    for k, pair in enumerate(case.protocol.pairs):
        for role in ("anode", "cathode"):
            name = getattr(pair, role)
            if name not in electrodes:
                raise InputError(source, f"protocol.pairs[{k}].{role}", "the name of a probe "
                                 f"electrode ({', '.join(electrodes) or 'no probes defined'})",
                                 name)
        if pair.anode == pair.cathode:
            raise InputError(source, f"protocol.pairs[{k}].cathode", "an electrode other than "
                             "the anode", pair.cathode)
