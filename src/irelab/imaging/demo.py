"""The image-based demo (``irelab demo --images``): the synthetic abdomen CT written as DICOM
with a DICOM SEG of its structures, a case made from them, planned from an anterior approach.

The approach is the demo's clinical choice, stated, not a default: the phantom's tumour lies in
the anterior right lobe, under the anterior abdominal wall and between the ribs' anterior ends,
and ``irelab case approaches`` lists the anterior approaches as the shallowest feasible ones
(right lateral crosses ribs, posterior the kidney, caudal the colon).
"""

from __future__ import annotations

from pathlib import Path

from irelab.case import Case
from irelab.imaging.approach import parse_approach
from irelab.imaging.from_images import case_from_images
from irelab.imaging.phantom_files import write_phantom

__all__ = ["DEMO_APPROACH", "image_demo_case"]

DEMO_APPROACH = "anterior"
DEMO_TUMOUR = "Liver metastasis"


def image_demo_case(out: str | Path) -> tuple[Case, tuple[float, float, float]]:
    """Write the phantom under ``out/phantom`` and the case ``out/case.yaml``; the case and the
    demo's insertion direction."""
    out = Path(out)
    files = write_phantom(out / "phantom", oblique=False, formats=("dicom-seg",))
    made = case_from_images(files.ct, [files.files["dicom-seg"]], DEMO_TUMOUR,
                            out / "case.yaml")
    return made.case, parse_approach(DEMO_APPROACH)
