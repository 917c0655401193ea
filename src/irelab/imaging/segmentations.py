"""Segmentations of a CT, whatever file they come in: named segments with masks on the CT lattice.

:func:`open_segmentation` recognises the file and returns a :class:`Segmentation`: its
segments' names and SNOMED CT codes (cheap: metadata only) and, on request, one segment's mask
on the CT's voxel lattice. Masks are read one at a time, so a TotalSegmentator folder of a
hundred structures costs the memory of one. Readers, one module per format (each also writes
it, for the synthetic phantom and the exports):

* DICOM SEG (:mod:`irelab.imaging.dicom_seg`, highdicom),
* DICOM RTSTRUCT (:mod:`irelab.imaging.rtstruct`, pydicom and a polygon rasteriser),
* 3D Slicer ``.seg.nrrd`` with segment names and terminology (:mod:`irelab.imaging.slicer_seg`,
  slicerio),
* label maps (NIfTI, NRRD, MetaImage) with an optional 3D Slicer colour table beside them, and
  folders of one NIfTI file per structure as TotalSegmentator writes them
  (:mod:`irelab.imaging.labelmaps`, SimpleITK).

Every reader checks that the segmentation belongs to the CT (the series a DICOM object
references; the frame of reference; that the labels overlap the scan at all) and reports what
is wrong with one :class:`~irelab.errors.InputError` naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from irelab.errors import InputError
from irelab.imaging.ct import CtSeries
from irelab.imaging.geometry import ImageGeometry

__all__ = ["Segmentation", "SegmentInfo", "open_segmentation"]

NIFTI_SUFFIXES = (".nii", ".nii.gz")
LABEL_MAP_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


@dataclass(frozen=True)
class SegmentInfo:
    """A segment's name and, when the file codes it, its SNOMED CT property type value."""

    name: str
    code: str | None = None


class Segmentation(Protocol):
    """One segmentation file (or folder) of a CT."""

    path: Path
    kind: str
    segments: tuple[SegmentInfo, ...]

    def mask(self, index: int) -> np.ndarray:
        """Segment ``index``'s voxels on the CT lattice (bool, indexed ``[i, j, k]``)."""
        ...


def _is_dicom(path: Path) -> str | None:
    """The DICOM modality of a file, or None when it is not DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"])
    except (InvalidDicomError, OSError, ValueError, EOFError):
        return None
    return str(ds.get("Modality", ""))


def open_segmentation(path: str | Path, ct: CtSeries) -> Segmentation:
    """The segmentation in ``path`` (file or folder), checked against ``ct``."""
    from irelab.imaging import dicom_seg, labelmaps, rtstruct, slicer_seg

    path = Path(path)
    source = str(path)
    if not path.exists():
        raise InputError(source, "", "an existing segmentation file or folder")
    if path.is_dir():
        if any(p.name.lower().endswith(NIFTI_SUFFIXES) for p in path.iterdir()):
            return labelmaps.NiftiFolder(path, ct)
        raise InputError(source, "", "a folder of per-structure NIfTI files (as TotalSegmentator "
                         "writes), or a segmentation file")
    name = path.name.lower()
    if name.endswith(".seg.nrrd"):
        return slicer_seg.SlicerSegmentation(path, ct)
    if name.endswith(LABEL_MAP_SUFFIXES):
        return labelmaps.LabelMap(path, ct)
    modality = _is_dicom(path)
    readers = {"SEG": dicom_seg.DicomSeg, "RTSTRUCT": rtstruct.RtStruct}
    if modality in readers:
        return readers[modality](path, ct)
    expected = ("a DICOM SEG or RTSTRUCT, a 3D Slicer .seg.nrrd, a NIfTI/NRRD/MetaImage label "
                "map or a folder of per-structure NIfTI files")
    raise InputError(source, "Modality" if modality else "", expected,
                     modality if modality else None)


def check_overlap(geometry: ImageGeometry, ct: CtSeries, source: str) -> None:
    """An :class:`InputError` when a segmentation's lattice does not overlap the CT's."""
    if geometry.overlaps(ct.geometry):
        return
    lo, hi = geometry.bounds_mm()
    clo, chi = ct.geometry.bounds_mm()
    raise InputError(source, "", "labels overlapping the CT scan (which spans "
                     f"{np.round(clo, 1).tolist()} to {np.round(chi, 1).tolist()} mm LPS)",
                     f"labels spanning {np.round(lo, 1).tolist()} to "
                     f"{np.round(hi, 1).tolist()} mm")


def on_ct(mask: np.ndarray, geometry: ImageGeometry, ct: CtSeries, source: str,
          name: str) -> np.ndarray:
    """A mask on its own lattice resampled onto the CT's (nearest neighbour; exact when the
    lattices coincide), with an error when it is not empty but none of it lies in the scan."""
    out = ct.geometry.resample_labels(mask.astype(np.uint8), geometry).astype(bool)
    if mask.any() and not out.any():
        raise InputError(source, name, "a segment with voxels inside the CT scan's field of "
                         "view", "all of it outside")
    return out
