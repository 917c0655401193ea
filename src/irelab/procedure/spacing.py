"""Probe positions from the measured spacings of pairs (what a generator asks the operator for).

The spacings fix the probes' arrangement in the plane normal to the insertion axis up to a
rotation, a reflection and a shift; the plan supplies the rest. Unmeasured pairs take the plan's
in-plane spacing. Classical multidimensional scaling (Torgerson WS, Psychometrika 17:401-419,
1952: the double-centred squared distances are the Gram matrix of the points) gives the
arrangement, and the orthogonal Procrustes rotation (``scipy.linalg.orthogonal_procrustes``,
reflections allowed: spacings cannot tell an arrangement from its mirror image) about the
centroid lays it onto the planned positions. Each probe keeps its planned direction and depth;
its tip moves in the plane by the difference. A spacing cannot say that probes are tilted: the
arrangement is the parallel one that best fits the spacings, and ``residual_mm`` says how well.

Spacings that no arrangement in space satisfies (a triangle inequality broken, or squared
distances whose Gram matrix is not positive semi-definite of rank 3 or less, beyond what a
measurement error of :data:`SPACING_TOLERANCE_MM` per spacing can cause) are refused naming the
row that fits worst.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np
from scipy.linalg import orthogonal_procrustes

from irelab.case import Probe
from irelab.errors import InputError

__all__ = ["SPACING_TOLERANCE_MM", "MeasuredSpacing", "arrange_by_spacings"]

SPACING_TOLERANCE_MM = 0.5
"""How far a spacing may be off before a set of spacings that no arrangement satisfies is
refused. Design choice: half of the 1 mm to which spacings are read off CT or ultrasound images
(not a published figure); within it the arrangement is the best fit, beyond it the operator is
asked to measure again."""


@dataclass(frozen=True)
class MeasuredSpacing:
    """The measured distance between the axes of two probes, and where it was read (``row``:
    e.g. ``line 3``)."""

    first: str
    second: str
    spacing_mm: float
    row: str


def _frame(probes: tuple[Probe, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The mean insertion axis and a basis (2 x 3) of the plane normal to it."""
    axis = np.mean([p.direction for p in probes], axis=0)
    axis /= np.linalg.norm(axis)
    ref = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = ref - (ref @ axis) * axis
    e1 /= np.linalg.norm(e1)
    return axis, np.stack([e1, np.cross(axis, e1)])


def _gram(d: np.ndarray) -> np.ndarray:
    n = len(d)
    j = np.eye(n) - np.full((n, n), 1.0 / n)
    return -0.5 * j @ (d**2) @ j


def _embed(d: np.ndarray, dims: int) -> np.ndarray:
    """Classical MDS: points (n x dims) whose distances best match ``d``."""
    w, v = np.linalg.eigh(_gram(d))
    order = np.argsort(w)[::-1][:dims]
    return v[:, order] * np.sqrt(np.maximum(w[order], 0.0))


def _distances(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)


def _check_realisable(d: np.ndarray, rows: dict[tuple[int, int], MeasuredSpacing],
                      names: list[str], source: str) -> None:
    """Refuse spacings that no arrangement in space satisfies (module docstring)."""
    tol = SPACING_TOLERANCE_MM
    for i, j, k in itertools.permutations(range(len(d)), 3):
        side = (min(i, j), max(i, j))
        if i < j and side in rows and d[i, j] > d[i, k] + d[k, j] + tol:
            row = rows[side]
            raise InputError(source, row.row, f"a spacing no arrangement of the probes "
                             f"satisfies: {names[i]}-{names[j]} cannot exceed "
                             f"{names[i]}-{names[k]} + {names[k]}-{names[j]} = "
                             f"{d[i, k] + d[k, j]:.1f} mm", row.spacing_mm)
    n = len(d)
    w = np.sort(np.linalg.eigvalsh(_gram(d)))[::-1]
    allowed = d.max() * tol * np.sqrt(n * (n - 1))  # |change of the Gram matrix| for +-tol
    if w[-1] < -allowed or (n > 4 and w[3] > allowed):
        fit = _distances(_embed(d, 3))
        worst = max(rows, key=lambda ij: abs(fit[ij] - d[ij]))
        raise InputError(source, rows[worst].row, "spacings that some arrangement of the "
                         "probes in space satisfies (together with the others this one cannot "
                         f"hold; the nearest arrangement has {fit[worst]:.1f} mm)",
                         rows[worst].spacing_mm)


def arrange_by_spacings(probes: tuple[Probe, ...], spacings: tuple[MeasuredSpacing, ...],
                        source: str) -> tuple[tuple[Probe, ...], float]:
    """The plan's ``probes`` moved in the plane to the arrangement the ``spacings`` give, and
    the RMS misfit (mm) of the measured spacings by that arrangement."""
    names = [p.name for p in probes]
    _, plane = _frame(probes)
    planned = np.array([p.tip_mm for p in probes]) @ plane.T  # in-plane (n x 2), mm
    d = _distances(planned)
    rows: dict[tuple[int, int], MeasuredSpacing] = {}
    for s in spacings:
        i, j = sorted((names.index(s.first), names.index(s.second)))
        d[i, j] = d[j, i] = s.spacing_mm
        rows[(i, j)] = s
    _check_realisable(d, rows, names, source)
    points = _embed(d, 2)
    centred = points - points.mean(axis=0)
    rotation, _ = orthogonal_procrustes(centred, planned - planned.mean(axis=0))
    placed = centred @ rotation + planned.mean(axis=0)
    fit = _distances(placed)
    residual = float(np.sqrt(np.mean([(fit[ij] - d[ij]) ** 2 for ij in rows]))) if rows else 0.0
    moved = tuple(replace(p, tip_mm=tuple(float(c) for c in np.asarray(p.tip_mm)
                                          + (placed[k] - planned[k]) @ plane))
                  for k, p in enumerate(probes))
    return moved, residual
