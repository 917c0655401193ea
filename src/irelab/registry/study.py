"""The bridge to the outcome analysis: registry rows <-> ``irelab.outcomes.StudyData`` frames
(the ablation zones with their metrics, not their provenance).

:func:`load_study_data` reads the live (non-retired) records ``user`` may see - own site for
investigators, pseudonymised with shifted dates for monitors - into the StudyData frames the
outcomes helper analyses. :func:`store_study_data` enters a StudyData (e.g. the synthetic demo
cohort) through the same service rules as the API, so it is validated and audited like any
other entry. Record ids become strings in the frames (``tumour_id`` "17").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from irelab.outcomes.data import SCHEMA
from irelab.registry import resources, service
from irelab.registry import schemas as s
from irelab.registry.accounts import add_site
from irelab.registry.audit import ACTOR_KEY
from irelab.registry.models import (
    AblationZone,
    AdverseEvent,
    FollowUp,
    Patient,
    Procedure,
    Site,
    Treatment,
    Tumour,
    User,
)
from irelab.registry.security import Actor

#: The ablation-zone metrics the outcome analysis reads (the provenance stays in the registry):
#: the columns of its ``ablation_zones`` frame other than the record links.
ZONE_COLUMNS = tuple(c for c in SCHEMA["ablation_zones"] if c not in ("procedure_id", "tumour_id"))


def resolve_actor(session: Session, user: Actor | str) -> Actor:
    """The Actor of ``user`` (an Actor, or the name of an active user), set as the session actor."""
    if isinstance(user, Actor):
        session.info[ACTOR_KEY] = user.username
        return user
    row = session.scalars(select(User).where(User.username == user)).first()
    if row is None or row.retired_at is not None:
        raise service.Forbidden(f"no active user {user!r}")
    session.info[ACTOR_KEY] = row.username
    return Actor(row.username, row.role, row.site_id)


def _frame(name: str, records: list, derived: dict[str, Any], dates: tuple[str, ...] = ()):
    """StudyData frame ``name`` (its columns as :data:`irelab.outcomes.data.SCHEMA` declares
    them): per record, the columns in ``derived`` computed from it, every other column the
    record's attribute of that name; the ``dates`` columns as pandas datetimes."""
    import pandas as pd

    columns = list(SCHEMA[name])
    rows = [
        {c: derived[c](r) if c in derived else getattr(r, c) for c in columns} for r in records
    ]
    frame = pd.DataFrame(rows, columns=columns)
    for column in dates:
        frame[column] = pd.to_datetime(frame[column])
    return frame


def load_study_data(session: Session, user: Actor | str):
    """The live records ``user`` may see as an ``irelab.outcomes.StudyData``."""
    from irelab.outcomes import StudyData

    actor = resolve_actor(session, user)
    patients = list(session.scalars(service.visible(actor, Patient)))
    shift = {
        p.id: dt.timedelta(days=p.date_shift_days if actor.pseudonymised else 0) for p in patients
    }
    study = {p.id: p.study_id for p in patients}
    sites = dict(session.execute(select(Site.id, Site.code)).all())

    def day(value: dt.date | None, patient_id: int) -> dt.date | None:
        return None if value is None else value + shift[patient_id]

    def live(model):
        return [r for r in session.scalars(service.visible(actor, model)) if r.patient_id in study]

    def of_patient(r) -> str:
        return study[r.patient_id]

    def dated(r) -> dt.date | None:
        return day(r.date, r.patient_id)

    procedures = live(Procedure)
    tumours = live(Tumour)
    live_procedures = {p.id for p in procedures}
    live_tumours = {t.id for t in tumours}
    treatments = [
        t
        for t in live(Treatment)
        if t.procedure_id in live_procedures and t.tumour_id in live_tumours
    ]
    treated = {(t.procedure_id, t.tumour_id) for t in treatments}
    links = {"procedure_id": lambda r: str(r.procedure_id), "tumour_id": lambda r: str(r.tumour_id)}
    patient_dates = ("inclusion_date", "last_contact_date", "death_date")
    return StudyData(
        patients=_frame(
            "patients",
            patients,
            {
                "site": lambda p: sites[p.site_id],
                **{n: lambda p, n=n: day(getattr(p, n), p.id) for n in patient_dates},
            },
            patient_dates,
        ),
        tumours=_frame(
            "tumours", tumours, {"tumour_id": lambda t: str(t.id), "study_id": of_patient}
        ),
        procedures=_frame(
            "procedures",
            procedures,
            {"procedure_id": lambda p: str(p.id), "study_id": of_patient, "date": dated},
            ("date",),
        ),
        treatments=_frame("treatments", treatments, links),
        ablation_zones=_frame(
            "ablation_zones",
            [z for z in live(AblationZone) if (z.procedure_id, z.tumour_id) in treated],
            links,
        ),
        adverse_events=_frame(
            "adverse_events",
            [a for a in live(AdverseEvent) if a.procedure_id in live_procedures],
            {"ae_id": lambda a: str(a.id), "procedure_id": links["procedure_id"],
             "study_id": of_patient},
        ),
        followups=_frame(
            "followups",
            [f for f in live(FollowUp) if f.tumour_id is None or f.tumour_id in live_tumours],
            {
                "followup_id": lambda f: str(f.id),
                "study_id": of_patient,
                "tumour_id": lambda f: None if f.tumour_id is None else str(f.tumour_id),
                "date": dated,
            },
            ("date",),
        ),
    ).validate()


def _date(value: Any) -> dt.date | None:
    """A date from a pandas/NumPy/Python date-like value (None for NaT/NaN/None)."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()


def _records(frame) -> list[dict[str, Any]]:
    return frame.to_dict("records")


def store_study_data(session: Session, data: Any, user: Actor | str) -> dict[str, int]:
    """Enter every record of ``data`` (a StudyData) as ``user``; flushed, not committed.

    Sites named in ``data.patients.site`` are created when missing. Returns the number of rows
    added per table. Everything goes through :mod:`irelab.registry.service`, so role, date and
    vocabulary rules apply and every row is audited.
    """
    actor = resolve_actor(session, user)

    def add(name: str, payload: Any) -> int:
        return service.create(session, actor, resources.RESOURCES[name], payload).id

    for code in sorted({str(c) for c in data.patients["site"]}):
        if session.scalars(select(Site.id).where(Site.code == code)).first() is None:
            add_site(session, code, code)
    patients: dict[str, int] = {}
    for r in _records(data.patients):
        patients[str(r["study_id"])] = add(
            "patients",
            s.PatientCreate(
                study_id=str(r["study_id"]),
                site=str(r["site"]) if actor.all_sites else None,
                sex=r["sex"],
                age_years=int(r["age_years"]),
                inclusion_date=_date(r["inclusion_date"]),
                vital_status=r["vital_status"],
                last_contact_date=_date(r["last_contact_date"]),
                death_date=_date(r["death_date"]),
            ),
        )
    tumours: dict[str, int] = {}
    for r in _records(data.tumours):
        tumours[str(r["tumour_id"])] = add(
            "tumours",
            s.TumourCreate(
                patient_id=patients[str(r["study_id"])],
                origin=str(r["origin"]),
                size_mm=float(r["size_mm"]),
                segment=int(r["segment"]),
                distance_vessel_mm=_number(r.get("distance_vessel_mm")),
                distance_bile_duct_mm=_number(r.get("distance_bile_duct_mm")),
            ),
        )
    procedures: dict[str, int] = {}
    for r in _records(data.procedures):
        procedures[str(r["procedure_id"])] = add(
            "procedures",
            s.ProcedureCreate(
                patient_id=patients[str(r["study_id"])],
                date=_date(r["date"]),
                approach=r["approach"],
                general_anaesthesia=bool(r["general_anaesthesia"]),
                neuromuscular_block=bool(r["neuromuscular_block"]),
                cardiac_sync=bool(r["cardiac_sync"]),
                n_probes=int(r["n_probes"]),
                n_pairs=int(r["n_pairs"]),
                pulses=int(r["pulses"]),
                max_voltage_V=_number(r.get("max_voltage_V")),
                max_current_A=_number(r.get("max_current_A")),
            ),
        )
    for r in _records(data.treatments):
        add(
            "treatments",
            s.TreatmentCreate(
                procedure_id=procedures[str(r["procedure_id"])],
                tumour_id=tumours[str(r["tumour_id"])],
                session=int(r["session"]),
                technical_success=bool(r["technical_success"]),
            ),
        )
    for r in _records(data.ablation_zones):
        add(
            "ablation_zones",
            s.AblationZoneCreate(
                procedure_id=procedures[str(r["procedure_id"])],
                tumour_id=tumours[str(r["tumour_id"])],
                **{name: _number(r.get(name)) for name in ZONE_COLUMNS},
            ),
        )
    for r in _records(data.adverse_events):
        add(
            "adverse_events",
            s.AdverseEventCreate(
                procedure_id=procedures[str(r["procedure_id"])],
                term=r["term"],
                ctcae_grade=int(r["ctcae_grade"]),
                cirse_grade=int(r["cirse_grade"]),
                onset_day=int(r["onset_day"]),
                serious=bool(r["serious"]),
                relation=r["relation"],
                outcome=r["outcome"],
            ),
        )
    for r in _records(data.followups):
        tumour = r.get("tumour_id")
        add(
            "followups",
            s.FollowUpCreate(
                patient_id=patients[str(r["study_id"])],
                tumour_id=None if _missing(tumour) else tumours[str(tumour)],
                date=_date(r["date"]),
                modality=r["modality"],
                finding=r["finding"],
            ),
        )
    return {name: len(getattr(data, name)) for name in SCHEMA}


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _number(value: Any) -> float | None:
    return None if _missing(value) else float(value)
