"""Simulate a case: every protocol pair at every pullback position, and the lethal zone.

The lethal (IRE) zone is where the largest |E| over all pairs and positions reaches the local
tissue's irreversible threshold ``e_irr`` (:func:`irelab.simulation.lethal_zone`). Each
position's probes form one :class:`~irelab.field.FieldProblem` whose
:class:`~irelab.field.FieldSolver` is reused for all its pairs (the grid hierarchy and geometry
are built once per position).

Volumes count voxels (centres) on the simulation grid. Voxels inside a probe are conductor, not
tissue: they are left out of the lethal zone and of the regions' lethal fractions, but counted in
the regions' volumes (the anatomy is what the case says it is).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from irelab.case import Case, PairKey, Tissue
from irelab.errors import InputError
from irelab.field import FieldSolver, Grid, SolverOptions
from irelab.simulation.lethal import lethal_zone

__all__ = ["PairResult", "RegionResult", "SimulationResult", "simulate_case"]

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class PairResult:
    """One pair's solve at one placement (``key``)."""

    key: PairKey
    anode: str
    cathode: str
    voltage_V: float
    current_A: float
    converged: bool
    iterations: int
    final_change: float
    linear_iterations: int

    @property
    def position(self) -> int:
        return self.key.placement


@dataclass(frozen=True)
class RegionResult:
    volume_cm3: float
    lethal_fraction: float


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Fields on ``grid``: the largest |E| over pairs and positions, and the lethal mask."""

    case_name: str
    grid: Grid
    labels: np.ndarray
    tissue_names: tuple[str, ...]
    e_max_V_per_m: np.ndarray
    lethal: np.ndarray
    conductor: np.ndarray
    """Voxels whose centre is inside a probe (any position)."""
    pairs: tuple[PairResult, ...]
    regions: dict[str, RegionResult]
    tissues: dict[str, Tissue]
    """The tissue models used (with their sources), by name."""

    @property
    def lethal_volume_cm3(self) -> float:
        return float(self.lethal.sum()) * self.grid.voxel_volume_m3 * 1e6

    @property
    def lethal_extent_mm(self) -> tuple[float, float, float]:
        """Size of the lethal zone's bounding box along x, y, z (whole voxels)."""
        if not self.lethal.any():
            return (0.0, 0.0, 0.0)
        h = self.grid.spacing_m * 1e3
        extent = []
        for axis in range(3):
            other = tuple(a for a in range(3) if a != axis)
            idx = np.flatnonzero(self.lethal.any(axis=other))
            extent.append(float((idx[-1] - idx[0] + 1) * h))
        return tuple(extent)  # type: ignore[return-value]

    @property
    def converged(self) -> bool:
        return all(p.converged for p in self.pairs)

    def to_json(self) -> dict:
        """The ``irelab simulate --json`` contract: pairs, lethal, regions (extended with each
        pair's ``position``, the grid, the tissues with their lethal thresholds and sources and
        ``labels``: the legend of labels.nii.gz, label value -> tissue)."""
        return {
            "pairs": [{"anode": p.anode, "cathode": p.cathode, "voltage_V": p.voltage_V,
                       "current_A": round(p.current_A, 4), "converged": p.converged,
                       "iterations": p.iterations, "position": p.position,
                       "final_change": p.final_change} for p in self.pairs],
            "lethal": {"volume_cm3": round(self.lethal_volume_cm3, 4),
                       "extent_mm": [round(e, 3) for e in self.lethal_extent_mm]},
            "regions": {name: {"volume_cm3": round(r.volume_cm3, 4),
                               "lethal_fraction": round(r.lethal_fraction, 4)}
                        for name, r in self.regions.items()},
            "grid": {"shape": list(self.grid.shape), "spacing_mm": self.grid.spacing_m * 1e3},
            "tissues": {name: {"sigma0_S_per_m": t.sigma0_S_per_m,
                               "sigma1_S_per_m": t.sigma1_S_per_m,
                               "e_rev_V_per_cm": t.e_rev_V_per_cm,
                               "e_irr_V_per_cm": t.e_irr_V_per_cm,
                               "lethal_threshold_V_per_cm": t.lethal_V_per_cm,
                               "source": t.source,
                               "sourced": t.sourced, "role": str(t.role)}
                        for name, t in self.tissues.items()},
            "labels": {str(i): name for i, name in enumerate(self.tissue_names)},
        }


def simulate_case(case: Case, spacing_mm: float | None = None,
                  options: SolverOptions | None = None,
                  progress: Progress | None = None) -> SimulationResult:
    """Solve every protocol pair of ``case`` (at every pullback position) on its grid.

    ``progress(label, fraction_done)`` is told before each solve and once at the end.
    """
    if case.protocol is None or not case.protocol.pairs:
        raise InputError(case.source, "protocol.pairs", "at least one electrode pair to simulate")
    grid = case.grid(spacing_mm)
    e_max = np.zeros(grid.shape)
    results = []
    total = case.positions * len(case.protocol.pairs)
    done = 0
    solver = None
    for key in case.protocol.keys():
        if solver is None or key.pair == 0:
            solver = FieldSolver(case.field_problem(spacing_mm, key.placement), options)
        pair = case.protocol.pairs[key.pair]
        if progress is not None:
            progress(f"{key.label(case.protocol)} {pair.voltage_V:g} V", done / total)
        sol = solver.solve_pair(pair.anode, pair.cathode, pair.voltage_V)
        np.maximum(e_max, np.nan_to_num(sol.e_field_V_per_m), out=e_max)
        results.append(PairResult(key, pair.anode, pair.cathode, pair.voltage_V, sol.current_A,
                                  sol.converged, sol.iterations, sol.final_change,
                                  sol.linear_iterations))
        done += 1
    if progress is not None:
        progress("done", 1.0)
    labels = case.labels(grid)
    conductor = case.conductor_mask(grid)
    lethal = lethal_zone(e_max, case.e_irr_V_per_m(grid), conductor)
    regions = {}
    for name, mask in case.region_masks(grid).items():
        tissue = mask & ~conductor
        count = int(tissue.sum())
        regions[name] = RegionResult(
            volume_cm3=float(mask.sum()) * grid.voxel_volume_m3 * 1e6,
            lethal_fraction=float((lethal & tissue).sum()) / count if count else 0.0)
    return SimulationResult(case_name=case.name, grid=grid, labels=labels,
                            tissue_names=case.tissue_names, e_max_V_per_m=e_max, lethal=lethal,
                            conductor=conductor, pairs=tuple(results), regions=regions,
                            tissues={n: case.tissues[n] for n in case.tissue_names})
