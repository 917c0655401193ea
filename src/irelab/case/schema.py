"""The case file's keys as pydantic models, and their errors as one :class:`InputError`.

The documented keys are a contract (example files and outside checks read them); extensions are
marked as such. Unknown keys are errors (``extra="forbid"``), so a misspelt key is reported
instead of silently ignored. Distances are in mm and voltages in V, as people type them; the
conversion to SI happens in :mod:`irelab.case.io`. One module (over 400 lines) because it is the
case file's key list: every documented key in one place, read top to bottom like the README.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from irelab.errors import InputError

__all__: list[str] = []

MAX_VOLTAGE_V = 3000.0
"""NanoKnife generator maximum (voltages outside 0-3000 V are errors)."""

Vec3 = tuple[float, float, float]
PositiveMm = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DomainSpec(_Strict):
    size_mm: tuple[PositiveMm, PositiveMm, PositiveMm]
    spacing_mm: Annotated[float, Field(gt=0, le=10)]
    center_mm: Vec3 = (0.0, 0.0, 0.0)
    """Extension: centre of the box (default the origin); image-based cases put it where the
    anatomy is."""


class SphereSpec(_Strict):
    center_mm: Vec3
    radius_mm: PositiveMm


class CylinderSpec(_Strict):
    start_mm: Vec3
    end_mm: Vec3
    radius_mm: PositiveMm

    @model_validator(mode="after")
    def _distinct(self) -> CylinderSpec:
        if self.start_mm == self.end_mm:
            raise ValueError("start_mm and end_mm must differ")
        return self


class BoxSpec(_Strict):
    """Extension: an axis-aligned box from ``min_mm`` to ``max_mm``."""

    min_mm: Vec3
    max_mm: Vec3

    @model_validator(mode="after")
    def _ordered(self) -> BoxSpec:
        if not all(a < b for a, b in zip(self.min_mm, self.max_mm, strict=True)):
            raise ValueError("min_mm must be below max_mm on every axis")
        return self


class ImageSpec(_Strict):
    path: str
    label: Annotated[int, Field(ge=0)]


SHAPES = ("sphere", "cylinder", "box", "image")


class RegionSpec(_Strict):
    tissue: str
    sphere: SphereSpec | None = None
    cylinder: CylinderSpec | None = None
    box: BoxSpec | None = None
    image: ImageSpec | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> RegionSpec:
        given = [s for s in SHAPES if getattr(self, s) is not None]
        if len(given) != 1:
            raise ValueError(f"exactly one shape of {', '.join(SHAPES)}; got "
                             f"{', '.join(given) or 'none'}")
        return self

    @property
    def shape_kind(self) -> str:
        return next(s for s in SHAPES if getattr(self, s) is not None)


class AnatomySpec(_Strict):
    background: str = "liver"
    regions: list[RegionSpec] = []


class TissueSpec(_Strict):
    """A preset's overrides, or a new tissue (then all four numbers, or ``like`` a preset)."""

    sigma0_S_per_m: Annotated[float, Field(gt=0)] | None = None
    sigma1_S_per_m: Annotated[float, Field(gt=0)] | None = None
    e_rev_V_per_cm: Annotated[float, Field(ge=0)] | None = None
    e_irr_V_per_cm: Annotated[float, Field(gt=0)] | None = None
    lethal_threshold_V_per_cm: Annotated[float, Field(gt=0)] | None = None
    """Extension: the field at which the tissue dies (V/cm); ``e_irr_V_per_cm`` when not given
    (and when a file changes ``e_irr_V_per_cm`` without it)."""
    model: str | None = None
    critical: bool | None = None
    """Extension: the planner keeps heat and probe shafts away from critical tissues (the same
    as ``role: critical``)."""
    role: Literal["target", "critical", "background"] | None = None
    """Extension: what the tissue is to the planner (the target to cover, a critical structure
    to spare, or background); a preset's role, or the role of the preset it is ``like``, when
    not given."""
    like: str | None = None
    """Extension: start from this preset's values (and role)."""
    source: str | None = None
    """Extension: where the numbers come from. A new tissue without one is accepted and shown
    as unsourced wherever sources are shown."""

    @model_validator(mode="after")
    def _one_role(self) -> TissueSpec:
        if self.critical is not None and self.role is not None and \
                self.critical != (self.role == "critical"):
            raise ValueError(f"critical: {str(self.critical).lower()} contradicts role: "
                             f"{self.role}")
        return self


class BipolarSpec(_Strict):
    """Extension: two electrodes on one shaft, ``distal`` at the tip, an insulating gap, then
    ``proximal``. Pairs name them ``<probe>:distal`` and ``<probe>:proximal``."""

    distal_mm: PositiveMm
    gap_mm: PositiveMm
    proximal_mm: PositiveMm


class ProbeSpec(_Strict):
    name: Annotated[str, Field(min_length=1, pattern=r"^[^:\s]+$")]
    tip_mm: Vec3
    direction: Vec3
    exposed_mm: Annotated[float, Field(gt=0, le=100)] | None = None
    diameter_mm: Annotated[float, Field(gt=0.2, le=5)] = 1.1
    """Default 1.1 mm: a 19 G monopolar probe (as in ``examples/two-needles.yaml``)."""
    bipolar: BipolarSpec | None = None

    @field_validator("direction")
    @classmethod
    def _nonzero(cls, v: Vec3) -> Vec3:
        if sum(c * c for c in v) == 0:
            raise ValueError("direction must not be the zero vector")
        return v

    @model_validator(mode="after")
    def _electrodes(self) -> ProbeSpec:
        if (self.exposed_mm is None) == (self.bipolar is None):
            raise ValueError("a probe has exposed_mm (monopolar) or bipolar, exactly one")
        return self


class PairSpec(_Strict):
    anode: str
    cathode: str
    voltage_V: Annotated[float, Field(gt=0, le=MAX_VOLTAGE_V)]
    predicted_current_A: Annotated[float, Field(ge=0)] | None = None
    """Extension: the planner's fine-grid current (the largest over pullback positions)."""
    predicted_currents_A: list[Annotated[float, Field(ge=0)]] | None = None
    """Extension: the planner's current at each pullback position."""


class PlacementSpec(_Strict):
    """Extension: one placement of the whole probe array. Every probe is moved back along its
    own direction by ``back_mm`` and then by the vector ``shift_mm``."""

    back_mm: float = 0.0
    shift_mm: Vec3 = (0.0, 0.0, 0.0)


class ProtocolSpec(_Strict):
    pulses: Annotated[int, Field(ge=1, le=1000)] = 90
    pulse_width_us: Annotated[float, Field(gt=0, le=1000)] = 90.0
    pairs: list[PairSpec] = []
    pullback_steps_mm: list[PositiveMm] = []
    """Extension: after the pairs are delivered, all probes move back along their direction by
    the next step and the pairs repeat (positions = 1 + number of steps)."""
    placements: list[PlacementSpec] = []
    """Extension: the pairs are delivered at each placement in turn (pullbacks and sideways
    repositioning); the probes as written are moved by each placement's offsets."""
    train_pause_s: Annotated[float, Field(ge=0, le=3600)] | None = None
    """Extension: the least pause between trains of a pair (s) the plan needs for thermal
    safety."""
    pair_pause_s: Annotated[float, Field(ge=0, le=3600)] | None = None
    """Extension: the least pause between consecutive pairs (s) the plan needs for thermal
    safety."""

    @model_validator(mode="after")
    def _one_kind_of_move(self) -> ProtocolSpec:
        if self.placements and self.pullback_steps_mm:
            raise ValueError("either pullback_steps_mm or placements, not both")
        return self


class SpreadSpec(_Strict):
    """Extension: how a tissue parameter varies between patients, as a factor on the case's
    value: ``lognormal`` (mean 1) with coefficient of variation ``spread``, or ``uniform``
    between ``1 - spread`` and ``1 + spread``."""

    distribution: Literal["lognormal", "uniform"] = "lognormal"
    spread: Annotated[float, Field(ge=0, le=2)]

    @model_validator(mode="after")
    def _positive_factor(self) -> SpreadSpec:
        if self.distribution == "uniform" and self.spread >= 1:
            raise ValueError("a uniform spread below 1 (the factor must stay positive)")
        return self


class PlacementSpreadSpec(_Strict):
    """Extension: placement error of each probe (standard deviations; see irelab.robust)."""

    lateral_sd_mm: Annotated[float, Field(ge=0, le=20)] | None = None
    depth_sd_mm: Annotated[float, Field(ge=0, le=20)] | None = None
    angle_sd_deg: Annotated[float, Field(ge=0, le=30)] | None = None
    correlation: Annotated[float, Field(ge=0, le=1)] | None = None
    """Share of the tip displacement's variance common to all probes (0: independent probes,
    1: the array moves as one)."""


class UncertaintySpec(_Strict):
    """Extension: the uncertainty model of ``irelab robust`` and ``irelab plan --robust``. Keys
    left out take irelab.robust's sourced defaults."""

    seed: Annotated[int, Field(ge=0)] | None = None
    placement: PlacementSpreadSpec = PlacementSpreadSpec()
    conductivity: dict[str, SpreadSpec] = {}
    """By tissue name: the factor on both conductivities (sigma0 and sigma1) of that tissue."""
    threshold: SpreadSpec | None = None
    """The factor on every electroporable tissue's lethal threshold (one per patient)."""


class ReplanChangeSpec(_Strict):
    """Extension: one change a re-plan made: ``kind`` voltage (a pair's voltage), pair (a pair
    added) or reposition (a probe to be re-inserted along its planned track); ``subject`` names
    the pair (``ANODE-CATHODE``) or probe; ``detail`` says what and why, for people."""

    kind: Literal["voltage", "pair", "reposition"]
    subject: Annotated[str, Field(min_length=1)]
    detail: Annotated[str, Field(min_length=1)]


Fraction = Annotated[float, Field(ge=0, le=1)]


class ReplanSpec(_Strict):
    """Extension: a plan re-planned for the probes as placed (``irelab replan``): the plan it
    came from, the file of measured probe positions or spacings, the target coverage (0-1)
    planned, with the probes as placed at the planned voltages and as re-planned, and the
    changes."""

    from_plan: str = Field(alias="from", min_length=1)
    measured: Annotated[str, Field(min_length=1)]
    coverage_planned: Fraction | None = None
    coverage_as_placed: Fraction | None = None
    coverage: Fraction | None = None
    changes: list[ReplanChangeSpec] = []


class CtReferenceSpec(_Strict):
    """Extension: the CT scan a case was made from (what its DICOM exports reference)."""

    path: str
    """The DICOM series directory (or the volume file) as it was read."""
    series_instance_uid: str | None = None
    study_instance_uid: str | None = None
    frame_of_reference_uid: str | None = None


class StructureSpec(_Strict):
    """Extension: one structure of ``imaging.labels`` (its legend entry)."""

    name: Annotated[str, Field(min_length=1)]
    """The segment's name in the segmentation it came from."""
    label: Annotated[int, Field(ge=1)]
    role: Literal["tissue", "obstacle", "body"]
    """A tissue the field solver models, an obstacle a needle path must not cross (ribs,
    bowel...), or the body outline (skin)."""
    tissue: str | None = None
    """The case tissue (``role: tissue``)."""
    code: str | None = None
    """Its SNOMED CT concept, when the segmentation or the matching gave one."""
    source: str | None = None
    """The segmentation file it came from."""


class ImagingSpec(_Strict):
    """Extension: the images a case was made from (``irelab case from-images``): the CT, and a
    label volume on the CT's lattice holding every structure, tissues and obstacles alike (the
    tissues are also ``anatomy.regions`` images of the same file)."""

    ct: CtReferenceSpec
    labels: str
    structures: list[StructureSpec] = []

    @model_validator(mode="after")
    def _distinct(self) -> ImagingSpec:
        labels = [s.label for s in self.structures]
        if len(set(labels)) != len(labels):
            raise ValueError("each structure has its own label")
        for s in self.structures:
            if (s.role == "tissue") != (s.tissue is not None):
                raise ValueError(f"structure {s.name}: a tissue name exactly when role is "
                                 "tissue")
        return self


class TissueFileSpec(_Strict):
    """Extension: a tissue file (e.g. a site calibration written by ``irelab calibrate``) that
    a case names under ``include:``."""

    description: str | None = None
    tissues: dict[str, TissueSpec]


class CaseSpec(_Strict):
    name: Annotated[str, Field(min_length=1)]
    description: str | None = None
    include: list[Annotated[str, Field(min_length=1)]] = []
    """Extension: tissue files (paths relative to the case file) whose ``tissues:`` apply before
    the case's own, in order."""
    domain: DomainSpec
    anatomy: AnatomySpec = AnatomySpec()
    tissues: dict[str, TissueSpec] = {}
    probes: list[ProbeSpec] = []
    protocol: ProtocolSpec | None = None
    uncertainty: UncertaintySpec | None = None
    """Extension: placement and tissue uncertainty (read by irelab.robust)."""
    replan: ReplanSpec | None = None
    """Extension: where a re-planned plan came from (written by ``irelab replan``)."""
    imaging: ImagingSpec | None = None
    """Extension: the CT and segmentations an image-based case was made from."""


def _key(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _unwrap(annotation):
    """The model class (or container) an annotation holds, through Optional and Annotated."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    return annotation


def _model_at(loc: tuple, root: type[BaseModel]) -> type[BaseModel] | None:
    """The model that owns the key at ``loc`` (to list the allowed keys)."""
    current: object = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        else:
            origin = typing.get_origin(current)
            args = typing.get_args(current)
            if origin is list and args:
                current = args[0]
            elif origin is dict and len(args) == 2:
                current = args[1]
            else:
                return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _expected(error: dict, root: type[BaseModel]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        owner = _model_at(tuple(error["loc"][:-1]), root)
        allowed = ", ".join(f.alias or n for n, f in owner.model_fields.items()) if owner \
            else "the documented keys"
        return f"a known key (one of: {allowed})"
    if kind == "missing":
        return "this required key"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {"greater_than": "above", "greater_than_equal": "at least",
                 "less_than": "below", "less_than_equal": "at most"}
        bound = next(iter(ctx.values()))
        return f"a number {words[kind]} {bound}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return error["msg"][0].lower() + error["msg"][1:]


def validate_case_mapping(mapping: object, source: str) -> CaseSpec:
    """The validated case, or one :class:`InputError` naming the first bad key."""
    if not isinstance(mapping, Mapping):
        raise InputError(source, "", "a YAML mapping with name, domain, anatomy, probes, protocol",
                         type(mapping).__name__)
    return _validate(CaseSpec, mapping, source)


def validate_tissue_file_mapping(mapping: object, source: str) -> TissueFileSpec:
    """The validated tissue file, or one :class:`InputError` naming the first bad key."""
    if not isinstance(mapping, Mapping):
        raise InputError(source, "", "a YAML mapping with tissues: (and optionally description:)",
                         type(mapping).__name__)
    return _validate(TissueFileSpec, mapping, source)


def _validate(root: type[BaseModel], mapping: Mapping, source: str):
    try:
        return root.model_validate(dict(mapping))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        loc = tuple(error["loc"])
        got = None if error["type"] in ("missing", "extra_forbidden") else error.get("input")
        if isinstance(got, Mapping | list):
            got = None
        expected = _expected(error, root)
        if loc and isinstance(loc[-1], int) and error["type"] in ("missing", "too_long"):
            loc, expected, got = loc[:-1], "three numbers [x, y, z]", None  # a short vector
        raise InputError(source, _key(loc), expected, got) from None
