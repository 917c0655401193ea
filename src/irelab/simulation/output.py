"""Writing a simulation: |E| and the lethal mask as NIfTI, slice figures as PNG, the JSON.

NIfTI (nibabel): the case frame is the patient's LPS (DICOM's and ITK's, in mm), but NIfTI
affines map voxel indices to RAS, so the writer flips x and y, here and only here
(:func:`nifti_affine`): a volume then overlays the CT it came from in 3D Slicer and ITK-SNAP,
which read NIfTI as RAS. Both the sform and the qform carry the affine (code 1, scanner
coordinates). |E| is stored in V/cm (the unit thresholds are quoted in), float32. A label
volume carries its legend twice: in result.json (``labels``: value -> tissue) and as a 3D
Slicer colour table beside it (``labels.ctbl``).

Figures (matplotlib, Agg backend, imported only here): three orthogonal slices through the
centre of the lethal zone (or of the domain if there is none), |E| in colour with isolines at
fixed field strengths, the lethal contour, and the outlines of every anatomy region.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from irelab.field.problem import Grid
from irelab.simulation.run import SimulationResult

__all__ = ["write_outputs"]

ISOLINES_V_PER_CM = (200, 400, 637, 1000, 1500)
"""Isolines drawn on the slices (637 V/cm: the liver preset's e_irr)."""

PLANES = {"axial": 2, "coronal": 1, "sagittal": 0}
"""Slice name -> the axis held fixed (x left-right, y front-back, z along the body axis)."""


LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
"""Patient LPS to NIfTI's RAS: x and y change sign."""


def nifti_affine(grid: Grid) -> np.ndarray:
    """The RAS affine of ``grid`` (voxel index -> RAS mm) for a NIfTI header."""
    h = grid.spacing_m * 1e3
    lps = np.diag([h, h, h, 1.0])
    lps[:3, 3] = np.asarray(grid.origin_m) * 1e3
    return LPS_TO_RAS @ lps


def write_volume(path: Path, data: np.ndarray, grid: Grid, dtype=np.float32) -> Path:
    """Write one volume on ``grid`` (indexed ``[i, j, k]`` along LPS x, y, z) as NIfTI."""
    import nibabel as nib

    affine = nifti_affine(grid)
    image = nib.Nifti1Image(np.asarray(data, dtype=dtype), affine)
    image.set_sform(affine, code=1)
    image.set_qform(affine, code=1)
    image.header.set_xyzt_units("mm")
    nib.save(image, path)
    return path


def write_label_volume(path: Path, labels: np.ndarray, grid: Grid,
                       names: Sequence[str]) -> list[Path]:
    """A label volume (value ``i`` is ``names[i]``) and its colour table (``.ctbl``) beside it."""
    from irelab.imaging.colours import LegendEntry, colour_of, write_colour_table

    write_volume(path, labels, grid, np.uint8)
    table = path.with_name(path.name.removesuffix(".gz").removesuffix(".nii") + ".ctbl")
    write_colour_table(table, [LegendEntry(i, name, colour_of(name, i))
                               for i, name in enumerate(names)])
    return [path, table]


def write_nifti(result: SimulationResult, out: Path) -> list[Path]:
    return [write_volume(out / "e_field_V_per_cm.nii.gz", result.e_max_V_per_m / 100.0,
                         result.grid),
            write_volume(out / "lethal.nii.gz", result.lethal, result.grid, np.uint8),
            *write_label_volume(out / "labels.nii.gz", result.labels, result.grid,
                                result.tissue_names)]


def _centre_index(result: SimulationResult) -> tuple[int, int, int]:
    mask = result.lethal if result.lethal.any() else np.ones(result.grid.shape, bool)
    idx = np.argwhere(mask)
    return tuple(int(round(v)) for v in (idx.min(axis=0) + idx.max(axis=0)) / 2)


def write_slices(result: SimulationResult, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centre = _centre_index(result)
    e = result.e_max_V_per_m / 100.0
    axes_m = [result.grid.axis_m(a) * 1e3 for a in range(3)]
    names = "xyz"
    files = []
    vmax = max(float(np.percentile(e, 99.5)), ISOLINES_V_PER_CM[-1])
    for plane, fixed in PLANES.items():
        keep = [a for a in range(3) if a != fixed]
        index = [slice(None)] * 3
        index[fixed] = centre[fixed]
        field = e[tuple(index)].T
        lethal = result.lethal[tuple(index)].T
        labels = result.labels[tuple(index)].T
        u, v = axes_m[keep[0]], axes_m[keep[1]]
        fig, ax = plt.subplots(figsize=(6.4, 5.2), dpi=110)
        mesh = ax.pcolormesh(u, v, field, shading="nearest", cmap="viridis", vmin=0, vmax=vmax)
        lines = ax.contour(u, v, field, levels=ISOLINES_V_PER_CM, colors="white",
                           linewidths=0.7)
        ax.clabel(lines, fmt="%d", fontsize=7)
        if lethal.any() and not lethal.all():
            ax.contour(u, v, lethal.astype(float), levels=[0.5], colors="red", linewidths=1.6)
        for label in np.unique(labels):
            if label == 0:
                continue
            region = (labels == label).astype(float)
            if region.any() and not region.all():
                ax.contour(u, v, region, levels=[0.5], colors="orange", linewidths=0.9,
                           linestyles="--")
        ax.set_aspect("equal")
        ax.set_xlabel(f"{names[keep[0]]} (mm)")
        ax.set_ylabel(f"{names[keep[1]]} (mm)")
        ax.set_title(f"{result.case_name}: {plane} slice {names[fixed]} = "
                     f"{axes_m[fixed][centre[fixed]]:.1f} mm\n|E| (V/cm, max over pairs), "
                     "lethal zone red, anatomy orange", fontsize=9)
        fig.colorbar(mesh, ax=ax, label="|E| (V/cm)")
        fig.tight_layout()
        path = out / f"slice_{plane}.png"
        fig.savefig(path)
        plt.close(fig)
        files.append(path)
    return files


def write_outputs(result: SimulationResult, out: Path) -> list[Path]:
    """NIfTI volumes, three slice PNGs and result.json under ``out`` (created if needed)."""
    out.mkdir(parents=True, exist_ok=True)
    files = write_nifti(result, out) + write_slices(result, out)
    path = out / "result.json"
    path.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return [*files, path]
