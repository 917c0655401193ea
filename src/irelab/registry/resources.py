"""The registry's clinical resources: for each table its schemas and the rules that tie a new row
to its parents (the patient's site and date shift, the procedure a treatment or adverse event
belongs to, the treatment an ablation zone belongs to).

:data:`RESOURCES` is what the API routers, the web pages, CSV exchange, study seeding and the
imports of procedures and ablation zones look a resource up in; the operations on a resource are
in :mod:`irelab.registry.service`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from irelab.registry import schemas as s
from irelab.registry.models import (
    AblationZone,
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
from irelab.registry.service import Conflict, Forbidden, Invalid, Resource, get_visible

#: Range of the per-patient date shift in days (both signs), drawn with `secrets`.
DATE_SHIFT_DAYS = (30, 365)


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


def treated_in(session: Session, procedure_id: int, tumour_id: int) -> bool:
    """Whether a live treatment records tumour ``tumour_id`` as treated in ``procedure_id``."""
    return session.scalars(
        select(Treatment.id).where(
            Treatment.procedure_id == procedure_id,
            Treatment.tumour_id == tumour_id,
            Treatment.retired_at.is_(None),
        )
    ).first() is not None


def _zone_parents(session: Session, actor: Actor, values: dict[str, Any]) -> dict[str, Any]:
    """An ablation zone belongs to a treatment: the tumour was treated in the procedure (both
    the patient's); one zone per treatment."""
    _by_procedure(session, actor, values)
    procedure, tumour = values["procedure_id"], values["tumour_id"]
    row = get_visible(session, actor, Tumour, tumour, live=True)
    if row.patient_id != values["patient_id"]:
        raise Invalid(
            f"tumour_id: tumour {tumour} belongs to another patient than procedure {procedure}",
            "tumour_id",
        )
    if not treated_in(session, procedure, tumour):
        raise Invalid(
            f"tumour_id: tumour {tumour} was not treated in procedure {procedure} "
            "(record the treatment first)",
            "tumour_id",
        )
    stored = session.scalars(
        select(AblationZone).where(
            AblationZone.procedure_id == procedure, AblationZone.tumour_id == tumour
        )
    ).first()
    if stored is not None:
        fix = (
            "it was retired, and a retired record keeps its place"
            if stored.retired_at is not None
            else f"correct that record (version {stored.version}) instead"
        )
        raise Conflict(
            f"tumour {tumour} in procedure {procedure} has its ablation zone already (record "
            f"{stored.id}): {fix}",
            "tumour_id",
        )
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
            "ablation_zones",
            AblationZone,
            (s.AblationZoneCreate, s.AblationZoneUpdate, s.AblationZoneRead),
            _zone_parents,
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
