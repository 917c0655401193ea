"""Writing a robustness study: the probability map as NIfTI, slice figures and the JSON.

NIfTI: written by the project's one volume writer (:func:`irelab.simulation.output.write_volume`,
RAS affine, qform and sform code 1, scanner anatomical). The map is
float32, the share of samples in which each voxel is in the lethal zone (or inside a probe).

Figures (matplotlib, Agg backend, imported only here): three orthogonal slices through the
tumour's centre, the probability in colour with its 5, 50 and 95 % isolines, the tumour
outlined in white and critical structures in orange.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from irelab.field import TissueRole
from irelab.robust.statistics import json_number
from irelab.robust.study import RobustResult
from irelab.simulation.output import write_volume

__all__ = ["ISOLINES", "robust_json", "write_probability_map", "write_robust"]

ISOLINES = (0.05, 0.5, 0.95)
"""Probability isolines drawn on the slices."""

PLANES = {"axial": 2, "coronal": 1, "sagittal": 0}
"""Slice name -> the axis held fixed."""

def write_probability_map(result: RobustResult, path: Path) -> Path:
    """The probability map as NIfTI (RAS), by the project's one volume writer."""
    return write_volume(path, result.statistics.probability, result.grid)


def _centre(result: RobustResult) -> tuple[int, int, int]:
    tumour = result.tumour_mask()
    mask = tumour if tumour.any() else np.ones(result.grid.shape, dtype=bool)
    idx = np.argwhere(mask)
    return tuple(int(round(v)) for v in (idx.min(axis=0) + idx.max(axis=0)) / 2)


def write_slices(result: RobustResult, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = result.grid
    prob = result.statistics.probability
    tumour = result.tumour_mask()
    names = result.case.tissue_names
    critical = np.isin(result.case.labels(grid),
                       [names.index(n) for n in result.case.tissues_with(TissueRole.CRITICAL)])
    centre = _centre(result)
    axes_mm = [grid.axis_m(a) * 1e3 for a in range(3)]
    letters = ("x (mm, L)", "y (mm, P)", "z (mm, S)")
    estimate = result.statistics.coverage_probability
    files = []
    for plane, fixed in PLANES.items():
        keep = [a for a in range(3) if a != fixed]
        index = [slice(None)] * 3
        index[fixed] = centre[fixed]
        sl = tuple(index)
        u, v = axes_mm[keep[0]], axes_mm[keep[1]]
        fig, ax = plt.subplots(figsize=(6.4, 5.2), dpi=110)
        mesh = ax.pcolormesh(u, v, prob[sl].T, shading="nearest", cmap="magma", vmin=0, vmax=1)
        p = prob[sl].T
        if p.min() < max(ISOLINES) and p.max() > min(ISOLINES):
            lines = ax.contour(u, v, p, levels=ISOLINES, colors=["#4fc3f7", "white", "#aeea00"],
                               linewidths=1.0)
            ax.clabel(lines, fmt=lambda x: f"{100 * x:.0f} %", fontsize=7)
        for mask, colour, style in ((tumour, "white", "-"), (critical, "orange", "--")):
            region = mask[sl].T.astype(float)
            if region.any() and not region.all():
                ax.contour(u, v, region, levels=[0.5], colors=colour, linewidths=1.2,
                           linestyles=style)
        ax.set_aspect("equal")
        ax.set_xlabel(letters[keep[0]])
        ax.set_ylabel(letters[keep[1]])
        ax.set_title(f"{result.case.name}: {plane} slice at {letters[fixed][0]} = "
                     f"{axes_mm[fixed][centre[fixed]]:.1f} mm\nprobability of lethality over "
                     f"{result.statistics.samples} samples (P(100 % coverage) = "
                     f"{estimate.estimate:.2f}); tumour white, critical orange", fontsize=9)
        fig.colorbar(mesh, ax=ax, label="probability of lethality")
        fig.tight_layout()
        path = out / f"probability_{plane}.png"
        fig.savefig(path)
        plt.close(fig)
        files.append(path)
    return files


def _indices(indices) -> list[dict]:
    """Sensitivity indices as JSON rows."""
    return [{"parameter": s.parameter, "group": s.group, "s1": json_number(s.s1, 4),
             "s1_conf": json_number(s.conf, 4)} for s in indices]


def robust_json(result: RobustResult) -> dict:
    """The ``irelab robust --json`` object."""
    stats = result.statistics
    nominal = result.nominal
    return {
        "plan": result.case.name,
        "samples": stats.samples,
        "samples_drawn": len(result.samples),
        "stopped_after": result.stopped_after,
        "simulated": stats.simulated,
        "not_converged": stats.not_converged,
        "coverage_probability": stats.coverage_probability.to_json(),
        "coverage": stats.coverage.to_json(6),
        "margin_mm": stats.margin_mm.to_json(3),
        "field_reserve": stats.field_reserve.to_json(4),
        "nominal": {"coverage": round(nominal.coverage, 6),
                    "margin_mm": json_number(nominal.margin_mm, 3),
                    "field_reserve": json_number(nominal.field_reserve, 4),
                    "max_current_A": round(nominal.max_current_A, 3),
                    "critical_damage_mm3": None if nominal.critical_damage_mm3 is None
                    else dict(nominal.critical_damage_mm3)},
        "current_over_limit_probability": None if stats.current_over_limit is None
        else stats.current_over_limit.to_json(),
        "first_pulse_current_limit_A": None if stats.first_pulse_limit_A is None
        else round(stats.first_pulse_limit_A, 3),
        "coverage_probability_as_delivered": None
        if stats.coverage_probability_as_delivered is None
        else stats.coverage_probability_as_delivered.to_json(),
        "thermal_damage_probability": None if stats.thermal is None else {
            name: interval.to_json() for name, interval in stats.thermal.items()},
        "sensitivity": _indices(stats.sensitivity),
        "sensitivity_groups": {g: json_number(v, 4) for g, v in stats.groups().items()},
        "sensitivity_field_reserve": _indices(stats.sensitivity_reserve),
        "model": result.model.to_json(),
        "grid": {"shape": list(result.grid.shape),
                 "spacing_mm": round(result.grid.spacing_m * 1e3, 6)},
        "samples_detail": [{"index": o.index, "simulated": o.simulated,
                            "coverage": round(o.coverage, 6),
                            "margin_mm": json_number(o.margin_mm, 3),
                            "field_reserve": json_number(o.field_reserve, 4),
                            "max_current_A": round(o.max_current_A, 3),
                            "coverage_as_delivered": None if o.coverage_as_delivered is None
                            else round(o.coverage_as_delivered, 6),
                            "redelivered_pairs": o.redelivered_pairs,
                            "undelivered_pairs": o.undelivered_pairs,
                            "converged": o.converged,
                            "thermal_damage": o.thermal_damage, "reason": o.reason}
                           for o in result.outcomes],
    }


def write_robust(result: RobustResult, out: Path) -> list[Path]:
    """``probability.nii.gz``, three slice PNGs and ``robust.json`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = [write_probability_map(result, out / "probability.nii.gz")]
    files += write_slices(result, out)
    path = out / "robust.json"
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(robust_json(result), indent=2, allow_nan=False) + "\n",
                       encoding="utf-8")
    partial.replace(path)
    return [*files, path]
