"""A case: domain, anatomy, tissues, probes and protocol, checked and ready for the solver.

:func:`load_case` reads a YAML file, :func:`parse_case` a mapping already in memory (the planner
builds its phantoms that way). Both validate the keys (:mod:`irelab.case.schema`), then the
things a schema cannot see: tissue names, probes inside the domain and not touching each other
(at every pullback position), pairs naming real electrodes, images overlapping the domain. Each
problem is one :class:`~irelab.errors.InputError` naming the file, the key and what was expected.

Probe geometry (issue 2): the exposed electrode runs from ``tip_mm`` along ``direction`` for
``exposed_mm``; the insulated shaft continues along ``direction`` out of the domain. A bipolar
probe carries ``distal`` and ``proximal`` electrodes separated by an insulating gap. A pullback
step moves every probe back along its own ``direction``; a placement (``protocol.placements``)
moves the whole array back and/or sideways, for repositioning.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from irelab.case.anatomy import region_mask
from irelab.case.schema import CaseSpec, RegionSpec, TissueSpec, validate_case_mapping
from irelab.case.tissues import TISSUE_PRESETS, Tissue
from irelab.errors import InputError
from irelab.field.problem import Electrode, FieldProblem, Grid, Insulator

__all__ = ["Case", "Domain", "Probe", "Pair", "Placement", "Protocol", "load_case",
           "parse_case"]

MM = 1e-3
MAX_VOXELS = 40_000_000
"""Largest grid a case may ask for (about 12 GB of solver state; the machine we serve has 24)."""


@dataclass(frozen=True)
class Domain:
    """The insulated box (mm): ``size_mm`` centred at ``center_mm``, voxels of ``spacing_mm``."""

    size_mm: tuple[float, float, float]
    spacing_mm: float
    center_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def grid(self, spacing_mm: float | None = None) -> Grid:
        h = (spacing_mm or self.spacing_mm) * MM
        grid = Grid.centred(tuple(s * MM for s in self.size_mm), h)
        origin = tuple(o + c * MM for o, c in zip(grid.origin_m, self.center_mm, strict=True))
        return Grid(grid.shape, grid.spacing_m, origin)

    @property
    def lower_mm(self) -> np.ndarray:
        return np.asarray(self.center_mm) - np.asarray(self.size_mm) / 2

    @property
    def upper_mm(self) -> np.ndarray:
        return np.asarray(self.center_mm) + np.asarray(self.size_mm) / 2


@dataclass(frozen=True)
class Probe:
    """A needle: monopolar (``exposed_mm``) or bipolar (``bipolar_mm`` = distal, gap, proximal)."""

    name: str
    tip_mm: tuple[float, float, float]
    direction: tuple[float, float, float]
    """Unit vector from the tip towards the entry point."""
    diameter_mm: float
    exposed_mm: float | None = None
    bipolar_mm: tuple[float, float, float] | None = None

    @property
    def electrode_names(self) -> tuple[str, ...]:
        if self.bipolar_mm is None:
            return (self.name,)
        return (f"{self.name}:distal", f"{self.name}:proximal")

    @property
    def length_mm(self) -> float:
        """Length from the tip to the end of the last electrode."""
        return self.exposed_mm if self.bipolar_mm is None else float(sum(self.bipolar_mm))

    def parts_mm(self, tip_mm=None) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
        """``(kind, name, start, end)`` for each electrode and gap, tip first (mm), with the
        tip at ``tip_mm`` (default the probe's own)."""
        u = np.asarray(self.direction)
        tip = np.asarray(self.tip_mm if tip_mm is None else tip_mm, dtype=float)
        if self.bipolar_mm is None:
            return [("electrode", self.name, tip, tip + self.exposed_mm * u)]
        distal, gap, proximal = self.bipolar_mm
        a, b, c = tip + distal * u, tip + (distal + gap) * u, tip + (distal + gap + proximal) * u
        return [("electrode", f"{self.name}:distal", tip, a),
                ("insulator", f"{self.name}:gap", a, b),
                ("electrode", f"{self.name}:proximal", b, c)]


@dataclass(frozen=True)
class Pair:
    anode: str
    cathode: str
    voltage_V: float
    predicted_current_A: float | None = None
    predicted_currents_A: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Placement:
    """Where the probe array is for one repetition of the pairs: every probe moved back along
    its own direction by ``back_mm``, then by the vector ``shift_mm``."""

    back_mm: float = 0.0
    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def tip_mm(self, probe: Probe) -> np.ndarray:
        return (np.asarray(probe.tip_mm) + self.back_mm * np.asarray(probe.direction)
                + np.asarray(self.shift_mm))


@dataclass(frozen=True)
class Protocol:
    pulses: int = 90
    pulse_width_us: float = 90.0
    pairs: tuple[Pair, ...] = ()
    pullback_steps_mm: tuple[float, ...] = ()
    placements: tuple[Placement, ...] = (Placement(),)
    """One per position, in delivery order (from ``pullback_steps_mm`` when the file gives
    those: back_mm 0, s1, s1 + s2, ...)."""

    @property
    def positions(self) -> int:
        return len(self.placements)


@dataclass(frozen=True, eq=False)
class Case:
    """A validated case. Build it with :func:`load_case` or :func:`parse_case`."""

    name: str
    domain: Domain
    background: str
    regions: tuple[RegionSpec, ...]
    tissues: Mapping[str, Tissue]
    """Every tissue the anatomy uses (presets with the file's overrides), by name."""
    probes: tuple[Probe, ...]
    protocol: Protocol | None
    source: str
    base_dir: Path
    spec: CaseSpec = field(repr=False)
    _labels: dict = field(default_factory=dict, repr=False)

    @property
    def electrode_names(self) -> tuple[str, ...]:
        return tuple(n for p in self.probes for n in p.electrode_names)

    @property
    def positions(self) -> int:
        return self.protocol.positions if self.protocol else 1

    def grid(self, spacing_mm: float | None = None) -> Grid:
        return self.domain.grid(spacing_mm)

    @property
    def tissue_names(self) -> tuple[str, ...]:
        """Label order: background first, then region tissues in order of first appearance."""
        names = [self.background]
        for r in self.regions:
            if r.tissue not in names:
                names.append(r.tissue)
        return tuple(names)

    def labels(self, grid: Grid) -> np.ndarray:
        """Tissue index (into :attr:`tissue_names`) of every voxel of ``grid``."""
        key = (grid.shape, grid.spacing_m, grid.origin_m)
        if key not in self._labels:
            names = self.tissue_names
            labels = np.zeros(grid.shape, dtype=np.int8)
            images: dict = {}
            for i, region in enumerate(self.regions):
                mask = region_mask(grid, region, self.base_dir, self.source,
                                   f"anatomy.regions[{i}]", images)
                labels[mask] = names.index(region.tissue)
            labels.flags.writeable = False
            self._labels[key] = labels
        return self._labels[key]

    def region_masks(self, grid: Grid) -> dict[str, np.ndarray]:
        """One mask per tissue name (the voxels that tissue ends up owning)."""
        labels = self.labels(grid)
        return {name: labels == i for i, name in enumerate(self.tissue_names)}

    def conductors(self, grid: Grid, position: int = 0
                   ) -> tuple[tuple[Electrode, ...], tuple[Insulator, ...]]:
        """Electrodes and insulators (SI) of every probe at pullback ``position``."""
        placement = self.protocol.placements[position] if self.protocol else Placement()
        reach_mm = float(np.linalg.norm(grid.upper_m - grid.lower_m)) / MM + grid.spacing_m / MM
        electrodes, insulators = [], []
        for probe in self.probes:
            r = probe.diameter_mm / 2 * MM
            parts = probe.parts_mm(placement.tip_mm(probe))
            for kind, name, a, b in parts:
                seg = (tuple(a * MM), tuple(b * MM), r)
                (electrodes if kind == "electrode" else insulators).append(
                    Electrode(name, *seg) if kind == "electrode" else Insulator(name, *seg))
            end = parts[-1][3]
            far = end + reach_mm * np.asarray(probe.direction)
            insulators.append(Insulator(f"{probe.name}:shaft", tuple(end * MM), tuple(far * MM),
                                        r))
        return tuple(electrodes), tuple(insulators)

    def field_problem(self, spacing_mm: float | None = None, position: int = 0) -> FieldProblem:
        """The solver's problem at ``spacing_mm`` (default the case's), probes at ``position``."""
        if not 0 <= position < self.positions:
            raise ValueError(f"position must be in [0, {self.positions}), got {position}")
        grid = self.grid(spacing_mm)
        if grid.size > MAX_VOXELS:
            raise InputError(self.source, "domain.spacing_mm", f"a grid of at most {MAX_VOXELS:,}"
                             " voxels", f"{grid.size:,} voxels at {grid.spacing_m / MM:g} mm")
        names = self.tissue_names
        electrodes, insulators = self.conductors(grid, position)
        return FieldProblem(grid=grid, labels=self.labels(grid),
                            tissues=tuple(self.tissues[n].conductivity() for n in names),
                            tissue_names=names, electrodes=electrodes, insulators=insulators)

    def e_irr_V_per_m(self, grid: Grid) -> np.ndarray:
        """The lethal threshold of every voxel's tissue."""
        table = np.array([self.tissues[n].e_irr_V_per_m for n in self.tissue_names])
        return table[self.labels(grid)]

    def to_mapping(self) -> dict:
        """The case as a file mapping (image paths made absolute so it can be written anywhere)."""
        data = self.spec.model_dump(mode="json", exclude_none=True)
        for region in data.get("anatomy", {}).get("regions", []):
            image = region.get("image")
            if image is not None and not Path(image["path"]).is_absolute():
                image["path"] = str((self.base_dir / image["path"]).resolve())
        return data


def load_case(path: str | Path) -> Case:
    """Read and validate a YAML case file."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(source, "", "a readable case file", exc.strerror) from None
    try:
        mapping = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise InputError(source, where, "valid YAML", getattr(exc, "problem", str(exc))) \
            from None
    return parse_case(mapping, source=source, base_dir=path.parent)


def parse_case(mapping: object, source: str = "<case>", base_dir: Path | None = None) -> Case:
    """Validate a case mapping (the YAML's content) and build the :class:`Case`."""
    spec = validate_case_mapping(mapping, source)
    base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    domain = Domain(tuple(spec.domain.size_mm), spec.domain.spacing_mm,
                    tuple(spec.domain.center_mm))
    _check_domain(domain, source)
    tissues = _tissues(spec, source)
    probes = tuple(_probe(p) for p in spec.probes)
    protocol = _protocol(spec, source)
    case = Case(name=spec.name, domain=domain, background=spec.anatomy.background,
                regions=tuple(spec.anatomy.regions), tissues=tissues, probes=probes,
                protocol=protocol, source=source, base_dir=base_dir, spec=spec)
    _check_probes(case, source)
    _check_pairs(case, source)
    if any(region.image is not None for region in case.regions):
        case.labels(case.grid())  # images readable, overlapping, label present (and cached)
    return case


def _check_domain(domain: Domain, source: str) -> None:
    if domain.spacing_mm * 4 > min(domain.size_mm):
        raise InputError(source, "domain.spacing_mm", "a spacing of at most a quarter of the "
                         f"smallest box side ({min(domain.size_mm) / 4:g} mm)", domain.spacing_mm)
    voxels = int(np.prod([round(s / domain.spacing_mm) for s in domain.size_mm]))
    if voxels > MAX_VOXELS:
        raise InputError(source, "domain.spacing_mm", f"a grid of at most {MAX_VOXELS:,} voxels",
                         f"{voxels:,} voxels")


def _tissues(spec: CaseSpec, source: str) -> dict[str, Tissue]:
    used = [spec.anatomy.background] + [r.tissue for r in spec.anatomy.regions]
    known = dict(TISSUE_PRESETS)
    for name, entry in spec.tissues.items():
        known[name] = _tissue(name, entry, known, source)
    for i, name in enumerate(used):
        if name not in known:
            key = "anatomy.background" if i == 0 else f"anatomy.regions[{i - 1}].tissue"
            raise InputError(source, key, f"a preset tissue ({', '.join(TISSUE_PRESETS)}) or one "
                             "defined under tissues:", name)
    return {name: known[name] for name in dict.fromkeys(used)} | {
        name: known[name] for name in spec.tissues}


def _tissue(name: str, entry: TissueSpec, known: Mapping[str, Tissue], source: str) -> Tissue:
    key = f"tissues.{name}"
    base = known.get(entry.like or name)
    if entry.like is not None and entry.like not in known:
        raise InputError(source, f"{key}.like", f"a preset tissue ({', '.join(TISSUE_PRESETS)})",
                         entry.like)
    numbers = ("sigma0_S_per_m", "sigma1_S_per_m", "e_rev_V_per_cm", "e_irr_V_per_cm")
    values = entry.model_dump(exclude_none=True, exclude={"like"})
    try:
        if base is None:
            missing = [n for n in numbers if n not in values]
            if missing:
                raise InputError(source, f"{key}.{missing[0]}", "all of "
                                 f"{', '.join(numbers)} for a new tissue (or like: <preset>)")
            if "source" not in values:
                raise InputError(source, f"{key}.source", "where the numbers of a new tissue "
                                 "come from (a citation)")
            return Tissue(name=name, **values)
        changed = set(values) & set(numbers)
        if changed and "source" not in values:
            values["source"] = (f"{base.source}; overridden in {source}: "
                                f"{', '.join(sorted(changed))}")
        return base.updated(name=name, **values)
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(source, key, "a valid tissue model", str(exc)) from None


def _probe(spec) -> Probe:
    u = np.asarray(spec.direction, dtype=float)
    u = u / np.linalg.norm(u)
    bipolar = None
    if spec.bipolar is not None:
        bipolar = (spec.bipolar.distal_mm, spec.bipolar.gap_mm, spec.bipolar.proximal_mm)
    return Probe(name=spec.name, tip_mm=tuple(spec.tip_mm), direction=tuple(float(c) for c in u),
                 diameter_mm=spec.diameter_mm, exposed_mm=spec.exposed_mm, bipolar_mm=bipolar)


def _protocol(spec: CaseSpec, source: str) -> Protocol | None:
    if spec.protocol is None:
        return None
    p = spec.protocol
    pairs = []
    for k, pair in enumerate(p.pairs):
        currents = tuple(pair.predicted_currents_A) if pair.predicted_currents_A else None
        n_positions = len(p.placements) or 1 + len(p.pullback_steps_mm)
        if currents is not None and len(currents) != n_positions:
            raise InputError(source, f"protocol.pairs[{k}].predicted_currents_A",
                             f"one current per position ({n_positions})", len(currents))
        pairs.append(Pair(pair.anode, pair.cathode, pair.voltage_V, pair.predicted_current_A,
                          currents))
    if p.placements:
        placements = tuple(Placement(q.back_mm, tuple(q.shift_mm)) for q in p.placements)
    else:
        placements = tuple(Placement(back) for back in
                           (0.0, *itertools.accumulate(p.pullback_steps_mm)))
    return Protocol(p.pulses, p.pulse_width_us, tuple(pairs), tuple(p.pullback_steps_mm),
                    placements)


def _exit_distance_mm(point: np.ndarray, u: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """How far along ``u`` from ``point`` (inside the box) the box ends."""
    with np.errstate(divide="ignore"):
        t = np.where(u > 0, (hi - point) / u, np.where(u < 0, (lo - point) / u, np.inf))
    return float(max(t.min(), 0.0))


def _segment_distance(p0, p1, q0, q1) -> float:
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


def _check_probes(case: Case, source: str) -> None:
    names = [p.name for p in case.probes]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise InputError(source, f"probes[{i}].name", "a name no other probe has", name)
    lo, hi = case.domain.lower_mm, case.domain.upper_mm
    protocol = case.protocol or Protocol()
    moves = "placements" if case.spec.protocol and case.spec.protocol.placements else \
        "pullback_steps_mm"
    for pos, placement in enumerate(protocol.placements):
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
            axes.append((tip, tip + (probe.length_mm + _exit_distance_mm(end, u, lo, hi)) * u))
        for (i, a), (j, b) in itertools.combinations(enumerate(axes), 2):
            gap = _segment_distance(a[0], a[1], b[0], b[1])
            touch = (case.probes[i].diameter_mm + case.probes[j].diameter_mm) / 2
            if gap < touch:
                where = f" at position {pos + 1}" if pos else ""
                raise InputError(source, f"probes[{j}]", f"a probe that does not touch probe "
                                 f"{case.probes[i].name}{where} (axes at least {touch:g} mm "
                                 "apart)", f"{gap:.2f} mm apart")


def _check_pairs(case: Case, source: str) -> None:
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
