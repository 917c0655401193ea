"""The comparison's slice figure: tumour, predicted and achieved zones on three orthogonal slices
through the tumour's centre (the achieved zone's where there is no tumour). matplotlib with the
Agg backend, imported only here."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["write_comparison_figure"]

PLANES = (("axial", 2), ("coronal", 1), ("sagittal", 0))
"""Slice name and the axis held fixed (the LPS frame: x left, y posterior, z superior)."""

COLOURS = {"tumour": "orange", "predicted": "red", "achieved": "deepskyblue",
           "needles": "0.45"}


def _centre(*masks: np.ndarray) -> tuple[int, ...]:
    for mask in masks:
        if mask.any():
            idx = np.argwhere(mask)
            return tuple(int(round(v)) for v in (idx.min(axis=0) + idx.max(axis=0)) / 2)
    return tuple(n // 2 for n in masks[0].shape)


def write_comparison_figure(comparison, path: str | Path) -> Path:
    """Three slices with the outlines of tumour, predicted zone, achieved zone and needles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    grid = comparison.grid
    centre = _centre(comparison.tumour, comparison.achieved)
    axes_mm = [grid.axis_m(a) * 1e3 for a in range(3)]
    outlines = {"tumour": comparison.tumour, "predicted": comparison.predicted,
                "achieved": comparison.achieved, "needles": comparison.conductor}
    fig, panels = plt.subplots(1, 3, figsize=(13.5, 4.8), dpi=110)
    for ax, (plane, fixed) in zip(panels, PLANES, strict=True):
        keep = [a for a in range(3) if a != fixed]
        index = [slice(None)] * 3
        index[fixed] = centre[fixed]
        u, v = axes_mm[keep[0]], axes_mm[keep[1]]
        for name, mask in outlines.items():
            section = mask[tuple(index)].T.astype(float)
            if section.any() and not section.all():
                ax.contour(u, v, section, levels=[0.5], colors=COLOURS[name],
                           linewidths=1.0 if name == "needles" else 1.6)
        ax.set_aspect("equal")
        ax.set_xlim(u[0], u[-1])
        ax.set_ylim(v[0], v[-1])
        ax.set_xlabel(f"{'xyz'[keep[0]]} (mm, LPS)")
        ax.set_ylabel(f"{'xyz'[keep[1]]} (mm, LPS)")
        ax.set_title(f"{plane}: {'xyz'[fixed]} = {axes_mm[fixed][centre[fixed]]:.1f} mm",
                     fontsize=9)
    m = comparison.agreement
    margin = "n/a" if m.minimal_margin_mm is None else f"{m.minimal_margin_mm:.1f} mm"
    hd = "n/a" if m.hd95_mm is None else f"{m.hd95_mm:.1f} mm"
    fig.suptitle(f"{comparison.plan.name}: Dice {m.dice:.2f}, HD95 {hd}, "
                 f"minimal ablative margin {margin}", fontsize=10)
    fig.legend([Line2D([], [], color=c) for c in COLOURS.values()], list(COLOURS),
               loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
