"""Pydantic schemas of the registry API: separate Create / Read / Update models per resource.

Create models carry what a person types; Update models carry only what may change, every field
optional, plus the ``version`` that was read (optimistic locking: a stale version is refused with
HTTP 409). Read models add identity, version and provenance. Cross-record date checks (a
follow-up before the procedure, ...) need the database and live in :mod:`irelab.registry.timeline`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from irelab.registry.terms import CTCAE_TERMS, CTCAE_VERSION

Sex = Literal["F", "M"]
VitalStatus = Literal["alive", "dead", "lost"]
Approach = Literal["percutaneous", "open", "laparoscopic"]
Modality = Literal["CT", "MRI", "PET-CT", "US"]
Finding = Literal[
    "complete_ablation",
    "residual_unablated_tumour",
    "local_tumour_progression",
    "new_intrahepatic",
    "extrahepatic",
]
Relation = Literal["related", "possibly", "unrelated"]
AeOutcome = Literal["resolved", "ongoing", "fatal"]
Role = Literal["investigator", "data_manager", "monitor", "admin"]
#: Study IDs are codes, never names: letters, digits, '-' and '_' only.
StudyId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
FreeText = Annotated[str | None, Field(default=None, max_length=4000)]
Millimetres = Annotated[float, Field(ge=0, le=500)]


def _known_term(term: str) -> str:
    if term not in CTCAE_TERMS:
        raise ValueError(
            f"a CTCAE v{CTCAE_VERSION} term from the registry's list "
            f"(irelab.registry.terms), got {term!r}"
        )
    return term


CtcaeTerm = Annotated[str, AfterValidator(_known_term)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ReadBase(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    version: int
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    updated_by: str
    retired_at: dt.datetime | None = None
    retired_by: str | None = None
    retire_reason: str | None = None


class RetireRequest(_Strict):
    """Retire a record: the version read and why (records are retired, never deleted)."""

    version: int
    reason: str = Field(min_length=1, max_length=4000)


# --- sites and users ---------------------------------------------------------------------------
class SiteCreate(_Strict):
    code: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    name: str = Field(min_length=1, max_length=200)


class SiteRead(_ReadBase):
    code: str
    name: str


class UserCreate(_Strict):
    username: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    password: str = Field(min_length=8, max_length=72)
    role: Role
    site: str | None = None


class UserRead(_ReadBase):
    username: str
    role: Role
    site_id: int | None = None


# --- patients -----------------------------------------------------------------------------------
class PatientCreate(_Strict):
    study_id: StudyId
    site: str | None = Field(None, description="site code; investigators get their own site")
    sex: Sex
    age_years: int = Field(ge=18, le=110)
    inclusion_date: dt.date
    vital_status: VitalStatus = "alive"
    last_contact_date: dt.date
    death_date: dt.date | None = None
    notes: FreeText = None


class PatientUpdate(_Strict):
    version: int
    sex: Sex | None = None
    age_years: int | None = Field(None, ge=18, le=110)
    inclusion_date: dt.date | None = None
    vital_status: VitalStatus | None = None
    last_contact_date: dt.date | None = None
    death_date: dt.date | None = None
    notes: FreeText = None


class PatientRead(_ReadBase):
    study_id: str
    site_id: int
    sex: Sex
    age_years: int
    inclusion_date: dt.date
    vital_status: VitalStatus
    last_contact_date: dt.date
    death_date: dt.date | None
    notes: str | None


# --- tumours ------------------------------------------------------------------------------------
class TumourCreate(_Strict):
    patient_id: int
    origin: str = Field(min_length=1, max_length=64)
    size_mm: Millimetres
    segment: int = Field(ge=1, le=8)
    distance_vessel_mm: Millimetres | None = None
    distance_bile_duct_mm: Millimetres | None = None
    notes: FreeText = None


class TumourUpdate(_Strict):
    version: int
    origin: str | None = Field(None, min_length=1, max_length=64)
    size_mm: Millimetres | None = None
    segment: int | None = Field(None, ge=1, le=8)
    distance_vessel_mm: Millimetres | None = None
    distance_bile_duct_mm: Millimetres | None = None
    notes: FreeText = None


class TumourRead(_ReadBase):
    patient_id: int
    origin: str
    size_mm: float
    segment: int
    distance_vessel_mm: float | None
    distance_bile_duct_mm: float | None
    notes: str | None


# --- procedures and treatments ------------------------------------------------------------------
class ProcedureCreate(_Strict):
    patient_id: int
    date: dt.date
    approach: Approach
    general_anaesthesia: bool = True
    neuromuscular_block: bool = True
    cardiac_sync: bool = True
    n_probes: int = Field(ge=1, le=12)
    n_pairs: int = Field(ge=1, le=66)
    pulses: int = Field(ge=1, le=10000)
    max_voltage_V: float | None = Field(None, ge=0, le=3000)  # noqa: N815
    max_current_A: float | None = Field(None, ge=0, le=100)  # noqa: N815
    notes: FreeText = None


class ProcedureUpdate(_Strict):
    version: int
    date: dt.date | None = None
    approach: Approach | None = None
    general_anaesthesia: bool | None = None
    neuromuscular_block: bool | None = None
    cardiac_sync: bool | None = None
    n_probes: int | None = Field(None, ge=1, le=12)
    n_pairs: int | None = Field(None, ge=1, le=66)
    pulses: int | None = Field(None, ge=1, le=10000)
    max_voltage_V: float | None = Field(None, ge=0, le=3000)  # noqa: N815
    max_current_A: float | None = Field(None, ge=0, le=100)  # noqa: N815
    notes: FreeText = None


class ProcedureRead(_ReadBase):
    patient_id: int
    date: dt.date
    approach: Approach
    general_anaesthesia: bool
    neuromuscular_block: bool
    cardiac_sync: bool
    n_probes: int
    n_pairs: int
    pulses: int
    max_voltage_V: float | None  # noqa: N815
    max_current_A: float | None  # noqa: N815
    notes: str | None


class TreatmentCreate(_Strict):
    procedure_id: int
    tumour_id: int
    session: int = Field(1, ge=1, le=20)
    technical_success: bool


class TreatmentUpdate(_Strict):
    version: int
    session: int | None = Field(None, ge=1, le=20)
    technical_success: bool | None = None


class TreatmentRead(_ReadBase):
    patient_id: int
    procedure_id: int
    tumour_id: int
    session: int
    technical_success: bool


# --- adverse events -----------------------------------------------------------------------------
class AdverseEventCreate(_Strict):
    procedure_id: int
    term: CtcaeTerm
    ctcae_version: Literal["5.0"] = CTCAE_VERSION
    ctcae_grade: int = Field(ge=1, le=5)
    cirse_grade: int = Field(ge=1, le=6)
    onset_day: int = Field(ge=0, le=3650)
    serious: bool
    relation: Relation
    outcome: AeOutcome
    notes: FreeText = None


class AdverseEventUpdate(_Strict):
    version: int
    term: CtcaeTerm | None = None
    ctcae_grade: int | None = Field(None, ge=1, le=5)
    cirse_grade: int | None = Field(None, ge=1, le=6)
    onset_day: int | None = Field(None, ge=0, le=3650)
    serious: bool | None = None
    relation: Relation | None = None
    outcome: AeOutcome | None = None
    notes: FreeText = None


class AdverseEventRead(_ReadBase):
    patient_id: int
    procedure_id: int
    term: str
    ctcae_version: str
    ctcae_grade: int
    cirse_grade: int
    onset_day: int
    serious: bool
    relation: Relation
    outcome: AeOutcome
    notes: str | None


# --- follow-up imaging --------------------------------------------------------------------------
class FollowUpCreate(_Strict):
    patient_id: int
    tumour_id: int | None = None
    date: dt.date
    modality: Modality
    finding: Finding
    notes: FreeText = None


class FollowUpUpdate(_Strict):
    version: int
    date: dt.date | None = None
    modality: Modality | None = None
    finding: Finding | None = None
    notes: FreeText = None


class FollowUpRead(_ReadBase):
    patient_id: int
    tumour_id: int | None
    date: dt.date
    modality: Modality
    finding: Finding
    notes: str | None


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: dt.datetime
    username: str
    action: str
    table_name: str | None
    record_id: int | None
    before: dict | None
    after: dict | None


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
