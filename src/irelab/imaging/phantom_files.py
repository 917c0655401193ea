"""The synthetic phantom written as a clinic or a segmentation tool would hand it over: a DICOM
CT series and its segmentations in every format irelab reads.

Each format names the structures its own way (a DICOM SEG with SNOMED CT codes and labels such
as "Liver metastasis"; an RTSTRUCT with ROI names such as ``GTV`` and an ``EXTERNAL`` body; a 3D
Slicer ``.seg.nrrd`` with terminology; a NIfTI label map with a colour table; a folder of
per-structure NIfTI files with TotalSegmentator's names, ribs one file each), so reading them
exercises the matching of :mod:`irelab.imaging.terms`. As segmentation tools do, the DICOM SEG,
the RTSTRUCT and the per-structure files let structures overlap (the liver includes its tumour
and vessels), while the label map and the Slicer file hold one label per voxel.

The NIfTI files are written by SimpleITK, not by irelab's NIfTI writer: an outside
implementation of the RAS convention, against which the readers (and the round-trip tests)
check ours. Files are small (about 2 M voxels) and written into a temporary or output
directory; nothing is stored in the repository.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from scipy import ndimage

from irelab.imaging.colours import LegendEntry, write_colour_table
from irelab.imaging.ct import CtSeries, read_ct, write_ct_series
from irelab.imaging.phantom import PhantomAnatomy, phantom_anatomy
from irelab.imaging.terms import term

__all__ = ["PHANTOM_FORMATS", "PhantomFiles", "write_phantom"]

PHANTOM_FORMATS = ("dicom-seg", "rtstruct", "slicer", "labelmap", "totalseg")
STUDY_DATE = datetime(2026, 1, 1, 12, 0, 0)
"""A fixed date for the synthetic study (same input, same files)."""

INTERPRETED = {"body": "EXTERNAL", "tumour": "GTV", "rib": "AVOIDANCE", "bowel": "AVOIDANCE"}
"""RT ROI Interpreted Types (DICOM PS3.3 C.8.8.8); everything else is an ORGAN."""


@dataclass(frozen=True)
class PhantomFiles:
    """Where the phantom's files are (None for a format not written)."""

    ct: Path
    anatomy: PhantomAnatomy
    series: CtSeries
    files: dict[str, Path]


def _painted(anatomy: PhantomAnatomy) -> tuple[np.ndarray, list[tuple[int, str, str]]]:
    """One label per voxel, later structures over earlier (body first, ribs last)."""
    labels = np.zeros(anatomy.geometry.shape, dtype=np.uint8)
    legend = []
    for value, s in enumerate(anatomy.structures, start=1):
        labels[anatomy.masks[s.key]] = value
        legend.append((value, s.key, s.names["slicer"]))
    return labels, legend


def _uid(name: str) -> str:
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=["irelab phantom", name])


def write_phantom(out_dir: str | Path, oblique: bool = False,
                  formats: Sequence[str] = PHANTOM_FORMATS) -> PhantomFiles:
    """Write the phantom's CT series under ``out_dir/ct`` and its segmentations beside it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    anatomy = phantom_anatomy(oblique)
    variant = "oblique" if oblique else "axial"
    geometry = anatomy.geometry
    write_ct_series(anatomy.hu, geometry, out_dir / "ct", study_uid=_uid("study"),
                    series_uid=_uid(f"series {variant}"),
                    frame_of_reference_uid=_uid(f"frame {variant}"),
                    patient_id="IRELAB-PHANTOM", study_date=STUDY_DATE.strftime("%Y%m%d"),
                    description=f"synthetic abdomen {variant} "
                                f"{geometry.spacing_mm[2]:g} mm")
    series = read_ct(out_dir / "ct")
    writers = {"dicom-seg": _dicom_seg, "rtstruct": _rtstruct, "slicer": _slicer,
               "labelmap": _labelmap, "totalseg": _totalseg}
    files = {name: writers[name](anatomy, series, out_dir) for name in formats}
    return PhantomFiles(out_dir / "ct", anatomy, series, files)


def _dicom_seg(anatomy: PhantomAnatomy, series: CtSeries, out_dir: Path) -> Path:
    from irelab.imaging.dicom_seg import SegSegment, write_dicom_seg

    segments = [SegSegment(s.names["dicom-seg"], anatomy.masks[s.key],
                           term(s.key).property_category(), term(s.key).property_type(),
                           term(s.key).colour) for s in anatomy.structures]
    return write_dicom_seg(out_dir / "segmentation.dcm", series, segments,
                           series_description="phantom structures", created=STUDY_DATE)


def _rtstruct(anatomy: PhantomAnatomy, series: CtSeries, out_dir: Path) -> Path:
    from irelab.imaging.rtstruct import RtRoi, write_rtstruct

    rois = [RtRoi(s.names["rtstruct"], anatomy.masks[s.key], term(s.key).colour,
                  INTERPRETED.get(s.key, "ORGAN")) for s in anatomy.structures]
    return write_rtstruct(out_dir / "rtstruct.dcm", series, rois, label="phantom",
                          created=STUDY_DATE)


def _slicer(anatomy: PhantomAnatomy, series: CtSeries, out_dir: Path) -> Path:
    from irelab.imaging.slicer_seg import SlicerSegment, write_slicer_segmentation

    labels, legend = _painted(anatomy)
    segments = [SlicerSegment(value, name, term(key).colour, term(key).property_category(),
                              term(key).property_type()) for value, key, name in legend]
    return write_slicer_segmentation(out_dir / "segmentation.seg.nrrd", labels,
                                     anatomy.geometry, segments)


def _labelmap(anatomy: PhantomAnatomy, series: CtSeries, out_dir: Path) -> Path:
    import SimpleITK as sitk

    labels, legend = _painted(anatomy)
    path = out_dir / "labels.nii.gz"
    sitk.WriteImage(anatomy.geometry.to_sitk(labels), str(path))
    write_colour_table(out_dir / "labels.ctbl",
                       [LegendEntry(v, name, term(key).colour) for v, key, name in legend])
    return path


def _totalseg(anatomy: PhantomAnatomy, series: CtSeries, out_dir: Path) -> Path:
    import SimpleITK as sitk

    folder = out_dir / "totalsegmentator"
    folder.mkdir(exist_ok=True)
    outputs: list[tuple[str, np.ndarray]] = []
    for s in anatomy.structures:
        if s.key != "rib":
            outputs.append((s.names["totalseg"], anatomy.masks[s.key]))
            continue
        parts, count = ndimage.label(anatomy.masks["rib"])
        centres = ndimage.center_of_mass(parts > 0, parts, range(1, count + 1))
        world = anatomy.geometry.to_world(np.asarray(centres))
        for side in ("right", "left"):
            mine = [n for n in range(count) if (world[n, 0] < 0) == (side == "right")]
            for rank, n in enumerate(sorted(mine, key=lambda n: -world[n, 2]), start=8):
                outputs.append((f"rib_{side}_{rank}", parts == n + 1))
    for name, mask in outputs:
        sitk.WriteImage(anatomy.geometry.to_sitk(mask.astype(np.uint8)),
                        str(folder / f"{name}.nii.gz"))
    return folder
