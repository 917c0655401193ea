"""A case as typed values: domain, anatomy, tissues, probes and protocol, ready for the solver.

Cases are read and written only by :mod:`irelab.case.io`; everything else (simulation, planner,
delivery, registry) takes a :class:`Case`. A plan is a case whose probes and protocol the
planner chose (:meth:`Case.with_plan`).

Probe geometry: the exposed electrode runs from ``tip_mm`` along ``direction`` for
``exposed_mm``; the insulated shaft continues along ``direction`` out of the domain. A bipolar
probe carries ``distal`` and ``proximal`` electrodes separated by an insulating gap. The pairs
are delivered at every placement of the probe array in turn (:class:`Placement`: the array
pulled back along each probe's direction and/or moved sideways); a pair at a placement is named
by a :class:`PairKey`, never by a string.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from irelab.case.anatomy import region_mask, shape_interfaces
from irelab.case.probes import conductor_mask, probe_conductors
from irelab.case.schema import ImagingSpec, RegionSpec, UncertaintySpec
from irelab.case.tissues import Tissue
from irelab.errors import InputError
from irelab.field.problem import Electrode, FieldProblem, Grid, Insulator, TissueRole

__all__ = ["Case", "Domain", "Probe", "Pair", "PairKey", "Placement", "Protocol", "ReplanChange",
           "ReplanRecord", "MAX_VOXELS"]

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
    diameter_mm: float = 1.1
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
    """The planner's current: the largest over the placements."""
    predicted_currents_A: tuple[float, ...] | None = None
    """The planner's current at each placement (in delivery order)."""

    @property
    def name(self) -> str:
        """``ANODE-CATHODE``, for people (programs use the pair's index)."""
        return f"{self.anode}-{self.cathode}"

    def current_at(self, placement: int) -> float | None:
        """The predicted current at ``placement``: its own, else the largest, else None."""
        if self.predicted_currents_A is not None:
            return self.predicted_currents_A[placement]
        return self.predicted_current_A


@dataclass(frozen=True)
class Placement:
    """Where the probe array is for one repetition of the pairs: every probe moved back along
    its own direction by ``back_mm``, then by the vector ``shift_mm``."""

    back_mm: float = 0.0
    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def tip_mm(self, probe: Probe) -> np.ndarray:
        return (np.asarray(probe.tip_mm) + self.back_mm * np.asarray(probe.direction)
                + np.asarray(self.shift_mm))

    @property
    def sideways(self) -> bool:
        return any(c != 0.0 for c in self.shift_mm)


@dataclass(frozen=True, order=True)
class PairKey:
    """One pair at one placement: ``pair`` indexes ``protocol.pairs``, ``placement`` indexes
    ``protocol.placements`` (both from 0). The identity a delivered pulse and a registry row
    carry."""

    pair: int
    placement: int = 0

    def label(self, protocol: Protocol) -> str:
        """``P1-P2``, with ``@k`` (k from 1) when the protocol has several placements."""
        name = protocol.pairs[self.pair].name
        return f"{name}@{self.placement + 1}" if protocol.positions > 1 else name


@dataclass(frozen=True)
class Protocol:
    pulses: int = 90
    pulse_width_us: float = 90.0
    pairs: tuple[Pair, ...] = ()
    placements: tuple[Placement, ...] = (Placement(),)
    """One per position, in delivery order."""
    pullbacks: bool = False
    """Written as ``pullback_steps_mm`` (every placement only pulled back, each further than
    the one before) rather than as ``placements``."""
    train_pause_s: float | None = None
    """Extension: the least pause between trains of a pair that the plan needs (the planner's
    thermal repair sets it); None: the generator's own recharge pause."""
    pair_pause_s: float | None = None
    """Extension: the least pause between consecutive pairs that the plan needs; None: none
    required."""

    @property
    def positions(self) -> int:
        return len(self.placements)

    @property
    def pullback_steps_mm(self) -> tuple[float, ...]:
        """The steps between consecutive placements, when they are pullbacks."""
        backs = [p.back_mm for p in self.placements]
        return tuple(b - a for a, b in zip(backs[:-1], backs[1:], strict=True))

    def keys(self) -> Iterator[PairKey]:
        """Every pair at every placement, in delivery order (placement by placement)."""
        for placement in range(self.positions):
            for pair in range(len(self.pairs)):
                yield PairKey(pair, placement)


@dataclass(frozen=True)
class ReplanChange:
    """One change of a re-plan: ``kind`` is ``voltage`` (a pair's voltage changed), ``pair`` (a
    pair added) or ``reposition`` (a probe to re-insert along its planned track); ``subject``
    names the pair (``ANODE-CATHODE``) or the probe; ``detail`` is a sentence for people."""

    kind: str
    subject: str
    detail: str


@dataclass(frozen=True)
class ReplanRecord:
    """Where a re-planned plan came from: the plan (``from_plan``), the measured probe file,
    the target coverage (0-1) planned, with the probes as placed at the planned voltages, and
    re-planned, and the changes made (the case key ``replan``)."""

    from_plan: str
    measured: str
    changes: tuple[ReplanChange, ...] = ()
    coverage_planned: float | None = None
    coverage_as_placed: float | None = None
    coverage: float | None = None


@dataclass(frozen=True, eq=False)
class Case:
    """A validated case. Build it with :func:`irelab.case.load_case` or
    :func:`irelab.case.parse_case`, or from another case with :meth:`with_plan`."""

    name: str
    domain: Domain
    background: str
    regions: tuple[RegionSpec, ...]
    tissues: Mapping[str, Tissue]
    """Every tissue the anatomy uses (presets with the file's overrides) and every tissue the
    file defines, by name."""
    probes: tuple[Probe, ...]
    protocol: Protocol | None
    source: str
    base_dir: Path
    description: str | None = None
    uncertainty: UncertaintySpec | None = None
    """The case's own uncertainty model (``uncertainty:``), if it gives one."""
    replan: ReplanRecord | None = None
    """Set on a plan re-planned for the probes as placed (``irelab replan``)."""
    imaging: ImagingSpec | None = None
    """The CT and structures of a case made from images (None for a case of shapes)."""
    _labels: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def electrode_names(self) -> tuple[str, ...]:
        return tuple(n for p in self.probes for n in p.electrode_names)

    @property
    def positions(self) -> int:
        return self.protocol.positions if self.protocol else 1

    @property
    def placements(self) -> tuple[Placement, ...]:
        return self.protocol.placements if self.protocol else (Placement(),)

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

    def tissues_with(self, role: TissueRole) -> tuple[str, ...]:
        """Names of the anatomy's tissues with ``role``."""
        return tuple(n for n in self.tissue_names if self.tissues[n].role == role)

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
        """Electrodes and insulators (SI) of every probe at placement ``position``."""
        return probe_conductors(self.probes, self.placements[position], grid)

    def conductor_mask(self, grid: Grid) -> np.ndarray:
        """Voxel centres inside any probe at any placement (conductor, not tissue)."""
        return conductor_mask(grid, self.probes, self.placements)

    def field_problem(self, spacing_mm: float | None = None, position: int = 0,
                      anatomy_only: bool = False) -> FieldProblem:
        """The solver's problem at ``spacing_mm`` (default the case's), probes at ``position``
        (none with ``anatomy_only``, for planning). An anatomy of shapes only (no image region)
        comes with its shapes for the solver's sub-voxel tissue interfaces
        (:func:`irelab.case.anatomy.shape_interfaces`)."""
        if not 0 <= position < self.positions:
            raise ValueError(f"position must be in [0, {self.positions}), got {position}")
        grid = self.grid(spacing_mm)
        if grid.size > MAX_VOXELS:
            raise InputError(self.source, "domain.spacing_mm", f"a grid of at most {MAX_VOXELS:,}"
                             " voxels", f"{grid.size:,} voxels at {grid.spacing_m / MM:g} mm")
        materials = tuple(self.tissues[n].material() for n in self.tissue_names)
        subvoxel = shape_interfaces(self.regions, self.tissue_names)
        if anatomy_only:
            return FieldProblem(grid=grid, labels=self.labels(grid), materials=materials,
                                subvoxel=subvoxel)
        electrodes, insulators = self.conductors(grid, position)
        return FieldProblem(grid=grid, labels=self.labels(grid), materials=materials,
                            electrodes=electrodes, insulators=insulators, subvoxel=subvoxel)

    def e_irr_V_per_m(self, grid: Grid) -> np.ndarray:
        """The lethal threshold of every voxel's tissue."""
        table = np.array([self.tissues[n].lethal_threshold_V_per_m for n in self.tissue_names])
        return table[self.labels(grid)]

    def with_plan(self, probes: tuple[Probe, ...], protocol: Protocol, *,
                  name: str | None = None, spacing_mm: float | None = None,
                  replan: ReplanRecord | None = None) -> Case:
        """This case's anatomy and tissues with other probes and protocol (a plan), validated
        exactly as a file with that content would be (it is written and read back through
        :mod:`irelab.case.io`, so a plan is always a readable case). ``replan`` records where a
        re-planned plan came from (a plan made from this case keeps no earlier record)."""
        from dataclasses import replace

        from irelab.case.io import case_mapping, parse_case

        domain = self.domain if spacing_mm is None else replace(self.domain,
                                                                spacing_mm=spacing_mm)
        draft = replace(self, probes=tuple(probes), protocol=protocol, domain=domain,
                        name=name or self.name, replan=replan, _labels={})
        return parse_case(case_mapping(draft), source=self.source, base_dir=self.base_dir)
