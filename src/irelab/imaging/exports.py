"""What a plan exports beside ``plan.yaml``: volumes, trajectories, and for a case made from a
DICOM CT, a DICOM SEG over that CT.

* NIfTI volumes on the plan's grid (:mod:`irelab.simulation.output`, RAS affines that overlay
  the input CT): ``ablation_zone.nii.gz`` (the predicted lethal zone), ``target.nii.gz``
  (tumour plus margin), ``e_field_V_per_cm.nii.gz`` and ``labels.nii.gz`` with its colour
  table ``labels.ctbl``.
* Trajectories (:mod:`irelab.imaging.trajectories`): ``trajectories.csv`` and one 3D Slicer
  line per probe and placement under ``trajectories/`` (:mod:`irelab.imaging.markups`), entry
  and tip in patient LPS mm, with the insertion depth from the skin and a warning for each
  obstacle or critical structure a straight path crosses outside the target.
* ``plan-seg.dcm``: the ablation zone, the target and the tumour as a DICOM SEG referencing the
  CT series the case was made from (:mod:`irelab.imaging.dicom_seg`), the masks brought onto
  the CT's slices as the case reader brings labels onto the grid (linear indicator, one half;
  exact where the lattices' centres coincide). Only the slices the plan's domain reaches are
  written (empty frames are left out anyway). ``plan-overlay.png`` draws the written SEG and
  markups over the CT (:mod:`irelab.imaging.figures`).

Coded concepts for the plan's segments (DICOM PS3.16): the ablation zone is a Treated Volume
(DCM 130059, CID 9534 Radiotherapy Targets) and the target a Planning Target Volume (SCT
228793007, same CID), both of category Spatial and Relational Concept (SCT 309825002, CID
9580): the radiotherapy terms for "the volume the treatment reaches" and "the volume it must
reach", there being none for ablation; the tumour is a Neoplasm (SCT 108369006) of category
Morphologically Abnormal Structure; all in the liver.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from irelab.case import Case
from irelab.errors import InputError
from irelab.field import TissueRole
from irelab.imaging.geometry import ImageGeometry
from irelab.imaging.markups import write_line_markups
from irelab.imaging.structures import case_structures
from irelab.imaging.trajectories import Trajectory, plan_trajectories, write_trajectory_csv

__all__ = ["PlanExports", "export_time", "write_plan_exports"]

ZONE_COLOUR, TARGET_COLOUR, TUMOUR_COLOUR = (220, 40, 40), (255, 140, 0), (255, 220, 0)
"""Display colours of the SEG's segments (red zone, orange target, yellow tumour: a choice)."""


@dataclass(frozen=True)
class PlanExports:
    """The files written, the trajectories, and the legend of labels.nii.gz (value -> tissue,
    as labels.ctbl has it)."""

    files: tuple[Path, ...]
    trajectories: tuple[Trajectory, ...]
    legend: dict[str, str]

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(w for t in self.trajectories for w in t.warnings())

    def to_json(self) -> dict:
        return {"files": [str(f) for f in self.files],
                "trajectories": [t.to_json() for t in self.trajectories],
                "warnings": list(self.warnings), "labels": self.legend}


def export_time() -> datetime:
    """When exports say they were made: ``SOURCE_DATE_EPOCH`` (seconds, the reproducible-builds
    convention) when set, so that the same plan writes the same bytes, else now."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None:
        try:
            return datetime.fromtimestamp(int(epoch), UTC)
        except ValueError:
            raise InputError("SOURCE_DATE_EPOCH", "", "whole seconds since 1970", epoch) \
                from None
    return datetime.now(UTC)


def write_plan_exports(plan: Case, lethal: np.ndarray, e_max_V_per_m: np.ndarray, out: Path,
                       margin_mm: float, created: datetime | None = None) -> PlanExports:
    """Write the plan's volumes, trajectories and (for a DICOM-based case) its SEG under
    ``out``. ``lethal`` and ``e_max_V_per_m`` are on the plan's grid."""
    from irelab.plan import dilate_mm
    from irelab.simulation.output import write_label_volume, write_volume

    grid = plan.grid()
    if lethal.shape != grid.shape or e_max_V_per_m.shape != grid.shape:
        raise ValueError(f"volumes of shape {lethal.shape} on a plan grid of {grid.shape}")
    out.mkdir(parents=True, exist_ok=True)
    labels = plan.labels(grid)
    tumour = np.isin(labels, [i for i, n in enumerate(plan.tissue_names)
                              if plan.tissues[n].role == TissueRole.TARGET])
    target = dilate_mm(tumour, grid.spacing_m, margin_mm * 1e-3)
    files = [write_volume(out / "ablation_zone.nii.gz", lethal, grid, np.uint8),
             write_volume(out / "target.nii.gz", target, grid, np.uint8),
             write_volume(out / "e_field_V_per_cm.nii.gz", e_max_V_per_m / 100.0, grid),
             *write_label_volume(out / "labels.nii.gz", labels, grid, plan.tissue_names)]
    structures = case_structures(plan)
    trajectories = plan_trajectories(plan, structures, target, grid)
    files.append(write_trajectory_csv(out / "trajectories.csv", trajectories))
    files += write_line_markups(out / "trajectories", trajectories)
    if plan.imaging is not None and _is_dicom_ct(plan):
        from irelab.imaging.ct import read_ct
        from irelab.imaging.figures import write_overlay

        ct = read_ct(_ct_path(plan))
        seg = _write_seg(plan, ct, out / "plan-seg.dcm", lethal, target, tumour, margin_mm,
                         created or export_time())
        overlay = write_overlay(out / "plan-overlay.png", ct, seg,
                                [f for f in files if f.name.endswith(".mrk.json")],
                                f"{plan.name}: {len(plan.probes)} probes")
        files += [seg, overlay]
    legend = {str(i): name for i, name in enumerate(plan.tissue_names)}
    return PlanExports(tuple(files), trajectories, legend)


def _ct_path(plan: Case) -> Path:
    path = Path(plan.imaging.ct.path)
    return path if path.is_absolute() else plan.base_dir / path


def _is_dicom_ct(plan: Case) -> bool:
    return plan.imaging.ct.series_instance_uid is not None


def _write_seg(plan: Case, ct, path: Path, lethal: np.ndarray, target: np.ndarray,
               tumour: np.ndarray, margin_mm: float, created: datetime) -> Path:
    from pydicom.sr.codedict import codes

    from irelab import __version__
    from irelab.imaging.dicom_seg import SegSegment, write_dicom_seg

    if ct.series_uid != plan.imaging.ct.series_instance_uid:
        raise InputError(plan.source, "imaging.ct.path", "the CT series the case was made from "
                         f"({plan.imaging.ct.series_instance_uid})", ct.series_uid)
    grid = plan.grid()
    source = ImageGeometry.of_grid(grid)
    corners = ct.geometry.to_index(source.corners_mm())
    k0 = max(int(np.floor(corners[:, 2].min())), 0)
    k1 = min(int(np.ceil(corners[:, 2].max())) + 1, ct.geometry.shape[2])
    sub = ImageGeometry((ct.geometry.shape[0], ct.geometry.shape[1], k1 - k0),
                        ct.geometry.spacing_mm,
                        tuple(float(v) for v in ct.geometry.to_world(np.array([0, 0, k0]))),
                        ct.geometry.direction)
    common = {"plan": plan.name[:64], "grid spacing mm": f"{grid.spacing_m * 1e3:g}",
              "margin mm": f"{margin_mm:g}"}
    segments = [
        SegSegment("Predicted ablation zone", sub.resample_mask(lethal, source),
                   codes.SCT.SpatialAndRelationalConcept, codes.DCM.TreatedVolume, ZONE_COLOUR,
                   codes.SCT.Liver, "irelab field simulation",
                   common | {"zone": "|E| at or above the tissue's lethal threshold"}),
        SegSegment(f"Target: tumour + {margin_mm:g} mm margin",
                   sub.resample_mask(target, source), codes.SCT.SpatialAndRelationalConcept,
                   codes.SCT.PTV, TARGET_COLOUR, codes.SCT.Liver, "irelab target",
                   common | {"target": "tumour dilated by the margin"}),
        SegSegment("Tumour", sub.resample_mask(tumour, source),
                   codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Neoplasm,
                   TUMOUR_COLOUR, codes.SCT.Liver, "irelab target",
                   common | {"tumour": "the case's tumour on the plan grid"}),
    ]
    segments = [s for s in segments if s.mask.any()]
    return write_dicom_seg(path, ct, segments,
                           series_description=f"irelab plan {plan.name}"[:64],
                           created=created, software_version=__version__, first_slice=k0)
