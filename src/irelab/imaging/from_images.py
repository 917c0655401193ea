"""A case from a patient's CT and segmentations (``irelab case from-images``).

1. The CT (:func:`~irelab.imaging.ct.read_ct`) and every segmentation
   (:func:`~irelab.imaging.segmentations.open_segmentation`) are read and checked against it.
2. Each segment is matched to a structure (:mod:`irelab.imaging.terms`): by ``--map NAME=KEY``,
   else by its SNOMED CT code, else by its name; ``--tumour NAME`` names the target. Other
   tumour-like segments are left out unless mapped (the plan targets the lesion named), and
   segments nothing matches are left out and listed.
3. The structures are painted into one label volume on the CT lattice, body first, then
   obstacles, liver, tumour and, on top, vessels and ducts (a vessel running through the tumour
   stays a vessel: IRE spares it and probes avoid it). A body or skin segment is filled slice by
   slice (a skin shell becomes the body), so every structure lies inside the body. The volume is
   written as a 3D Slicer ``.seg.nrrd`` beside the case (names, colours, SNOMED CT terms).
4. The domain: the tumour's extent plus the margin and ``pad_mm`` (room for the probes and the
   ablation zone beyond the target), clipped to the scan, in patient LPS mm. The probes'
   exposed length needs no room of its own: the planner centres the electrodes on the target
   along the insertion axis and makes them as long as the target (up to 40 mm, with pullbacks
   beyond), so they lie inside tumour + margin whatever the approach, and only their tips'
   few millimetres and the zone's reach beyond the outer probes lie in the padding. The
   domain's voxel lattice is aligned with the CT's where the CT's axes are the patient's and
   one spacing is a whole multiple of the other (then tissue labels are copied, not
   interpolated: see :mod:`irelab.case.anatomy`).
5. The case (tissues as ``anatomy.regions`` images of that file, the rest under ``imaging``)
   is written by :func:`irelab.case.write_case`.

Outside the segmented tissues the domain is liver (the case's background): fat, muscle, bone
or air inside the box are not modelled as tissues, and the report says which fraction of the
domain lies outside the liver segment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from irelab.case import Case, parse_case, write_case
from irelab.case.anatomy import label_mask
from irelab.case.model import MAX_VOXELS, Domain
from irelab.errors import InputError
from irelab.imaging.ct import CtSeries, read_ct
from irelab.imaging.segmentations import Segmentation, open_segmentation
from irelab.imaging.slicer_seg import SlicerSegment, write_slicer_segmentation
from irelab.imaging.terms import TERM_KEYS, StructureRole, Term, match_term, normalised, term

__all__ = ["ImageCase", "ImageCaseOptions", "case_from_images"]

PAINT_ORDER = {"body": 0, "obstacle": 1, "liver": 2, "tumour": 3, "tissue": 4}
"""Which structure a voxel claimed by two belongs to: the larger number wins."""
IGNORE = "ignore"


@dataclass(frozen=True)
class ImageCaseOptions:
    """``margin_mm``: the target margin around the tumour (as the planner's ``--margin-mm``);
    ``pad_mm``: room beyond it for the probes and the ablation zone. The default 15 mm is a
    design choice: the built-in 30 mm phantom leaves 14-19 mm around its target, and a zone
    reaches a few mm beyond the outermost probe; ``spacing_mm``: the solver grid."""

    margin_mm: float = 5.0
    pad_mm: float = 15.0
    spacing_mm: float = 1.0
    name: str | None = None


@dataclass(frozen=True)
class Chosen:
    """A segment that goes into the case: where it comes from and what it is."""

    segmentation: Segmentation
    index: int
    name: str
    term: Term

    @property
    def paint_rank(self) -> int:
        if self.term.role == StructureRole.BODY:
            return PAINT_ORDER["body"]
        if self.term.role == StructureRole.OBSTACLE:
            return PAINT_ORDER["obstacle"]
        return PAINT_ORDER.get(self.term.key, PAINT_ORDER["tissue"])


@dataclass(frozen=True, eq=False)
class ImageCase:
    """What ``case from-images`` made: the case, its label file and what it says about them."""

    case: Case
    case_file: Path
    labels_file: Path
    structures: tuple[tuple[int, str, str, str], ...]
    """(label, segment name, structure key, source file) of every structure written."""
    ignored: tuple[str, ...]
    tumour_centroid_mm: tuple[float, float, float]
    tumour_volume_cm3: float
    aligned: tuple[bool, bool, bool]
    outside_liver_fraction: float | None

    def to_json(self) -> dict:
        d = self.case.domain
        return {"case": str(self.case_file), "labels": str(self.labels_file),
                "domain": {"size_mm": list(d.size_mm), "center_mm": list(d.center_mm),
                           "spacing_mm": d.spacing_mm},
                "aligned_with_ct": list(self.aligned),
                "tumour": {"centroid_mm": [round(v, 3) for v in self.tumour_centroid_mm],
                           "volume_cm3": round(self.tumour_volume_cm3, 3)},
                "structures": [{"label": v, "name": n, "structure": k, "source": s}
                               for v, n, k, s in self.structures],
                "ignored": list(self.ignored),
                "outside_liver_fraction": None if self.outside_liver_fraction is None
                else round(self.outside_liver_fraction, 4)}


def _choose(segmentations: Sequence[Segmentation], tumour: str, mapping: Mapping[str, str]
            ) -> tuple[list[Chosen], list[str]]:
    names = {normalised(s.name) for seg in segmentations for s in seg.segments}
    known = ", ".join(sorted({s.name for seg in segmentations for s in seg.segments}))
    wanted = {normalised(k): v for k, v in mapping.items()}
    for key, value in mapping.items():
        if normalised(key) not in names:
            raise InputError("--map", key, f"the name of a segment ({known})")
        if value != IGNORE and value not in TERM_KEYS:
            raise InputError("--map", key, f"a structure: {', '.join(TERM_KEYS)} or {IGNORE}",
                             value)
    if normalised(tumour) not in names:
        raise InputError("--tumour", "", f"the name of a segment ({known})", tumour)
    chosen, ignored = [], []
    for seg in segmentations:
        for index, info in enumerate(seg.segments):
            key = normalised(info.name)
            where = f"{info.name} ({seg.path.name})"
            if key == normalised(tumour):
                found = term("tumour")
            elif key in wanted:
                if wanted[key] == IGNORE:
                    ignored.append(where)
                    continue
                found = term(wanted[key])
            else:
                found = match_term(info.name, info.code)
                if found is None or found.key == "tumour":
                    ignored.append(where)
                    continue
            chosen.append(Chosen(seg, index, info.name, found))
    return sorted(chosen, key=lambda c: c.paint_rank), ignored


def _fill_slices(mask: np.ndarray) -> np.ndarray:
    """Holes filled within each slice (a skin shell becomes the body it encloses)."""
    structure = ndimage.generate_binary_structure(2, 1)[:, :, None]
    return ndimage.binary_fill_holes(mask, structure=structure)


def _paint(ct: CtSeries, chosen: Sequence[Chosen]) -> tuple[np.ndarray, np.ndarray, Chosen]:
    """Label volume (value = 1 + index in ``chosen``), the tumour mask and its segment."""
    dtype = np.uint8 if len(chosen) < 255 else np.uint16
    labels = np.zeros(ct.geometry.shape, dtype=dtype)
    tumour = np.zeros(ct.geometry.shape, dtype=bool)
    tumour_segment = None
    for value, c in enumerate(chosen, start=1):
        mask = c.segmentation.mask(c.index)
        if c.term.role == StructureRole.BODY:
            mask = _fill_slices(mask)
        if c.term.key == "tumour":
            tumour |= mask
            tumour_segment = c
        labels[mask] = value
    return labels, tumour, tumour_segment


def _check_tumour(tumour: np.ndarray, chosen: Chosen) -> None:
    source = str(chosen.segmentation.path)
    if not tumour.any():
        raise InputError(source, chosen.name, "a tumour segment with voxels", "an empty segment")
    faces = (tumour[0].any() or tumour[-1].any() or tumour[:, 0].any() or tumour[:, -1].any()
             or tumour[:, :, 0].any() or tumour[:, :, -1].any())
    if faces:
        raise InputError(source, chosen.name, "a tumour inside the scan (it touches the image "
                         "border, so part of it may lie outside the field of view)")


def _domain(ct: CtSeries, tumour: np.ndarray, options: ImageCaseOptions, chosen: Chosen
            ) -> tuple[tuple[float, ...], tuple[float, ...], tuple[bool, bool, bool]]:
    """Size and centre (mm) of the crop, and per patient axis whether its lattice is the CT's."""
    g, h = ct.geometry, options.spacing_mm
    centres = g.to_world(np.argwhere(tumour))
    half_voxel = np.abs(g.matrix * np.asarray(g.spacing_mm)).sum(axis=1) / 2
    reach = options.margin_mm + options.pad_mm
    lo = centres.min(axis=0) - half_voxel - reach
    hi = centres.max(axis=0) + half_voxel + reach
    ct_lo, ct_hi = g.bounds_mm()
    lo, hi = np.maximum(lo, ct_lo), np.minimum(hi, ct_hi)
    shape = np.maximum(np.ceil((hi - lo) / h - 1e-6).astype(int), 4)
    centre = (lo + hi) / 2
    aligned = [False, False, False]
    for b in range(3):
        a = g.world_axis(b)
        if a is None:
            continue
        s = g.spacing_mm[b]
        step = min(s, h)
        ratio = max(s, h) / step
        origin = centre[a] - (shape[a] - 1) / 2 * h
        shift = g.origin_mm[a] - origin
        centre[a] += shift - round(shift / step) * step
        aligned[a] = abs(ratio - round(ratio)) < 1e-6
    voxels = int(np.prod(shape))
    if voxels > MAX_VOXELS:
        raise InputError(str(chosen.segmentation.path), chosen.name, f"a tumour whose crop "
                         f"(tumour + {options.margin_mm:g} mm margin + {options.pad_mm:g} mm) "
                         f"fits the solver's {MAX_VOXELS:,} voxels at {h:g} mm (a larger "
                         "--spacing-mm, or a smaller --pad-mm)", f"{voxels:,} voxels")
    size = tuple(round(float(n * h), 6) for n in shape)
    return size, tuple(round(float(c), 6) for c in centre), tuple(aligned)


def case_from_images(ct_path: str | Path, segmentation_paths: Sequence[str | Path],
                     tumour: str, out: str | Path, mapping: Mapping[str, str] | None = None,
                     options: ImageCaseOptions = ImageCaseOptions()) -> ImageCase:
    """Read the CT and segmentations, write the label volume and the case file ``out``."""
    out = Path(out)
    if not segmentation_paths:
        raise InputError("--seg", "", "at least one segmentation")
    if not 0.25 <= options.spacing_mm <= 3:
        raise InputError("--spacing-mm", "", "a grid spacing between 0.25 and 3 mm",
                         options.spacing_mm)
    ct = read_ct(ct_path)
    segmentations = [open_segmentation(p, ct) for p in segmentation_paths]
    chosen, ignored = _choose(segmentations, tumour, mapping or {})
    labels, tumour_mask, tumour_chosen = _paint(ct, chosen)
    _check_tumour(tumour_mask, tumour_chosen)
    size, centre, aligned = _domain(ct, tumour_mask, options, tumour_chosen)
    name = options.name or out.name.removesuffix(".yaml").removesuffix(".yml")
    out.parent.mkdir(parents=True, exist_ok=True)
    labels_file = out.with_name(f"{name}-labels.seg.nrrd")
    write_slicer_segmentation(labels_file, labels, ct.geometry, [
        SlicerSegment(v, c.name, c.term.colour, c.term.property_category(),
                      c.term.property_type()) for v, c in enumerate(chosen, start=1)])
    domain = Domain(size, options.spacing_mm, centre)
    present = _present(ct, labels, chosen, domain.grid())
    mapping_out = _case_mapping(name, ct, chosen, present, labels_file, domain, options,
                                segmentations)
    case = parse_case(mapping_out, source=str(out), base_dir=out.parent)
    write_case(case, out)
    centroid = tuple(float(v) for v in ct.geometry.to_world(np.argwhere(tumour_mask)).mean(0))
    voxel_cm3 = float(np.prod(ct.geometry.spacing_mm)) * 1e-3
    return ImageCase(case=case, case_file=out, labels_file=labels_file,
                     structures=tuple((v, c.name, c.term.key, str(c.segmentation.path))
                                      for v, c in enumerate(chosen, start=1)),
                     ignored=tuple(ignored), tumour_centroid_mm=centroid,
                     tumour_volume_cm3=float(tumour_mask.sum()) * voxel_cm3, aligned=aligned,
                     outside_liver_fraction=_outside_liver(case, ct, labels, chosen))


def _present(ct: CtSeries, labels: np.ndarray, chosen: Sequence[Chosen], grid) -> set[int]:
    """The tissue labels the case grid holds, sampled as the case reader samples them."""
    image = ct.geometry.to_sitk(labels)
    return {v for v, c in enumerate(chosen, start=1)
            if c.term.role == StructureRole.TISSUE and label_mask(image, grid, v).any()}


def _case_mapping(name: str, ct: CtSeries, chosen: Sequence[Chosen], present: set[int],
                  labels_file: Path, domain: Domain, options: ImageCaseOptions,
                  segmentations: Sequence[Segmentation]) -> dict:
    regions, tissues, structures = [], {}, []
    for value, c in enumerate(chosen, start=1):
        entry = {"name": c.name, "label": value, "role": str(c.term.role),
                 "code": c.term.property_type().value, "source": str(c.segmentation.path)}
        if c.term.role == StructureRole.TISSUE:
            entry["tissue"] = c.term.tissue
        if value in present:
            regions.append({"tissue": c.term.tissue,
                            "image": {"path": labels_file.name, "label": value}})
            if c.term.like is not None:
                tissues[c.term.tissue] = {"like": c.term.like}
        structures.append(entry)
    files = ", ".join(s.path.name for s in segmentations)
    tumour = next(c.name for c in chosen if c.term.key == "tumour")
    description = (f"From the CT {ct.description or Path(ct.source).name} and {files} "
                   f"(irelab case from-images): the tumour {tumour} plus a "
                   f"{options.margin_mm:g} mm margin and {options.pad_mm:g} mm around it; "
                   "tissues outside the segmented ones are modelled as liver.")
    return {
        "name": name, "description": description,
        "domain": {"size_mm": list(domain.size_mm), "spacing_mm": domain.spacing_mm,
                   "center_mm": list(domain.center_mm)},
        "anatomy": {"background": "liver", "regions": regions},
        "tissues": tissues,
        "imaging": {"ct": {"path": str(Path(ct.source).resolve()),
                           "series_instance_uid": ct.series_uid,
                           "study_instance_uid": ct.study_uid,
                           "frame_of_reference_uid": ct.frame_of_reference_uid},
                    "labels": labels_file.name, "structures": structures},
    }


def _outside_liver(case: Case, ct: CtSeries, labels: np.ndarray,
                   chosen: Sequence[Chosen]) -> float | None:
    """Fraction of the domain's voxels outside every segmented tissue (modelled as liver)
    when a liver segment is given."""
    if not any(c.term.key == "liver" for c in chosen):
        return None
    grid = case.grid()
    centres = np.stack(np.meshgrid(*(grid.axis_m(a) * 1e3 for a in range(3)), indexing="ij"),
                       axis=-1)
    tissue = [v for v, c in enumerate(chosen, start=1) if c.term.role == StructureRole.TISSUE]
    inside = np.isin(ct.geometry.sample(labels, centres), tissue)
    return float(1.0 - inside.mean())
