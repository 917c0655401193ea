"""DICOM RT Structure Sets (RTSTRUCT): the one reader and writer, on pydicom.

Our own rather than rt-utils: rt-utils 1.2.7 builds its masks as (Columns, Rows) and scales the
row direction by the row spacing (both wrong for non-square images or pixels), finds a contour's
slice only through Contour Image Sequence references, draws polygons through pixel centres
(shrinking each structure by half a pixel) and pulls in OpenCV. Here:

* Writer: each slice's mask is outlined at level 0.5 by marching squares (contourpy, which
  matplotlib uses), so the polygon runs half-way between inside and outside pixel centres; points
  are mapped to patient LPS through the CT lattice; closed planar contours reference their slice.
* Reader: each contour is assigned to the CT slice whose plane it lies in (by its points'
  position along the slice normal, any orientation), mapped to pixel coordinates and filled by
  testing pixel centres against the polygon (matplotlib ``Path.contains_points``). Contours of
  one structure on one slice combine by exclusive or, so an inner contour makes a hole (the
  even-odd convention of RTSTRUCT readers). Writing a mask and reading it back gives it exactly.

The structure set must reference the CT's frame of reference and series (Referenced Frame of
Reference Sequence); a structure's name is its ROI Name, its code the RT ROI Identification
Code Sequence when given, and an ``EXTERNAL`` interpreted type marks the body outline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from irelab.errors import InputError
from irelab.imaging.ct import CT_IMAGE_STORAGE, CtSeries
from irelab.imaging.segmentations import SegmentInfo

__all__ = ["RtRoi", "write_rtstruct"]

RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
"""RT Structure Set Storage SOP Class UID (DICOM PS3.4, Annex B.5)."""
DETACHED_STUDY_MANAGEMENT = "1.2.840.10008.3.1.2.3.1"
"""Detached Study Management SOP Class UID (retired; pydicom's UID dictionary): the Referenced
SOP Class UID that RT Referenced Study Sequence items commonly carry. Readers, ours included,
do not depend on it."""
ON_SLICE_TOLERANCE = 0.1
"""A contour lies on a slice when its points are within this fraction of the slice spacing of
the slice's plane."""
ENTIRE_BODY = "38266002"
"""SNOMED CT Entire body (DICOM PS3.16 CID 7151): the code given to an EXTERNAL structure."""


class RtStruct:
    """An RTSTRUCT's structures, rasterised on the CT's slices."""

    kind = "DICOM RTSTRUCT"

    def __init__(self, path: Path, ct: CtSeries) -> None:
        import pydicom

        self.path, self._ct = path, ct
        self._ds = pydicom.dcmread(path)
        _check_reference(self._ds, ct, str(path))
        interpreted = {int(o.ReferencedROINumber): o for o in
                       self._ds.get("RTROIObservationsSequence", [])}
        contours = {int(c.ReferencedROINumber): c for c in self._ds.get("ROIContourSequence", [])}
        infos, self._contours = [], []
        for roi in self._ds.get("StructureSetROISequence", []):
            number = int(roi.ROINumber)
            observation = interpreted.get(number)
            code = None
            if observation is not None:
                for item in observation.get("RTROIIdentificationCodeSequence", []):
                    if item.get("CodingSchemeDesignator") in ("SCT", "SRT"):
                        code = str(item.CodeValue)
                if code is None and observation.get("RTROIInterpretedType") == "EXTERNAL":
                    code = ENTIRE_BODY
            infos.append(SegmentInfo(str(roi.ROIName), code))
            item = contours.get(number)
            self._contours.append(list(item.get("ContourSequence", [])) if item else [])
        self.segments = tuple(infos)

    def mask(self, index: int) -> np.ndarray:
        from matplotlib.path import Path as Polygon

        geometry = self._ct.geometry
        name = self.segments[index].name
        mask = np.zeros(geometry.shape, dtype=bool)
        for number, contour in enumerate(self._contours[index]):
            points = np.asarray(contour.ContourData, dtype=float).reshape(-1, 3)
            idx = geometry.to_index(points)
            k = float(np.mean(idx[:, 2]))
            if np.abs(idx[:, 2] - round(k)).max() > ON_SLICE_TOLERANCE:
                raise InputError(str(self.path), f"{name} contour {number + 1}", "a closed planar "
                                 "contour in the plane of one of the CT's slices",
                                 f"points {np.ptp(idx[:, 2]) * geometry.spacing_mm[2]:.2f} mm "
                                 "apart across the slices")
            k = round(k)
            if not 0 <= k < geometry.shape[2]:
                continue
            lo = np.maximum(np.floor(idx[:, :2].min(axis=0)).astype(int), 0)
            hi = np.minimum(np.ceil(idx[:, :2].max(axis=0)).astype(int) + 1,
                            np.asarray(geometry.shape[:2]))
            if np.any(hi <= lo):
                continue
            ii, jj = np.meshgrid(np.arange(lo[0], hi[0]), np.arange(lo[1], hi[1]), indexing="ij")
            centres = np.column_stack([ii.ravel(), jj.ravel()])
            inside = Polygon(idx[:, :2]).contains_points(centres).reshape(ii.shape)
            mask[lo[0]:hi[0], lo[1]:hi[1], k] ^= inside
        if not mask.any():
            raise InputError(str(self.path), name, "a structure with contours on the CT's slices",
                             "no contour on any slice")
        return mask


def _check_reference(ds, ct: CtSeries, source: str) -> None:
    frames = list(ds.get("ReferencedFrameOfReferenceSequence", []))
    uids = [str(f.FrameOfReferenceUID) for f in frames]
    if ct.frame_of_reference_uid and uids and ct.frame_of_reference_uid not in uids:
        raise InputError(source, "ReferencedFrameOfReferenceSequence", "a structure set in the "
                         f"CT's frame of reference {ct.frame_of_reference_uid}", ", ".join(uids))
    series = [str(s.SeriesInstanceUID) for f in frames
              for study in f.get("RTReferencedStudySequence", [])
              for s in study.get("RTReferencedSeriesSequence", [])]
    if ct.series_uid and series and ct.series_uid not in series:
        raise InputError(source, "RTReferencedSeriesSequence", "a structure set that references "
                         f"the CT series {ct.series_uid}", ", ".join(series))


@dataclass(frozen=True)
class RtRoi:
    """One structure to write: name, mask on the CT lattice, colour, RT ROI Interpreted Type
    (``ORGAN``, ``GTV``, ``EXTERNAL``, ``AVOIDANCE``...) and optional SNOMED CT code
    (value, meaning)."""

    name: str
    mask: np.ndarray
    colour: tuple[int, int, int]
    interpreted_type: str = "ORGAN"
    code: tuple[str, str] | None = None


def _slice_contours(plane: np.ndarray) -> list[np.ndarray]:
    """Closed outlines (pixel coordinates ``i, j``) of a 2-D mask at level 0.5."""
    import contourpy

    padded = np.pad(plane.astype(np.float64), 1)
    generator = contourpy.contour_generator(z=padded.T, line_type=contourpy.LineType.Separate)
    out = []
    for line in generator.lines(0.5):
        points = np.asarray(line) - 1.0  # undo the padding; x = i, y = j
        if len(points) > 1 and np.allclose(points[0], points[-1]):
            points = points[:-1]
        points = _without_collinear(points)
        if len(points) >= 3:
            out.append(points)
    return out


def _without_collinear(points: np.ndarray) -> np.ndarray:
    """The closed polygon without vertices in the middle of a straight edge (the outline of a
    pixel mask runs in long straight steps; dropping them loses nothing)."""
    before, after = np.roll(points, 1, axis=0), np.roll(points, -1, axis=0)
    cross = ((points - before)[:, 0] * (after - points)[:, 1]
             - (points - before)[:, 1] * (after - points)[:, 0])
    return points[np.abs(cross) > 1e-9]


def write_rtstruct(path: str | Path, ct: CtSeries, rois: Sequence[RtRoi], *, label: str,
                   created: datetime) -> Path:
    """Write ``rois`` as an RT Structure Set over the DICOM CT series ``ct``."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    path = Path(path)
    geometry, headers = ct.geometry, ct.headers
    first = headers[0]
    sop_uid = generate_uid(entropy_srcs=["rtstruct", ct.series_uid or "", label])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RT_STRUCTURE_SET_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    for key in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                "StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName"):
        setattr(ds, key, first.get(key, ""))
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = RT_STRUCTURE_SET_STORAGE, sop_uid, "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["rtstruct series", sop_uid])
    ds.SeriesNumber, ds.InstanceNumber, ds.Manufacturer = 200, 1, "irelab"
    ds.StructureSetLabel = label[:16]
    ds.StructureSetDate, ds.StructureSetTime = created.strftime("%Y%m%d"), \
        created.strftime("%H%M%S")
    ds.FrameOfReferenceUID = ct.frame_of_reference_uid

    def image_ref(header) -> Dataset:
        ref = Dataset()
        ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = CT_IMAGE_STORAGE, \
            str(header.SOPInstanceUID)
        return ref

    series = Dataset()
    series.SeriesInstanceUID = ct.series_uid
    series.ContourImageSequence = DicomSequence([image_ref(h) for h in headers])
    study = Dataset()
    study.ReferencedSOPClassUID = DETACHED_STUDY_MANAGEMENT
    study.ReferencedSOPInstanceUID = ct.study_uid
    study.RTReferencedSeriesSequence = DicomSequence([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = ct.frame_of_reference_uid
    frame.RTReferencedStudySequence = DicomSequence([study])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([frame])
    structures, contours, observations = [], [], []
    for number, roi in enumerate(rois, start=1):
        item = Dataset()
        item.ROINumber, item.ReferencedFrameOfReferenceUID = number, ct.frame_of_reference_uid
        item.ROIName, item.ROIGenerationAlgorithm = roi.name, "AUTOMATIC"
        structures.append(item)
        sequence = []
        for k in range(geometry.shape[2]):
            if not roi.mask[:, :, k].any():
                continue
            for outline in _slice_contours(roi.mask[:, :, k]):
                index = np.column_stack([outline, np.full(len(outline), k)])
                world = geometry.to_world(index)
                contour = Dataset()
                contour.ContourImageSequence = DicomSequence([image_ref(headers[k])])
                contour.ContourGeometricType = "CLOSED_PLANAR"
                contour.NumberOfContourPoints = len(world)
                contour.ContourData = [round(float(v), 4) for v in world.ravel()]
                sequence.append(contour)
        roi_contour = Dataset()
        roi_contour.ROIDisplayColor = list(roi.colour)
        roi_contour.ReferencedROINumber = number
        roi_contour.ContourSequence = DicomSequence(sequence)
        contours.append(roi_contour)
        observation = Dataset()
        observation.ObservationNumber, observation.ReferencedROINumber = number, number
        observation.RTROIInterpretedType, observation.ROIInterpreter = roi.interpreted_type, ""
        if roi.code is not None:
            code = Dataset()
            code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = \
                roi.code[0], "SCT", roi.code[1]
            observation.RTROIIdentificationCodeSequence = DicomSequence([code])
        observations.append(observation)
    ds.StructureSetROISequence = DicomSequence(structures)
    ds.ROIContourSequence = DicomSequence(contours)
    ds.RTROIObservationsSequence = DicomSequence(observations)
    partial = path.with_name(path.name + ".partial")
    ds.save_as(partial, enforce_file_format=True)
    partial.replace(path)
    return path
