"""A picture of a plan's exports over the CT they belong to (``plan-overlay.png``).

Drawn from the written files, not from the planner's memory: the CT series is read again, the
DICOM SEG through :mod:`irelab.imaging.dicom_seg` onto the CT's slices, and the trajectories
from their 3D Slicer markups files, so the picture shows what a viewer loading those files
shows. Three views through the tumour's centre: the axial slice of the scan (its own pixels,
patient right on the left, anterior up, as radiologists view them) and coronal and sagittal
reformats of it; segment outlines in their DICOM display colours, each probe's path from the
skin to its tip in red. matplotlib with the Agg backend, imported only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from irelab.imaging.ct import CtSeries
from irelab.imaging.markups import read_line_markup

__all__ = ["write_overlay"]

WINDOW_HU = (-160.0, 240.0)
"""Abdominal soft-tissue window (level 40, width 400: a usual liver window)."""


def _colour(seg, number: int) -> tuple[float, float, float]:
    description = seg.get_segment_description(number)
    lab = description.get("RecommendedDisplayCIELabValue")
    if lab is None:
        return (1.0, 1.0, 0.0)
    import highdicom as hd

    rgb = hd.color.CIELabColor.from_dicom_value(lab).to_rgb()
    return tuple(c / 255 for c in rgb)


def write_overlay(path: str | Path, ct: CtSeries, seg_path: str | Path,
                  markups: Sequence[str | Path], title: str) -> Path:
    """Draw the SEG's segments and the markups' lines over ``ct`` through the tumour's centre
    (the last segment coded as a neoplasm, else the first segment)."""
    import matplotlib

    matplotlib.use("Agg")
    import highdicom as hd
    import matplotlib.pyplot as plt

    from irelab.imaging.dicom_seg import DicomSeg

    path = Path(path)
    reader = DicomSeg(Path(seg_path), ct)
    raw = hd.seg.segread(str(seg_path))
    masks = [reader.mask(i) for i in range(len(reader.segments))]
    centre_mask = next((m for m, s in zip(masks, reader.segments, strict=True)
                        if s.code == "108369006"), masks[0])
    g = ct.geometry
    centre = np.rint(np.argwhere(centre_mask).mean(axis=0)).astype(int)
    lines = [read_line_markup(m) for m in markups]
    views = (("axial", 2), ("coronal", 1), ("sagittal", 0))
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.4), dpi=110)
    for ax, (name, fixed) in zip(axes, views, strict=True):
        index = [slice(None)] * 3
        index[fixed] = centre[fixed]
        keep = [a for a in range(3) if a != fixed]
        image = ct.hu[tuple(index)].T  # rows: the second kept axis; x, y = voxel indices
        aspect = g.spacing_mm[keep[1]] / g.spacing_mm[keep[0]]
        ax.imshow(image, cmap="gray", vmin=WINDOW_HU[0], vmax=WINDOW_HU[1], aspect=aspect,
                  interpolation="nearest")
        for number, mask in zip(reader.numbers, masks, strict=True):
            plane = mask[tuple(index)].T.astype(float)
            if plane.any():
                ax.contour(plane, levels=[0.5], colors=[_colour(raw, number)], linewidths=1.4)
        for entry, tip in lines:
            ends = g.to_index(np.array([entry, tip]))
            ax.plot(ends[:, keep[0]], ends[:, keep[1]], color=(1.0, 0.15, 0.1), lw=1.0)
            ax.plot(*ends[1, keep], "o", color=(1.0, 0.15, 0.1), ms=2.5)
        if fixed != 2:
            ax.invert_yaxis()
        ax.set_title(f"{name}: CT {'ijk'[fixed]} = {centre[fixed]}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    labels = ", ".join(s.name for s in reader.segments)
    fig.suptitle(f"{title}\nDICOM SEG ({labels}) and probe paths (markups) over the CT",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
