"""Ranking candidate layouts without a field solve: the analytic two-cylinder field.

Every candidate polygon (:func:`irelab.plan.layout.candidates`) is scored by the coverage the
two-cylinder field (:func:`irelab.plan.layout.proxy_field_per_volt`) predicts at the voltage
limit, then by the healthy volume it ablates; the tumour's thresholds are divided by the
conducting-sphere factor (:func:`contrast_factor`), so a conductive tumour asks for denser
layouts, as the solved field will. The best of each polygon family go on to the coarse solves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from irelab.field.problem import FieldProblem
from irelab.plan.layout import ProbeLayout, proxy_field_per_volt
from irelab.plan.targets import PlanLimits, PlanTarget, dilate_mm

__all__ = ["Scored", "contrast_factor", "screen_layouts", "snap_to_columns", "pick"]

PER_FAMILY = 2
"""At most this many screened layouts of one family (polygon type) go to the coarse solves
(design choice: the solves then compare different polygon types, not one type's rotations)."""

HEALTHY_REACH_M = 15e-3
"""Healthy tissue is scored only within this distance of the target (design choice: the lethal
zone of probes placed around the target ends within about half the largest probe spacing,
12.5 mm, of them; farther voxels would only cost time)."""


@dataclass(frozen=True)
class Scored:
    """A screened layout with its voltages at the predicted need, and what the proxy says."""

    layout: ProbeLayout
    coverage: float
    healthy_m3: float

    @property
    def family(self) -> str:
        return self.layout.label.split(" ")[0]


def snap_to_columns(target: PlanTarget, spacing_m: float
                    ) -> Callable[[float, float], tuple[float, float]]:
    """Snap in-plane positions to voxel-centre columns when the axis is a grid axis.

    A 1.1 mm needle passing between the edges of a 2 mm grid would touch no edge; on a
    voxel-centre column it always does (and coarse centres are also well inside 1 mm fine cells).
    """
    if np.max(np.abs(target.axis)) < 1 - 1e-9:
        return lambda a, b: (a, b)
    axes = [int(np.argmax(np.abs(e))) for e in (target.e1, target.e2)]
    signs = [float(np.sign(e[ax])) for e, ax in zip((target.e1, target.e2), axes, strict=True)]
    origin = target.grid.origin_m

    def snap(a: float, b: float) -> tuple[float, float]:
        out = []
        for v, ax, sg in zip((a, b), axes, signs, strict=True):
            w = sg * v
            w = origin[ax] + round((w - origin[ax]) / spacing_m) * spacing_m
            out.append(sg * w + 0.0)  # + 0.0: no negative zero
        return out[0], out[1]

    return snap


def contrast_factor(problem: FieldProblem, target: PlanTarget) -> np.ndarray:
    """Per-voxel factor by which the homogeneous-medium field overstates the field inside the
    tumour: a sphere of conductivity s_t in a medium s_b carries the uniform interior field
    3 s_b / (s_t + 2 s_b) times the applied one (Maxwell's conducting-sphere solution, e.g.
    Jackson, Classical Electrodynamics, 3rd ed., sec. 4.4 with permittivities replaced by
    conductivities). Each tissue's conductivity at its lethal threshold is used."""
    sig = np.array([float(m.conductivity.sigma(np.asarray(m.lethal_threshold_V_per_m)))
                    if np.isfinite(m.lethal_threshold_V_per_m) else m.conductivity.sigma0_S_per_m
                    for m in problem.materials])
    labels = problem.labels
    outside = labels[~target.tumour]
    if outside.size == 0 or not target.tumour.any():
        return np.ones(problem.grid.shape)
    s_b = sig[np.bincount(outside.ravel()).argmax()]
    factor = np.ones(problem.grid.shape)
    s_t = sig[labels[target.tumour]]
    factor[target.tumour] = 3 * s_b / (s_t + 2 * s_b)
    return factor


def screen_layouts(target: PlanTarget, layouts: Sequence[ProbeLayout], limits: PlanLimits,
                   contrast: np.ndarray) -> list[Scored]:
    """Every layout scored by the analytic field, best first: (proxy coverage of the target at
    the voltage cap, rounded to 0.1 %; then the healthy volume), each with the voltages its
    worst target voxel needs (at most the limit)."""
    grid = target.grid
    near_target = dilate_mm(target.target, grid.spacing_m, HEALTHY_REACH_M)
    idx = np.argwhere(target.target | (near_target & ~(target.tumour | target.critical_any)))
    xyz = np.asarray(grid.origin_m) + idx * grid.spacing_m
    ab = target.in_plane(xyz)
    s = target.axial(xyz)
    where = tuple(idx.T)
    thr = (target.lethal_threshold_V_per_m / contrast)[where]
    tgt = target.target[where]
    healthy = ~target.target[where]
    n_target = max(int(target.target.sum()), 1)
    radius = limits.probe_diameter_m / 2
    scored = []
    for layout in layouts:
        lo = layout.tips_m[0] - 3e-3
        hi = layout.tips_m[-1] + layout.exposed_m + 3e-3
        near = (s >= lo) & (s <= hi)
        fpv = proxy_field_per_volt(layout, ab[near], radius)
        d = layout.spacings_m()[:, None]
        e_per_kappa = np.max(d * fpv, axis=0)
        t_near = tgt[near]
        need = thr[near][t_near] / np.maximum(e_per_kappa[t_near], 1e-30)
        kappa_cap = limits.max_voltage_V / float(d.max())
        kappa = min(float(need.max()) if need.size else kappa_cap, kappa_cap)
        coverage = int(np.sum(need <= kappa)) / n_target
        lethal = kappa * e_per_kappa >= thr[near]
        healthy_m3 = float(np.sum(lethal & healthy[near]) * grid.voxel_volume_m3)
        volts = np.minimum(kappa * layout.spacings_m(), limits.max_voltage_V)
        scored.append(Scored(layout.with_voltages(volts), round(coverage, 3), healthy_m3))
    scored.sort(key=lambda c: (-c.coverage, c.healthy_m3))
    return scored


def pick(scored: Sequence[Scored], keep: int,
         accept: Callable[[ProbeLayout], bool] = lambda layout: True) -> list[ProbeLayout]:
    """The best ``keep`` screened layouts that ``accept`` allows, at most ``PER_FAMILY`` of one
    family."""
    chosen: list[ProbeLayout] = []
    families: dict[str, int] = {}
    for c in scored:
        if families.get(c.family, 0) >= PER_FAMILY or not accept(c.layout):
            continue
        families[c.family] = families.get(c.family, 0) + 1
        chosen.append(c.layout)
        if len(chosen) >= keep:
            break
    return chosen
