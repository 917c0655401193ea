"""The bridge to the outcome analysis: registry rows <-> ``irelab.outcomes.StudyData`` frames.

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

from irelab.registry import schemas as s
from irelab.registry import service
from irelab.registry.accounts import add_site
from irelab.registry.audit import ACTOR_KEY
from irelab.registry.models import (
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


def _frame(rows: list[dict[str, Any]], columns: list[str], dates: tuple[str, ...] = ()):
    import pandas as pd

    frame = pd.DataFrame(rows, columns=columns)
    for name in dates:
        frame[name] = pd.to_datetime(frame[name])
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

    procedures = live(Procedure)
    tumours = live(Tumour)
    live_procedures = {p.id for p in procedures}
    live_tumours = {t.id for t in tumours}
    return StudyData(
        patients=_frame(
            [
                {
                    "study_id": p.study_id,
                    "site": sites[p.site_id],
                    "sex": p.sex,
                    "age_years": p.age_years,
                    "inclusion_date": day(p.inclusion_date, p.id),
                    "vital_status": p.vital_status,
                    "last_contact_date": day(p.last_contact_date, p.id),
                    "death_date": day(p.death_date, p.id),
                }
                for p in patients
            ],
            [
                "study_id",
                "site",
                "sex",
                "age_years",
                "inclusion_date",
                "vital_status",
                "last_contact_date",
                "death_date",
            ],
            ("inclusion_date", "last_contact_date", "death_date"),
        ),
        tumours=_frame(
            [
                {
                    "tumour_id": str(t.id),
                    "study_id": study[t.patient_id],
                    "origin": t.origin,
                    "size_mm": t.size_mm,
                    "segment": t.segment,
                    "distance_vessel_mm": t.distance_vessel_mm,
                    "distance_bile_duct_mm": t.distance_bile_duct_mm,
                }
                for t in tumours
            ],
            [
                "tumour_id",
                "study_id",
                "origin",
                "size_mm",
                "segment",
                "distance_vessel_mm",
                "distance_bile_duct_mm",
            ],
        ),
        procedures=_frame(
            [
                {
                    "procedure_id": str(p.id),
                    "study_id": study[p.patient_id],
                    "date": day(p.date, p.patient_id),
                    "approach": p.approach,
                    "general_anaesthesia": p.general_anaesthesia,
                    "neuromuscular_block": p.neuromuscular_block,
                    "cardiac_sync": p.cardiac_sync,
                    "n_probes": p.n_probes,
                    "n_pairs": p.n_pairs,
                    "pulses": p.pulses,
                    "max_voltage_V": p.max_voltage_V,
                    "max_current_A": p.max_current_A,
                }
                for p in procedures
            ],
            [
                "procedure_id",
                "study_id",
                "date",
                "approach",
                "general_anaesthesia",
                "neuromuscular_block",
                "cardiac_sync",
                "n_probes",
                "n_pairs",
                "pulses",
                "max_voltage_V",
                "max_current_A",
            ],
            ("date",),
        ),
        treatments=_frame(
            [
                {
                    "procedure_id": str(t.procedure_id),
                    "tumour_id": str(t.tumour_id),
                    "session": t.session,
                    "technical_success": t.technical_success,
                }
                for t in live(Treatment)
                if t.procedure_id in live_procedures and t.tumour_id in live_tumours
            ],
            ["procedure_id", "tumour_id", "session", "technical_success"],
        ),
        adverse_events=_frame(
            [
                {
                    "ae_id": str(a.id),
                    "procedure_id": str(a.procedure_id),
                    "study_id": study[a.patient_id],
                    "term": a.term,
                    "ctcae_version": a.ctcae_version,
                    "ctcae_grade": a.ctcae_grade,
                    "cirse_grade": a.cirse_grade,
                    "onset_day": a.onset_day,
                    "serious": a.serious,
                    "relation": a.relation,
                    "outcome": a.outcome,
                }
                for a in live(AdverseEvent)
                if a.procedure_id in live_procedures
            ],
            [
                "ae_id",
                "procedure_id",
                "study_id",
                "term",
                "ctcae_version",
                "ctcae_grade",
                "cirse_grade",
                "onset_day",
                "serious",
                "relation",
                "outcome",
            ],
        ),
        followups=_frame(
            [
                {
                    "followup_id": str(f.id),
                    "study_id": study[f.patient_id],
                    "tumour_id": None if f.tumour_id is None else str(f.tumour_id),
                    "date": day(f.date, f.patient_id),
                    "modality": f.modality,
                    "finding": f.finding,
                }
                for f in live(FollowUp)
                if f.tumour_id is None or f.tumour_id in live_tumours
            ],
            ["followup_id", "study_id", "tumour_id", "date", "modality", "finding"],
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
    res = service.RESOURCES
    for code in sorted({str(c) for c in data.patients["site"]}):
        if session.scalars(select(Site.id).where(Site.code == code)).first() is None:
            add_site(session, code, code)
    patients: dict[str, int] = {}
    for r in _records(data.patients):
        row = service.create(
            session,
            actor,
            res["patients"],
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
        patients[str(r["study_id"])] = row.id
    tumours: dict[str, int] = {}
    for r in _records(data.tumours):
        row = service.create(
            session,
            actor,
            res["tumours"],
            s.TumourCreate(
                patient_id=patients[str(r["study_id"])],
                origin=str(r["origin"]),
                size_mm=float(r["size_mm"]),
                segment=int(r["segment"]),
                distance_vessel_mm=_number(r.get("distance_vessel_mm")),
                distance_bile_duct_mm=_number(r.get("distance_bile_duct_mm")),
            ),
        )
        tumours[str(r["tumour_id"])] = row.id
    procedures: dict[str, int] = {}
    for r in _records(data.procedures):
        row = service.create(
            session,
            actor,
            res["procedures"],
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
        procedures[str(r["procedure_id"])] = row.id
    for r in _records(data.treatments):
        service.create(
            session,
            actor,
            res["treatments"],
            s.TreatmentCreate(
                procedure_id=procedures[str(r["procedure_id"])],
                tumour_id=tumours[str(r["tumour_id"])],
                session=int(r["session"]),
                technical_success=bool(r["technical_success"]),
            ),
        )
    for r in _records(data.adverse_events):
        service.create(
            session,
            actor,
            res["adverse_events"],
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
        service.create(
            session,
            actor,
            res["followups"],
            s.FollowUpCreate(
                patient_id=patients[str(r["study_id"])],
                tumour_id=None if _missing(tumour) else tumours[str(tumour)],
                date=_date(r["date"]),
                modality=r["modality"],
                finding=r["finding"],
            ),
        )
    return {
        name: len(getattr(data, name))
        for name in (
            "patients",
            "tumours",
            "procedures",
            "treatments",
            "adverse_events",
            "followups",
        )
    }


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _number(value: Any) -> float | None:
    return None if _missing(value) else float(value)
