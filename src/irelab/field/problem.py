"""The field problem as data: voxel grid, tissue labels, electrodes, and one pair's solution.

These frozen dataclasses are the contract between the case files (``irelab.case``), the solver
(``irelab.field.solver``), the thermal model and the planner. Everything is SI: metres, volts,
amperes, siemens per metre.

Grid convention: ``shape = (nx, ny, nz)``, array index ``[i, j, k]`` is the voxel whose centre is
``origin_m + (i, j, k) * spacing_m``. A case's box is centred at the origin, so
``origin_m = -(shape - 1) / 2 * spacing_m``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

from irelab.field.conductivity import ConductivityModel

if TYPE_CHECKING:
    from irelab.field.interfaces import TissueInterfaces

__all__ = ["Grid", "Electrode", "Insulator", "FieldProblem", "Material", "PairSolution",
           "TissueRole"]


@dataclass(frozen=True)
class Grid:
    """A uniform Cartesian voxel grid (cubic voxels of edge ``spacing_m``)."""

    shape: tuple[int, int, int]
    spacing_m: float
    origin_m: tuple[float, float, float]

    @classmethod
    def centred(cls, size_m: Sequence[float], spacing_m: float) -> Grid:
        """The grid filling a box of ``size_m`` centred at the origin (sizes rounded to voxels)."""
        shape = tuple(max(1, int(round(s / spacing_m))) for s in size_m)
        origin = tuple(-(n - 1) / 2 * spacing_m for n in shape)
        return cls(shape=shape, spacing_m=float(spacing_m), origin_m=origin)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def voxel_volume_m3(self) -> float:
        return self.spacing_m**3

    def axis_m(self, axis: int) -> np.ndarray:
        """Voxel-centre coordinates along one axis."""
        return self.origin_m[axis] + self.spacing_m * np.arange(self.shape[axis])

    def centres_m(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable voxel-centre coordinates ``(x[:, None, None], y[None, :, None], ...)``."""
        return tuple(  # type: ignore[return-value]
            self.axis_m(a).reshape([-1 if b == a else 1 for b in range(3)]) for a in range(3)
        )

    @property
    def lower_m(self) -> np.ndarray:
        """The box's lower corner (outer face of the first voxel)."""
        return np.asarray(self.origin_m) - self.spacing_m / 2

    @property
    def upper_m(self) -> np.ndarray:
        return self.lower_m + np.asarray(self.shape) * self.spacing_m


@dataclass(frozen=True)
class Electrode:
    """One conducting surface: a cylinder of ``radius_m`` on the segment ``start_m``-``end_m``.

    ``name`` is what protocol pairs refer to: the probe's name for a monopolar probe, or
    ``"<probe>:<electrode>"`` for each electrode of a bipolar probe.
    """

    name: str
    start_m: tuple[float, float, float]
    end_m: tuple[float, float, float]
    radius_m: float


@dataclass(frozen=True)
class Insulator:
    """A non-conducting cylinder (an insulated shaft or the gap of a bipolar probe)."""

    name: str
    start_m: tuple[float, float, float]
    end_m: tuple[float, float, float]
    radius_m: float


class TissueRole(StrEnum):
    """What a tissue is to a treatment: the target to ablate, a critical structure to spare, or
    the background the probes pass through."""

    TARGET = "target"
    CRITICAL = "critical"
    BACKGROUND = "background"


@dataclass(frozen=True)
class Material:
    """One tissue label of a field problem: its conductivity model, lethal threshold and role.

    ``kind`` names the tissue family whose other properties (thermal ones, for instance) apply:
    the preset a case tissue was derived from, or its own name.
    """

    name: str
    conductivity: ConductivityModel
    lethal_threshold_V_per_m: float = float("inf")
    role: TissueRole = TissueRole.BACKGROUND
    kind: str = ""

    def __post_init__(self) -> None:
        if not self.lethal_threshold_V_per_m > 0:
            raise ValueError(f"{self.name}: the lethal threshold must be positive")
        if not self.kind:
            object.__setattr__(self, "kind", self.name)


@dataclass(frozen=True, eq=False)
class FieldProblem:
    """Everything the solver needs: grid, tissue of each voxel, electrodes and insulators.

    ``labels[i, j, k]`` indexes ``materials``. ``subvoxel``: the anatomy as analytic shapes
    when it is made of them (:mod:`irelab.field.interfaces`); the operator then places each
    tissue interface where the shapes' surface crosses the grid links instead of half-way
    between voxel centres. The labels stay painted by voxel centre. None: the staircase.
    """

    grid: Grid
    labels: np.ndarray
    materials: tuple[Material, ...]
    electrodes: tuple[Electrode, ...] = ()
    insulators: tuple[Insulator, ...] = ()
    subvoxel: TissueInterfaces | None = None

    def __post_init__(self) -> None:
        if self.labels.shape != self.grid.shape:
            raise ValueError(f"labels shape {self.labels.shape} != grid shape {self.grid.shape}")
        if not self.materials:
            raise ValueError("a field problem needs at least one material")

    @property
    def tissues(self) -> tuple[ConductivityModel, ...]:
        """The conductivity model of each label."""
        return tuple(m.conductivity for m in self.materials)

    @property
    def tissue_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.materials)

    def labels_with(self, role: TissueRole) -> list[int]:
        """The labels whose material has ``role``."""
        return [k for k, m in enumerate(self.materials) if m.role == role]

    def mask(self, role: TissueRole) -> np.ndarray:
        """Voxels whose material has ``role``."""
        return np.isin(self.labels, self.labels_with(role))

    def lethal_threshold_V_per_m(self) -> np.ndarray:
        """Each voxel's lethal threshold (its material's)."""
        table = np.array([m.lethal_threshold_V_per_m for m in self.materials])
        return table[self.labels]

    def electrode(self, name: str) -> Electrode:
        for e in self.electrodes:
            if e.name == name:
                return e
        raise KeyError(name)


@dataclass(frozen=True, eq=False)
class PairSolution:
    """The converged (or not) field of one electrode pair at one voltage.

    Arrays are on the problem's grid, at voxel centres. ``current_A`` is the current leaving the
    anode; ``final_change`` is the last relative change of the nonlinear iteration (see the
    solver's docstring for its exact definition) and ``history`` holds one value per iteration.
    """

    anode: str
    cathode: str
    voltage_V: float
    potential_V: np.ndarray
    e_field_V_per_m: np.ndarray
    sigma_S_per_m: np.ndarray
    current_A: float
    converged: bool
    iterations: int
    final_change: float
    electrode_potentials_V: Mapping[str, float] = field(default_factory=dict)
    history: tuple[float, ...] = ()
    electrode_currents_A: Mapping[str, float] = field(default_factory=dict)
    """Current leaving each electrode into the tissue (floating ones: zero up to the tolerance)."""
    linear_iterations: int = 0
    """Conjugate-gradient iterations over all nonlinear steps and grids."""
    energy_J: tuple[float, ...] = ()
    """The convex energy after each step, when ``SolverOptions.record_energy`` is set."""
