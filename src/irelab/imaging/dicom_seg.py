"""DICOM Segmentation objects (SEG): the one reader and writer, through highdicom.

Reader: the SEG must reference the CT series it is given with (Referenced Series Sequence) in
the same frame of reference; each segment's label and its segmented property type (a SNOMED CT
code) name it. Masks come frame by frame for the CT's slices when the SEG's frames are derived
from them (``get_pixels_by_source_instance``), else as a volume on the SEG's own lattice
resampled onto the CT's by nearest neighbour.

Writer: a binary SEG whose frames are the CT's slices (every frame references its source
slice; empty frames are left out), with each segment's label, coded category and type (DICOM
PS3.16 CID 7150 and 7151, or CID 9534 Radiotherapy Targets for the plan's volumes), anatomic
region, display colour and the algorithm that made it. UIDs are derived from the content
(pydicom ``generate_uid`` with entropy sources) and every date and time is the caller's (highdicom
takes some from the clock and one UID at random; they are replaced), so the same input writes
the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from irelab.errors import InputError
from irelab.imaging.ct import CtSeries
from irelab.imaging.deps import require
from irelab.imaging.geometry import ImageGeometry
from irelab.imaging.segmentations import SegmentInfo, on_ct

__all__ = ["SegSegment", "write_dicom_seg"]

CODED_SCHEMES = ("SCT", "SRT")


class DicomSeg:
    """A DICOM SEG's segments."""

    kind = "DICOM SEG"

    def __init__(self, path: Path, ct: CtSeries) -> None:
        hd = require("highdicom", "reading a DICOM SEG")
        self.path, self._ct = path, ct
        source = str(path)
        try:
            self._seg = hd.seg.segread(str(path))
        except (ValueError, AttributeError, KeyError, TypeError) as exc:
            raise InputError(source, "", "a DICOM SEG highdicom can read",
                             str(exc).splitlines()[0] if str(exc) else None) from None
        _check_reference(self._seg, ct, source)
        infos, numbers = [], []
        for number in self._seg.get_segment_numbers():
            description = self._seg.get_segment_description(number)
            kind = description.segmented_property_type
            code = kind.value if kind.scheme_designator in CODED_SCHEMES else None
            infos.append(SegmentInfo(str(description.segment_label), code))
            numbers.append(int(number))
        self.segments, self.numbers = tuple(infos), tuple(numbers)

    def mask(self, index: int) -> np.ndarray:
        number = self.numbers[index]
        name = self.segments[index].name
        if self._ct.is_dicom and self._references_slices():
            frames = self._seg.get_pixels_by_source_instance(
                source_sop_instance_uids=list(self._ct.sop_instance_uids),
                segment_numbers=[number], assert_missing_frames_are_empty=True)
            mask = np.transpose(frames[..., 0], (2, 1, 0)) > 0  # (k, rows, cols) -> [i, j, k]
            if not mask.any():
                raise InputError(str(self.path), name, "a segment with voxels inside the CT "
                                 "scan's field of view", "an empty segment")
            return mask
        volume = self._seg.get_volume(segment_numbers=[number], combine_segments=True)
        geometry = ImageGeometry.from_affine(volume.spatial_shape, volume.affine)
        return on_ct(np.asarray(volume.array) > 0, geometry, self._ct, str(self.path), name)

    def _references_slices(self) -> bool:
        referenced = {uid for _, _, uid in self._seg.get_source_image_uids()}
        return bool(referenced) and referenced <= set(self._ct.sop_instance_uids)


def _check_reference(seg, ct: CtSeries, source: str) -> None:
    if ct.series_uid is not None:
        referenced = [str(item.SeriesInstanceUID)
                      for item in seg.get("ReferencedSeriesSequence", [])]
        if referenced and ct.series_uid not in referenced:
            raise InputError(source, "ReferencedSeriesSequence", f"a SEG that references the CT "
                             f"series {ct.series_uid}", ", ".join(referenced))
    frame = str(seg.get("FrameOfReferenceUID", "")) or None
    if ct.frame_of_reference_uid and frame and frame != ct.frame_of_reference_uid:
        raise InputError(source, "FrameOfReferenceUID", "the CT's frame of reference "
                         f"{ct.frame_of_reference_uid}", frame)


def _stamp(seg, created: datetime, dimension_uid: str) -> None:
    """Replace what highdicom takes from the clock or a random source (creation dates and
    times, the dimension organisation UID) by ``created`` and a UID derived from the content."""
    date, time = created.strftime("%Y%m%d"), created.strftime("%H%M%S")
    for key in ("ContentDate", "SeriesDate", "InstanceCreationDate"):
        if key in seg:
            setattr(seg, key, date)
    for key in ("ContentTime", "SeriesTime", "InstanceCreationTime"):
        if key in seg:
            setattr(seg, key, time)
    for item in seg.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = date + time
    for key in ("DimensionOrganizationSequence", "DimensionIndexSequence"):
        for item in seg.get(key, []):
            if "DimensionOrganizationUID" in item:
                item.DimensionOrganizationUID = dimension_uid


@dataclass(frozen=True)
class SegSegment:
    """One segment to write: label, mask on the CT lattice, coded concepts (pydicom ``Code``),
    colour, and how it was made (``algorithm`` None: drawn or given, written as MANUAL)."""

    label: str
    mask: np.ndarray
    category: object
    property_type: object
    colour: tuple[int, int, int]
    anatomic_region: object | None = None
    algorithm: str | None = None
    algorithm_parameters: dict | None = None


def write_dicom_seg(path: str | Path, ct: CtSeries, segments: Sequence[SegSegment], *,
                    series_description: str, created: datetime, series_number: int = 100,
                    software_version: str = "", first_slice: int = 0) -> Path:
    """Write ``segments`` as a binary SEG over the CT series ``ct`` (which must be DICOM).

    Masks are on the CT lattice, or on its slices ``first_slice`` onwards (as many as the
    masks have): the SEG then derives from those slices only."""
    hd = require("highdicom", "writing a DICOM SEG")
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    path = Path(path)
    if not ct.is_dicom:
        raise InputError(ct.source, "", "a DICOM CT series to reference (a DICOM SEG cannot "
                         "refer to a NIfTI/NRRD scan)")
    descriptions = []
    for number, s in enumerate(segments, start=1):
        algorithm = None
        if s.algorithm is not None:
            algorithm = hd.AlgorithmIdentificationSequence(
                name=s.algorithm, family=codes.cid7162.MorphologicalOperations,
                version=software_version or "unknown", parameters=s.algorithm_parameters)
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=s.label,
            segmented_property_category=s.category, segmented_property_type=s.property_type,
            algorithm_type="AUTOMATIC" if algorithm is not None else "MANUAL",
            algorithm_identification=algorithm,
            anatomic_regions=[s.anatomic_region] if s.anatomic_region is not None else None,
            display_color=hd.color.CIELabColor.from_rgb(*s.colour)))
    if not segments:
        raise ValueError("a SEG needs at least one non-empty segment")
    stack = np.stack([np.transpose(s.mask, (2, 1, 0)) for s in segments], axis=-1)
    sources = list(ct.headers[first_slice:first_slice + stack.shape[0]])
    if len(sources) != stack.shape[0] or stack.shape[1:3] != (ct.geometry.shape[1],
                                                              ct.geometry.shape[0]):
        raise ValueError(f"masks of {stack.shape[:3]} (k, j, i) do not fit the CT's slices")
    digest = [ct.series_uid or "", series_description, *(s.label for s in segments),
              hashlib.sha256(np.packbits(stack).tobytes()).hexdigest()]
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=stack.astype(np.uint8),
        segmentation_type="BINARY", segment_descriptions=descriptions,
        series_instance_uid=generate_uid(entropy_srcs=["series", *digest]),
        series_number=series_number,
        sop_instance_uid=generate_uid(entropy_srcs=["instance", *digest]),
        instance_number=1, manufacturer="irelab", manufacturer_model_name="irelab",
        software_versions=software_version or "unknown", device_serial_number="none",
        series_description=series_description, omit_empty_frames=True)
    _stamp(seg, created, generate_uid(entropy_srcs=["dimensions", *digest]))
    partial = path.with_name(path.name + ".partial")
    seg.save_as(partial)
    partial.replace(path)
    return path
