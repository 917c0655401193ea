"""Samples of the uncertainty model: scrambled Sobol points turned into perturbations.

Each sample is a point of a scrambled Sobol sequence (:class:`scipy.stats.qmc.Sobol`, Owen
scrambling seeded by the model's seed) in the unit cube of the model's parameters, mapped to
physical values by each parameter's inverse distribution function. Sobol points fill the cube
more evenly than independent draws, which lowers the variance of smooth averages (mean coverage,
the margin's distribution) and costs nothing; for the probability of complete coverage, an
average of an indicator, the gain is small and the confidence interval is computed as for
independent samples (:mod:`irelab.robust.statistics`). The first ``n`` points of the sequence do
not depend on how many are drawn, so sample ``k`` is the same in a run of 50 or of 200 samples.

Parameters (only those with a non-zero spread): the displacement all probes share (two lateral
axes and depth, in the frame of the probes' mean direction), each probe's own displacement (two
lateral axes and depth, in its own frame) and tilt (two angles about its tip), each tissue's
conductivity factor and the lethal-threshold factor. With ``correlation`` rho the shared part
has variance ``rho sigma^2`` and each probe's own part ``(1 - rho) sigma^2``; the parameters are
independent, which the sensitivity indices need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.stats import qmc

from irelab.case import Case, Probe
from irelab.robust.model import UncertaintyModel

__all__ = ["Parameter", "Perturbation", "SampleSet", "draw_samples", "lateral_frame"]

Vec3 = tuple[float, float, float]

THRESHOLD = "lethal threshold"
"""The name of the lethal-threshold factor (the other tissue factors are ``<tissue>
conductivity``)."""


@dataclass(frozen=True)
class Parameter:
    """One uncertain input: its name for people, its group and its unit."""

    name: str
    group: str
    unit: str


@dataclass(frozen=True)
class Perturbation:
    """What one sample changes in the plan: small and self-contained (it travels to a worker
    with the case text).

    ``tip_shift_mm[k]`` moves probe ``k``'s tip (case frame, mm); ``direction[k]`` is its tilted
    direction (unit vector); ``conductivity`` maps tissue names to the factor on both of their
    conductivities; ``threshold`` is the factor on every electroporable tissue's lethal threshold
    (None: unchanged).
    """

    index: int
    tip_shift_mm: tuple[Vec3, ...]
    direction: tuple[Vec3, ...]
    conductivity: tuple[tuple[str, float], ...] = ()
    threshold: float | None = None


@dataclass(frozen=True, eq=False)
class SampleSet:
    """The drawn samples: ``values[k, j]`` is parameter ``j`` of sample ``k`` (mm, degrees or a
    factor), ``perturbations[k]`` what sample ``k`` does to the plan."""

    parameters: tuple[Parameter, ...]
    values: np.ndarray
    perturbations: tuple[Perturbation, ...]

    def __len__(self) -> int:
        return len(self.perturbations)


def lateral_frame(direction) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors normal to ``direction`` and to each other (``e1`` in the plane of
    ``direction`` and the x axis, or the y axis when ``direction`` is near x)."""
    u = np.asarray(direction, dtype=float)
    u = u / np.linalg.norm(u)
    ref = np.array([1.0, 0.0, 0.0]) if abs(u[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = ref - (ref @ u) * u
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(u, e1)


def _unit_cube(dimensions: int, n: int, seed: int) -> np.ndarray:
    """The first ``n`` points of the scrambled Sobol sequence (drawn as a power of two, which
    keeps the sequence's balance and SciPy's warning away)."""
    if dimensions == 0:
        return np.zeros((n, 0))
    sobol = qmc.Sobol(dimensions, scramble=True, rng=np.random.default_rng(seed))
    points = sobol.random_base2(max(0, math.ceil(math.log2(n))))[:n]
    # Owen scrambling never returns 0 exactly, but keep the inverse CDFs finite regardless
    return np.clip(points, 1e-12, 1 - 1e-12)


def draw_samples(model: UncertaintyModel, case: Case, n: int) -> SampleSet:
    """``n`` samples of ``model`` for the probes and tissues of ``case`` (a plan)."""
    if n < 1:
        raise ValueError(f"the number of samples must be positive, got {n}")
    p = model.placement
    rho = p.correlation
    shared_sd = (math.sqrt(rho) * p.lateral_sd_mm, math.sqrt(rho) * p.depth_sd_mm)
    own_sd = (math.sqrt(1 - rho) * p.lateral_sd_mm, math.sqrt(1 - rho) * p.depth_sd_mm)
    columns: list[tuple[Parameter, float]] = []  # (parameter, standard deviation)
    for axis, unit_sd in (("lateral a", shared_sd[0]), ("lateral b", shared_sd[0]),
                          ("depth", shared_sd[1])):
        columns.append((Parameter(f"array {axis}", "array", "mm"), unit_sd))
    for probe in case.probes:
        for axis, unit_sd, unit in (("lateral a", own_sd[0], "mm"),
                                    ("lateral b", own_sd[0], "mm"), ("depth", own_sd[1], "mm"),
                                    ("tilt a", p.angle_sd_deg, "deg"),
                                    ("tilt b", p.angle_sd_deg, "deg")):
            columns.append((Parameter(f"{probe.name} {axis}", f"probe {probe.name}", unit),
                            unit_sd))
    normal = [(par, sd) for par, sd in columns if sd > 0]
    factors = [(Parameter(f"{name} conductivity", "tissue", "factor"), spread)
               for name, spread in model.conductivity.items() if spread.spread > 0]
    if model.threshold is not None and model.threshold.spread > 0:
        factors.append((Parameter(THRESHOLD, "tissue", "factor"), model.threshold))
    u = _unit_cube(len(normal) + len(factors), n, model.seed)
    values = np.empty_like(u)
    sd = np.array([s for _, s in normal])
    values[:, : len(normal)] = stats.norm.ppf(u[:, : len(normal)]) * sd
    for j, (_, spread) in enumerate(factors, start=len(normal)):
        values[:, j] = spread.factor(u[:, j])
    parameters = tuple(par for par, _ in normal) + tuple(par for par, _ in factors)
    return SampleSet(parameters, values, _perturbations(case.probes, parameters, values))


def _column(parameters, values, group: str, name: str) -> np.ndarray:
    """A parameter's values over the samples, zeros when the parameter is not drawn."""
    for j, par in enumerate(parameters):
        if (par.group, par.name) == (group, name):
            return values[:, j]
    return np.zeros(values.shape[0])


def _perturbations(probes: tuple[Probe, ...], parameters, values) -> tuple[Perturbation, ...]:
    n = values.shape[0]
    mean_u = np.mean([p.direction for p in probes], axis=0) if probes else np.array([0, 0, 1.0])
    mean_u = mean_u / np.linalg.norm(mean_u)
    f1, f2 = lateral_frame(mean_u)
    shared = (np.outer(_column(parameters, values, "array", "array lateral a"), f1)
              + np.outer(_column(parameters, values, "array", "array lateral b"), f2)
              + np.outer(_column(parameters, values, "array", "array depth"), -mean_u))
    shifts, directions = [], []
    for probe in probes:
        u = np.asarray(probe.direction)
        e1, e2 = lateral_frame(u)

        def col(axis: str, name: str = probe.name) -> np.ndarray:
            return _column(parameters, values, f"probe {name}", f"{name} {axis}")

        own = (np.outer(col("lateral a"), e1) + np.outer(col("lateral b"), e2)
               + np.outer(col("depth"), -u))
        shifts.append(shared + own)
        tilted = (u + np.outer(np.tan(np.radians(col("tilt a"))), e1)
                  + np.outer(np.tan(np.radians(col("tilt b"))), e2))
        directions.append(tilted / np.linalg.norm(tilted, axis=1, keepdims=True))
    tissue = [(j, par.name.removesuffix(" conductivity")) for j, par in enumerate(parameters)
              if par.group == "tissue" and par.unit == "factor" and par.name != THRESHOLD]
    threshold = [j for j, par in enumerate(parameters)
                 if (par.group, par.name) == ("tissue", THRESHOLD)]
    return tuple(
        Perturbation(
            index=k,
            tip_shift_mm=tuple(tuple(float(c) for c in s[k]) for s in shifts),
            direction=tuple(tuple(float(c) for c in d[k]) for d in directions),
            conductivity=tuple((name, float(values[k, j])) for j, name in tissue),
            threshold=float(values[k, threshold[0]]) if threshold else None)
        for k in range(n))
