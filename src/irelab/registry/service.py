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
_TIMESTAMPS = ("created_at", "updated_at", "retired_at")


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


@dataclass(frozen=True)
class Resource:
    """One clinical resource: its table, schemas and what pseudonymisation changes."""

    name: str
    model: type[Tracked]
    create: type[BaseModel]
    update: type[BaseModel]
    read: type[BaseModel]
    parents: Callable[[Session, Actor, dict[str, Any]], dict[str, Any]]
    date_fields: tuple[str, ...] = ()
    text_fields: tuple[str, ...] = ("notes",)

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


RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        Resource(
            "patients",
            Patient,
            s.PatientCreate,
            s.PatientUpdate,
            s.PatientRead,
            _patient_parents,
            ("inclusion_date", "last_contact_date", "death_date"),
        ),
        Resource("tumours", Tumour, s.TumourCreate, s.TumourUpdate, s.TumourRead, _by_patient),
        Resource(
            "procedures",
            Procedure,
            s.ProcedureCreate,
            s.ProcedureUpdate,
            s.ProcedureRead,
            _by_patient,
            ("date",),
        ),
        Resource(
            "treatments",
            Treatment,
            s.TreatmentCreate,
            s.TreatmentUpdate,
            s.TreatmentRead,
            _treatment_parents,
            (),
            (),
        ),
        Resource(
            "adverse_events",
            AdverseEvent,
            s.AdverseEventCreate,
            s.AdverseEventUpdate,
            s.AdverseEventRead,
            _by_procedure,
        ),
        Resource(
            "followups",
            FollowUp,
            s.FollowUpCreate,
            s.FollowUpUpdate,
            s.FollowUpRead,
            _followup_parents,
            ("date",),
        ),
    )
}


# --- reading -------------------------------------------------------------------------------------
def to_read(session: Session, actor: Actor, resource: Resource, row: Tracked) -> BaseModel:
    """The Read model of ``row``; pseudonymised (no free text, dates shifted) for monitors."""
    read = resource.read.model_validate(row)
    if not actor.pseudonymised:
        return read
    patient = row if isinstance(row, Patient) else session.get(Patient, row.patient_id)
    shift = dt.timedelta(days=patient.date_shift_days)
    changes: dict[str, Any] = {name: None for name in (*resource.text_fields, "retire_reason")}
    for name in (*resource.date_fields, *_TIMESTAMPS):
        value = getattr(read, name)
        changes[name] = None if value is None else value + shift
    return read.model_copy(update=changes)


def list_rows(
    session: Session,
    actor: Actor,
    resource: Resource,
    *,
    include_retired: bool = False,
    **filters: int | None,
) -> list[Tracked]:
    """Visible rows of ``resource``, optionally filtered by parent ids (``patient_id=...``)."""
    query = visible(actor, resource.model, include_retired)
    for name, value in filters.items():
        if value is not None:
            query = query.where(getattr(resource.model, name) == value)
    return list(session.scalars(query))


# --- writing -------------------------------------------------------------------------------------
def _check_dates(session: Session, resource: Resource, patient_id: int) -> None:
    problems = check_patient(session, patient_id)
    if problems:
        mine = [p for p in problems if resource.table in p.fields] or problems
        problem = mine[0]
        field = problem.fields.get(resource.table) or next(iter(problem.fields.values()))
        raise Invalid(f"{field}: {problem.message}", field)


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(
            "this record was changed by someone else since you read it: reload and retry"
        ) from exc
    except IntegrityError as exc:
        raise Conflict(f"conflicts with a stored record: {exc.orig}") from exc
    except OperationalError as exc:
        # SQLite: another transaction is writing the database at this moment (it refuses the
        # second writer rather than deadlock); nothing of this request was stored.
        if "locked" not in str(exc.orig):
            raise
        raise Conflict(
            "the registry is being changed by someone else at this moment: reload and retry"
        ) from exc


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
