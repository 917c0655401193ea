"""3D Slicer segmentations (``.seg.nrrd``): the one reader and writer, through slicerio.

Format (3D Slicer developer guide, Segmentations module, "Segmentation labelmap file format"):
a NRRD image in LPS with one 3-D label volume, or a list of such layers when segments overlap,
and per segment ``SegmentN_Name``, ``SegmentN_LabelValue``, ``SegmentN_Layer``, ``SegmentN_Color``
and a ``TerminologyEntry`` tag holding the coded category and type (``SCT^10200004^Liver``).
The reader takes each segment's name and its SNOMED CT type code; masks are resampled onto the
CT lattice by nearest neighbour (Slicer crops the file to the segments' extent on the scan's
own lattice, so this is exact there).

The writer is also how a case made from images stores its labels: a non-overlapping label
volume on the CT lattice that SimpleITK reads as a plain label image (the case's
``anatomy.regions[].image``) and Slicer opens as a named, coloured segmentation over the CT.
It writes the format's fields itself (slicerio encodes the terminology entries) and lets
SimpleITK encode the NRRD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from irelab.errors import InputError
from irelab.imaging.ct import CtSeries
from irelab.imaging.deps import require
from irelab.imaging.geometry import ImageGeometry
from irelab.imaging.segmentations import SegmentInfo, check_overlap, on_ct

__all__ = ["SlicerSegment", "write_slicer_segmentation"]

CODED_SCHEMES = ("SCT", "SRT")
"""SNOMED CT's designators (SRT is the older one DICOM used before 2019)."""

TERMINOLOGY_CONTEXT = "Segmentation category and type - irelab"


class SlicerSegmentation:
    """A ``.seg.nrrd`` file's segments."""

    kind = "3D Slicer segmentation"

    def __init__(self, path: Path, ct: CtSeries) -> None:
        slicerio = require("slicerio", "reading a 3D Slicer .seg.nrrd")
        self.path, self._ct = path, ct
        try:
            self._seg = slicerio.read_segmentation(str(path))
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(str(path), "", "a readable 3D Slicer segmentation (.seg.nrrd)",
                             str(exc).splitlines()[0] if str(exc) else None) from None
        voxels = self._seg["voxels"]
        self._geometry = ImageGeometry.from_affine(voxels.shape[-3:], self._seg["ijkToLPS"])
        check_overlap(self._geometry, ct, str(path))
        infos = []
        for segment in self._seg["segments"]:
            code = None
            kind = segment.get("terminology", {}).get("type")
            if kind and len(kind) >= 2 and kind[0] in CODED_SCHEMES:
                code = kind[1]
            infos.append(SegmentInfo(str(segment.get("name", segment.get("id", ""))), code))
        self.segments = tuple(infos)

    def mask(self, index: int) -> np.ndarray:
        import slicerio

        segment = self._seg["segments"][index]
        mask = slicerio.segment_mask(self._seg, segment)
        return on_ct(mask, self._geometry, self._ct, str(self.path), self.segments[index].name)


@dataclass(frozen=True)
class SlicerSegment:
    """One segment to write: its label value in the volume, name, colour and coded concepts
    (pydicom ``Code`` values or None)."""

    value: int
    name: str
    colour: tuple[int, int, int]
    category: object | None = None
    property_type: object | None = None


def _terminology(segment: SlicerSegment) -> str:
    """The ``TerminologyEntry`` tag's value (slicerio's encoding of the category and type)."""
    segmentation = require("slicerio.segmentation", "writing a 3D Slicer .seg.nrrd")

    def triple(code):
        return [code.scheme_designator, code.value, code.meaning]

    return segmentation.terminology_entry_to_string({
        "contextName": TERMINOLOGY_CONTEXT, "category": triple(segment.category),
        "type": triple(segment.property_type)})


def write_slicer_segmentation(path: str | Path, labels: np.ndarray, geometry: ImageGeometry,
                              segments: Sequence[SlicerSegment]) -> Path:
    """Write the label volume ``labels`` (``[i, j, k]`` on ``geometry``, one value per
    segment, no overlap) as a ``.seg.nrrd`` with the segments' names, colours and terms.

    The NRRD is encoded by SimpleITK (ITK's writer puts ``key:=value`` fields in the header and,
    unlike pynrrd's, no date, so the same labels give the same bytes)."""
    import SimpleITK as sitk

    path = Path(path)
    image = geometry.to_sitk(np.asarray(labels))
    fields = {"Segmentation_MasterRepresentation": "Binary labelmap",
              "Segmentation_ContainedRepresentationNames": "Binary labelmap|",
              "Segmentation_ReferenceImageExtentOffset": "0 0 0"}
    for n, s in enumerate(segments):
        present = np.nonzero(labels == s.value)
        extent = [int(v) for axis in present for v in (axis.min(), axis.max())] \
            if present[0].size else [0, -1, 0, -1, 0, -1]
        tags = f"TerminologyEntry:{_terminology(s)}|" \
            if s.category is not None and s.property_type is not None else ""
        fields |= {f"Segment{n}_ID": f"segment_{s.value}", f"Segment{n}_Name": s.name,
                   f"Segment{n}_NameAutoGenerated": "0",
                   f"Segment{n}_Color": " ".join(f"{c / 255:.6g}" for c in s.colour),
                   f"Segment{n}_ColorAutoGenerated": "0",
                   f"Segment{n}_Extent": " ".join(str(v) for v in extent),
                   f"Segment{n}_LabelValue": str(int(s.value)), f"Segment{n}_Layer": "0",
                   f"Segment{n}_Tags": tags}
    for key, value in fields.items():
        image.SetMetaData(key, value)
    partial = path.with_name(path.name + ".partial.nrrd")
    sitk.WriteImage(image, str(partial), True)
    partial.replace(path)
    return path
