"""Pydantic schemas of the registry API, generated from the declared tables
(:mod:`irelab.outcomes.variables`): Create / Update / Read / pseudonymised Read per resource.

Create models carry what a person types; Update models carry only what may change, every field
optional (leaving a required field out keeps it; setting it to null is refused), plus the
``version`` that was read (optimistic locking: a stale version is refused with HTTP 409). Read
models add identity, version and provenance; the pseudonymised Read models of monitors leave out
free text, usernames and record-keeping times (dates are shifted by the service). Cross-record
date checks (a follow-up before the procedure, ...) need the database and live in
:mod:`irelab.registry.timeline`.

Every text is checked to be valid Unicode without control characters (a lone surrogate cannot be
stored in UTF-8), every number finite, every record id within the database's integer range, every
date within the declared study range; numbers and dates outside their range are refused before
anything touches the database.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
    model_validator,
)

from irelab.outcomes.variables import (
    EARLIEST_DATE,
    FREE_TEXT_MAX_CHARS,
    MAX_RECORD_ID,
    TABLES,
    Kind,
    Privacy,
    Variable,
    latest_date,
)
from irelab.registry.terms import CTCAE_TERMS, CTCAE_VERSION

Role = Literal["investigator", "data_manager", "monitor", "admin"]
#: Record ids: 1 .. PostgreSQL's integer maximum (larger ones cannot exist, and would overflow).
RecordId = Annotated[int, Field(ge=1, le=MAX_RECORD_ID)]
#: Usernames: a letter or digit first, then letters, digits and _ . @ - (no '.', '..' or '/').
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
#: bcrypt hashes at most 72 bytes of a password (bcrypt's limit; UTF-8 bytes, not characters).
PASSWORD_MAX_BYTES = 72
PASSWORD_MIN_CHARS = 8
_LINE_BREAKS = frozenset("\n\r\t")


def _clean(text: str, *, multiline: bool) -> str:
    """``text`` if it is storable Unicode without control characters, else ValueError."""
    for char in text:
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise ValueError("text must be valid Unicode (it holds a lone surrogate)")
        if unicodedata.category(char) == "Cc" and not (multiline and char in _LINE_BREAKS):
            raise ValueError("text must not hold control characters")
    return text


def _line(text: str) -> str:
    return _clean(text, multiline=False)


def _multiline(text: str) -> str:
    return _clean(text, multiline=True)


def _in_study_range(value: dt.date) -> dt.date:
    latest = latest_date()
    if not EARLIEST_DATE <= value <= latest:
        raise ValueError(f"a date from {EARLIEST_DATE} to {latest}")
    return value


def _password_bytes(password: str) -> str:
    if len(password.encode("utf-8", "surrogatepass")) > PASSWORD_MAX_BYTES:
        raise ValueError(f"a password of at most {PASSWORD_MAX_BYTES} bytes in UTF-8")
    return password


def _known_term(term: str) -> str:
    if term not in CTCAE_TERMS:
        raise ValueError(
            f"a CTCAE v{CTCAE_VERSION} term from the registry's list (irelab.registry.terms)"
        )
    return term


StudyDate = Annotated[dt.date, AfterValidator(_in_study_range)]
ShortText = Annotated[str, AfterValidator(_line)]
FreeText = Annotated[
    str | None, Field(default=None, max_length=FREE_TEXT_MAX_CHARS), AfterValidator(_multiline)
]


def field_type(variable: Variable) -> Any:
    """The pydantic type of a value of ``variable`` (without None)."""
    kind = variable.kind
    if kind is Kind.CHOICE:
        return Literal[variable.choices]  # type: ignore[valid-type]
    if kind is Kind.REFERENCE:
        return RecordId
    if kind is Kind.BOOL:
        return bool
    if kind is Kind.DATE:
        return StudyDate
    if kind in (Kind.INT, Kind.FLOAT):
        return Annotated[
            int if kind is Kind.INT else float,
            Field(ge=variable.low, le=variable.high, allow_inf_nan=False),
        ]
    if kind is Kind.FREE_TEXT:
        return Annotated[
            str, StringConstraints(max_length=FREE_TEXT_MAX_CHARS), AfterValidator(_multiline)
        ]
    text = Annotated[
        str,
        StringConstraints(min_length=1, max_length=variable.width, pattern=variable.pattern),
        AfterValidator(_line),
    ]
    if variable.name == "term":
        return Annotated[text, AfterValidator(_known_term)]
    return text


def _read_type(variable: Variable) -> Any:
    """The type of a stored value (no range checks: reading never fails on older rows)."""
    base = {
        Kind.INT: int,
        Kind.REFERENCE: int,
        Kind.FLOAT: float,
        Kind.BOOL: bool,
        Kind.DATE: dt.date,
    }.get(variable.kind, str)
    return base if variable.required else base | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Update(_Strict):
    """Base of Update models: ``version`` and no null for a required field."""

    version: Annotated[int, Field(ge=1, le=MAX_RECORD_ID)]
    _required: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> _Update:
        for name in sorted(self.model_fields_set & self._required):
            if getattr(self, name) is None:
                raise ValueError(f"{name} may be left out but not set to empty (null)")
        return self


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


class _PseudonymisedReadBase(BaseModel):
    """What a monitor sees of a record: no usernames, no record-keeping times, no free text."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    version: int
    retired: bool


def _model_name(table: str, suffix: str) -> str:
    singular = {"patients": "Patient", "followups": "FollowUp", "adverse_events": "AdverseEvent"}
    return singular.get(table, table[:-1].title().replace("_", "")) + suffix


def create_schema(table: str, **extra: Any) -> type[BaseModel]:
    """The Create model of declared ``table``: the entered variables, plus ``extra`` fields."""
    fields: dict[str, Any] = {}
    for v in TABLES[table].variables:
        if not v.entered:
            continue
        kind = field_type(v)
        if v.default is not None:
            fields[v.name] = (kind, v.default)
        elif v.required:
            fields[v.name] = (kind, ...)
        else:
            fields[v.name] = (kind | None, None)
    fields.update(extra)
    return create_model(_model_name(table, "Create"), __base__=_Strict, **fields)


def update_schema(table: str) -> type[BaseModel]:
    """The Update model of declared ``table``: every editable variable, optional."""
    editable = [v for v in TABLES[table].variables if v.entered and v.editable]
    fields = {v.name: (field_type(v) | None, None) for v in editable}
    model = create_model(_model_name(table, "Update"), __base__=_Update, **fields)
    model._required = frozenset(v.name for v in editable if v.required)
    return model


def read_schema(table: str) -> type[BaseModel]:
    """The Read model of declared ``table`` (every column but the hidden ones)."""
    fields = {
        v.name: (_read_type(v), ...)
        for v in TABLES[table].variables
        if v.privacy is not Privacy.HIDDEN
    }
    return create_model(_model_name(table, "Read"), __base__=_ReadBase, **fields)


def pseudonymised_read_schema(table: str) -> type[BaseModel]:
    """The Read model a monitor gets: free text and hidden columns left out."""
    fields = {
        v.name: (_read_type(v), ...)
        for v in TABLES[table].variables
        if v.privacy not in (Privacy.HIDDEN, Privacy.WITHHOLD)
    }
    return create_model(
        _model_name(table, "PseudonymisedRead"), __base__=_PseudonymisedReadBase, **fields
    )


class RetireRequest(_Strict):
    """Retire a record: the version read and why (records are retired, never deleted)."""

    version: Annotated[int, Field(ge=1, le=MAX_RECORD_ID)]
    reason: Annotated[
        str, StringConstraints(min_length=1, max_length=4000), AfterValidator(_multiline)
    ]


# --- sites and users ---------------------------------------------------------------------------
class SiteCreate(_Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_line)]


class SiteRead(_ReadBase):
    code: str
    name: str


Username = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN)]
Password = Annotated[
    str,
    StringConstraints(min_length=PASSWORD_MIN_CHARS),
    AfterValidator(_password_bytes),
    AfterValidator(_line),
]


class UserCreate(_Strict):
    username: Username
    password: Password
    role: Role
    site: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")] | None = None


class UserRead(_ReadBase):
    username: str
    role: Role
    site_id: int | None = None
    approved_at: dt.datetime | None = None
    approved_by: str | None = None


class ApproveRequest(_Strict):
    """Approve a pending account: the version read."""

    version: Annotated[int, Field(ge=1, le=MAX_RECORD_ID)]


# --- clinical resources, generated from the declaration -----------------------------------------
SiteCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]

PatientCreate = create_schema(
    "patients",
    site=(
        SiteCode | None,
        Field(None, description="site code; investigators get their own site"),
    ),
)
PatientUpdate = update_schema("patients")
PatientRead = read_schema("patients")

TumourCreate = create_schema("tumours")
TumourUpdate = update_schema("tumours")
TumourRead = read_schema("tumours")

ProcedureCreate = create_schema("procedures")
ProcedureUpdate = update_schema("procedures")
ProcedureRead = read_schema("procedures")

TreatmentCreate = create_schema("treatments")
TreatmentUpdate = update_schema("treatments")
TreatmentRead = read_schema("treatments")

AdverseEventCreate = create_schema("adverse_events")
AdverseEventUpdate = update_schema("adverse_events")
AdverseEventRead = read_schema("adverse_events")

FollowUpCreate = create_schema("followups")
FollowUpUpdate = update_schema("followups")
FollowUpRead = read_schema("followups")

ProcedurePairRead = read_schema("procedure_pairs")


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
