"""Registry operations shared by the API, the web pages, CSV import and study seeding.

Every function takes the session and the acting :class:`~irelab.registry.security.Actor`,
enforces the role and site rules, validates, and flushes (so the audit rows and the version
check happen) but never commits: the caller commits once, so a request or a whole import file
is one transaction that either lands completely or not at all.

Errors are :class:`RegistryError` subclasses carrying their HTTP status, so the same rules give
the same answer through every door.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from irelab.outcomes.variables import TABLES, Privacy
from irelab.registry import schemas as s
from irelab.registry.models import (
    AdverseEvent,
    FollowUp,
    Patient,
    Procedure,
    Site,
    Tracked,
    Treatment,
    Tumour,
)
from irelab.registry.security import Actor
from irelab.registry.timeline import check_patient

#: Range of the per-patient date shift in days (both signs), drawn with `secrets`.
DATE_SHIFT_DAYS = (30, 365)
#: Rows per page of a list when the client does not ask (design choice: a screenful).
DEFAULT_PAGE_SIZE = 50
#: Largest page a client may ask for (bounds the work and the reply of one request).
MAX_PAGE_SIZE = 500
#: What a monitor sees instead of a primary-tumour text outside the declared vocabulary.
OTHER = "other"


class RegistryError(Exception):
    """A refused operation; ``status`` is its HTTP status code."""

    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(RegistryError):
    status = 404


class Forbidden(RegistryError):
    status = 403


class Conflict(RegistryError):
    status = 409


class Invalid(RegistryError):
    status = 422

    def __init__(
        self, message: str, field: str | None = None, *, problems: tuple = ()
    ) -> None:
        super().__init__(message, field)
        #: every (field, message) found, when there were several
        self.problems: tuple[tuple[str, str], ...] = tuple(problems) or ((field or "", message),)


class Busy(RegistryError):
    """The database stayed locked by other writers for longer than the busy timeout."""

    status = 503


@dataclass(frozen=True)
class Resource:
    """One clinical resource: its table, schemas and what pseudonymisation changes."""

    name: str
    model: type[Tracked]
    create: type[BaseModel]
    update: type[BaseModel]
    read: type[BaseModel]
    parents: Callable[[Session, Actor, dict[str, Any]], dict[str, Any]]
    pseudonymised_read: type[BaseModel]

    @property
    def table(self) -> str:
        return self.model.__tablename__


# --- visibility ----------------------------------------------------------------------------------
def require_reader(actor: Actor) -> None:
    if not actor.reads_clinical:
        raise Forbidden(f"role {actor.role!r} cannot read patient data")


def require_writer(actor: Actor) -> None:
    if not actor.writes_clinical:
        raise Forbidden(f"role {actor.role!r} cannot change patient data")


def visible(actor: Actor, model: type[Tracked], include_retired: bool = False) -> Select:
    """The rows of ``model`` that ``actor`` may see (own site only for investigators)."""
    require_reader(actor)
    query = select(model)
    if not include_retired:
        query = query.where(model.retired_at.is_(None))
    if not actor.all_sites:
        if model is Patient:
            query = query.where(Patient.site_id == actor.site_id)
        else:
            query = query.join(Patient, Patient.id == model.patient_id).where(
                Patient.site_id == actor.site_id
            )
    return query.order_by(model.id)


def get_visible(
    session: Session, actor: Actor, model: type[Tracked], record_id: int, *, live: bool = False
) -> Tracked:
    """Row ``record_id`` of ``model`` if ``actor`` may see it, else :class:`NotFound`.

    Rows of other sites answer exactly like rows that do not exist (no existence leak).
    """
    row = session.scalars(
        visible(actor, model, include_retired=not live).where(model.id == record_id)
    ).first()
    if row is None:
        raise NotFound(f"no {model.__tablename__[:-1].replace('_', ' ')} {record_id}")
    return row


# --- parent resolution per resource ---------------------------------------------------------------
def _patient_parents(session: Session, actor: Actor, values: dict[str, Any]) -> dict[str, Any]:
    code = values.pop("site", None)
    if actor.all_sites:
        if code is None:
            raise Invalid("site: a site code is required", "site")
        site = session.scalars(select(Site).where(Site.code == code)).first()
        if site is None or site.retired_at is not None:
            raise Invalid(f"site: unknown site code {code!r}", "site")
        values["site_id"] = site.id
    else:
        own = session.get(Site, actor.site_id) if actor.site_id is not None else None
        if own is None:
            raise Forbidden("this account has no site")
        if code is not None and code != own.code:
            raise Forbidden("investigators enter patients of their own site only")
        values["site_id"] = own.id
    study_id = values["study_id"]
    if session.scalars(select(Patient.id).where(Patient.study_id == study_id)).first():
        raise Conflict(f"study_id {study_id!r} is already registered", "study_id")
    low, high = DATE_SHIFT_DAYS
    values["date_shift_days"] = secrets.choice((-1, 1)) * (low + secrets.randbelow(high - low + 1))
    return values


def _by_patient(session: Session, actor: Actor, values: dict[str, Any]) -> dict[str, Any]:
    get_visible(session, actor, Patient, values["patient_id"], live=True)
    return values


def _by_procedure(session: Session, actor: Actor, values: dict[str, Any]) -> dict[str, Any]:
    procedure = get_visible(session, actor, Procedure, values["procedure_id"], live=True)
    values["patient_id"] = procedure.patient_id
    return values


def _followup_parents(session: Session, actor: Actor, values: dict[str, Any]) -> dict[str, Any]:
    _by_patient(session, actor, values)
    if values.get("tumour_id") is not None:
        get_visible(session, actor, Tumour, values["tumour_id"], live=True)
    return values


def _treatment_parents(session: Session, actor: Actor, values: dict[str, Any]) -> dict[str, Any]:
    _by_procedure(session, actor, values)
    get_visible(session, actor, Tumour, values["tumour_id"], live=True)
    return values


def _resource(name: str, model: type[Tracked], schemas: tuple, parents: Callable) -> Resource:
    create, update, read = schemas
    return Resource(
        name, model, create, update, read, parents, s.pseudonymised_read_schema(name)
    )


RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        _resource(
            "patients",
            Patient,
            (s.PatientCreate, s.PatientUpdate, s.PatientRead),
            _patient_parents,
        ),
        _resource("tumours", Tumour, (s.TumourCreate, s.TumourUpdate, s.TumourRead), _by_patient),
        _resource(
            "procedures",
            Procedure,
            (s.ProcedureCreate, s.ProcedureUpdate, s.ProcedureRead),
            _by_patient,
        ),
        _resource(
            "treatments",
            Treatment,
            (s.TreatmentCreate, s.TreatmentUpdate, s.TreatmentRead),
            _treatment_parents,
        ),
        _resource(
            "adverse_events",
            AdverseEvent,
            (s.AdverseEventCreate, s.AdverseEventUpdate, s.AdverseEventRead),
            _by_procedure,
        ),
        _resource(
            "followups",
            FollowUp,
            (s.FollowUpCreate, s.FollowUpUpdate, s.FollowUpRead),
            _followup_parents,
        ),
    )
}


# --- reading ---------------------------------------------------------------------------------
def shift_date(value: dt.date | None, days: int) -> dt.date | None:
    """``value`` moved by ``days`` whole days (None stays None, and so does a date the shift
    would carry outside the calendar: stored dates are range-checked, so that is only old data)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    try:
        return value + dt.timedelta(days=days)
    except OverflowError:
        return None


def pseudonymised_value(variable_name: str, table: str, value: Any, shift_days: int) -> Any:
    """What a monitor sees of ``value`` of declared ``table.variable_name``."""
    variable = TABLES[table][variable_name]
    if variable.privacy is Privacy.SHIFT:
        return shift_date(value, shift_days)
    if variable.privacy is Privacy.VOCABULARY:
        return value if value is None or value in variable.vocabulary else OTHER
    if variable.privacy in (Privacy.WITHHOLD, Privacy.HIDDEN):
        return None
    return value


def to_read(session: Session, actor: Actor, resource: Resource, row: Tracked) -> BaseModel:
    """The Read model of ``row``; for monitors the pseudonymised one (whole dates shifted by the
    patient's offset, free text, usernames and record-keeping times left out)."""
    if not actor.pseudonymised:
        return resource.read.model_validate(row)
    patient = row if isinstance(row, Patient) else session.get(Patient, row.patient_id)
    values: dict[str, Any] = {"id": row.id, "version": row.version}
    values["retired"] = row.retired_at is not None
    for name in resource.pseudonymised_read.model_fields:
        if name in TABLES[resource.name]:
            values[name] = pseudonymised_value(
                name, resource.name, getattr(row, name), patient.date_shift_days
            )
    return resource.pseudonymised_read.model_validate(values)


@dataclass(frozen=True)
class Page:
    """One page of a list: its rows and the cursor of the next page (None on the last)."""

    rows: list[Any]
    next_after: int | None


def page_of(session: Session, query: Select, id_column: Any, after: int | None, limit: int) -> Page:
    """Keyset pagination: rows of ``query`` with ``id_column`` > ``after``, ``limit`` at most."""
    if after is not None:
        query = query.where(id_column > after)
    rows = list(session.scalars(query.order_by(None).order_by(id_column).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].id if more and rows else None)


def list_rows(
    session: Session,
    actor: Actor,
    resource: Resource,
    *,
    include_retired: bool = False,
    after: int | None = None,
    limit: int | None = None,
    **filters: int | None,
) -> list[Tracked]:
    """Visible rows of ``resource``, optionally filtered by parent ids (``patient_id=...``);
    all of them, or with ``limit`` one page after id ``after``."""
    return list_page(
        session, actor, resource, include_retired=include_retired, after=after,
        limit=limit, **filters,
    ).rows


def list_page(
    session: Session,
    actor: Actor,
    resource: Resource,
    *,
    include_retired: bool = False,
    after: int | None = None,
    limit: int | None = None,
    **filters: int | None,
) -> Page:
    """One page of :func:`list_rows` (every row when ``limit`` is None)."""
    query = visible(actor, resource.model, include_retired)
    for name, value in filters.items():
        if value is not None:
            query = query.where(getattr(resource.model, name) == value)
    if limit is None:
        return Page(list(session.scalars(query)), None)
    return page_of(session, query, resource.model.id, after, limit)


# --- writing -------------------------------------------------------------------------------------
def _check_dates(session: Session, resource: Resource, patient_id: int) -> None:
    problems = check_patient(session, patient_id)
    if problems:
        mine = [p for p in problems if resource.table in p.fields] or problems
        found = [
            (p.fields.get(resource.table) or next(iter(p.fields.values())), p.message)
            for p in mine
        ]
        field, message = found[0]
        raise Invalid(f"{field}: {message}", field, problems=found)


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(
            "this record was changed by someone else since you read it: reload and retry"
        ) from exc
    except IntegrityError as exc:
        # the database's own message names tables and constraints: it is not shown to users
        raise Conflict(
            "this change conflicts with a stored record (a duplicate or a missing reference)"
        ) from exc
    except OperationalError as exc:
        # SQLite: other writers held the database for longer than the busy timeout
        # (irelab.registry.database); nothing of this request was stored.
        if "locked" not in str(exc.orig):
            raise
        raise Busy("the registry is busy: nothing was stored, try again") from exc


def create(session: Session, actor: Actor, resource: Resource, payload: BaseModel) -> Tracked:
    """Validate and add a new row of ``resource`` (flushed, not committed)."""
    require_writer(actor)
    values = resource.parents(session, actor, payload.model_dump())
    row = resource.model(**values)
    session.add(row)
    _flush(session)
    _check_dates(session, resource, row.id if isinstance(row, Patient) else row.patient_id)
    return row


def _check_version(row: Tracked, version: int) -> None:
    if row.version != version:
        raise Conflict(
            f"version {version} is stale: the record is at version {row.version} "
            "(changed by someone else since you read it); reload and retry",
            "version",
        )


def update(
    session: Session, actor: Actor, resource: Resource, record_id: int, payload: BaseModel
) -> Tracked:
    """Apply the fields set in ``payload`` if its ``version`` is current (else 409)."""
    require_writer(actor)
    row = get_visible(session, actor, resource.model, record_id, live=True)
    values = payload.model_dump(exclude_unset=True)
    _check_version(row, values.pop("version"))
    for name, value in values.items():
        setattr(row, name, value)
    _flush(session)
    _check_dates(session, resource, row.id if isinstance(row, Patient) else row.patient_id)
    return row


def retire(
    session: Session, actor: Actor, resource: Resource, record_id: int, request: s.RetireRequest
) -> Tracked:
    """Mark a row retired (hidden by default, kept with its history); never deletes."""
    require_writer(actor)
    row = get_visible(session, actor, resource.model, record_id, live=True)
    _check_version(row, request.version)
    row.retired_at = dt.datetime.now(dt.UTC)
    row.retired_by = actor.username
    row.retire_reason = request.reason
    _flush(session)
    return row
