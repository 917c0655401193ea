"""Patient images in, plan out: CT and segmentations to a case, scanner coordinates, exports.

The world frame is the patient's LPS in millimetres, as DICOM and ITK have it; every case made
from images, its plan and every export are in the frame of the input CT.

- Reading: a DICOM CT series (:func:`read_ct`) and its segmentations in any of DICOM SEG,
  RTSTRUCT, 3D Slicer ``.seg.nrrd``, label maps or per-structure NIfTI folders
  (:func:`open_segmentation`), matched to known structures by SNOMED CT code or name
  (:data:`TERMS`).
- A case from images (:func:`case_from_images`, ``irelab case from-images``), its structures
  (:func:`case_structures`) and insertion approaches (:func:`propose_approaches`,
  :func:`resolve_direction`).
- A plan's exports (:func:`write_plan_exports`): NIfTI volumes, probe trajectories as CSV and
  3D Slicer markups with insertion depths and crossing warnings, and a DICOM SEG over the CT.
- The synthetic abdomen phantom (:func:`phantom_anatomy`, :func:`write_phantom`) and the image
  demo (:func:`image_demo_case`).

highdicom and slicerio (``irelab[imaging]``) are imported only by the readers and writers that
need them.
"""

from irelab.imaging.approach import (
    NAMED_APPROACHES,
    Approach,
    parse_approach,
    propose_approaches,
    resolve_direction,
)
from irelab.imaging.colours import LegendEntry, colour_of, read_colour_table, write_colour_table
from irelab.imaging.ct import CtSeries, read_ct, write_ct_series
from irelab.imaging.demo import DEMO_APPROACH, image_demo_case
from irelab.imaging.deps import MissingDependencyError
from irelab.imaging.dicom_seg import SegSegment, write_dicom_seg
from irelab.imaging.exports import PlanExports, export_time, write_plan_exports
from irelab.imaging.from_images import ImageCase, ImageCaseOptions, case_from_images
from irelab.imaging.geometry import ImageGeometry
from irelab.imaging.markups import read_line_markup, write_line_markups
from irelab.imaging.phantom import (
    PHANTOM_TUMOUR_CENTRE_MM,
    PHANTOM_TUMOUR_RADIUS_MM,
    PhantomAnatomy,
    phantom_anatomy,
    phantom_geometry,
)
from irelab.imaging.phantom_files import PHANTOM_FORMATS, PhantomFiles, write_phantom
from irelab.imaging.rtstruct import RtRoi, write_rtstruct
from irelab.imaging.segmentations import Segmentation, SegmentInfo, open_segmentation
from irelab.imaging.slicer_seg import SlicerSegment, write_slicer_segmentation
from irelab.imaging.structures import CaseStructures, case_structures
from irelab.imaging.terms import TERMS, StructureRole, Term, match_term
from irelab.imaging.trajectories import (
    Crossing,
    Trajectory,
    plan_trajectories,
    read_trajectory_csv,
    write_trajectory_csv,
)

__all__ = [
    "DEMO_APPROACH",
    "NAMED_APPROACHES",
    "PHANTOM_FORMATS",
    "PHANTOM_TUMOUR_CENTRE_MM",
    "PHANTOM_TUMOUR_RADIUS_MM",
    "TERMS",
    "Approach",
    "CaseStructures",
    "Crossing",
    "CtSeries",
    "ImageCase",
    "ImageCaseOptions",
    "ImageGeometry",
    "LegendEntry",
    "MissingDependencyError",
    "PhantomAnatomy",
    "PhantomFiles",
    "PlanExports",
    "RtRoi",
    "SegSegment",
    "SegmentInfo",
    "Segmentation",
    "SlicerSegment",
    "StructureRole",
    "Term",
    "Trajectory",
    "case_from_images",
    "case_structures",
    "colour_of",
    "export_time",
    "image_demo_case",
    "match_term",
    "open_segmentation",
    "parse_approach",
    "phantom_anatomy",
    "phantom_geometry",
    "plan_trajectories",
    "propose_approaches",
    "read_colour_table",
    "read_ct",
    "read_line_markup",
    "read_trajectory_csv",
    "resolve_direction",
    "write_colour_table",
    "write_ct_series",
    "write_dicom_seg",
    "write_line_markups",
    "write_phantom",
    "write_plan_exports",
    "write_rtstruct",
    "write_slicer_segmentation",
    "write_trajectory_csv",
]
