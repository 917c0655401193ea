"""Cross-record date checks of one patient: the order the clinical course must have.

Inclusion <= every procedure <= death; every follow-up imaging study on or after the first
procedure that treated its tumour (or the patient's first procedure for patient-level findings)
and not after death; last contact on or after inclusion; ``vital_status`` 'dead' exactly when a
death date is recorded; a treatment or follow-up tumour belongs to the same patient. Each
:class:`Problem` names the offending field in every table involved, so the service can report
the field of the record the user was editing (HTTP 422).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from irelab.registry.models import FollowUp, Patient, Procedure, Treatment, Tumour


@dataclass(frozen=True)
class Problem:
    """An impossible date order; ``fields`` maps table name -> the field at fault there."""

    message: str
    fields: dict[str, str] = field(default_factory=dict)


def _live(model, patient_id: int, session: Session) -> list:
    return list(
        session.scalars(
            select(model).where(model.patient_id == patient_id, model.retired_at.is_(None))
        )
    )


def check_patient(session: Session, patient_id: int) -> list[Problem]:
    """Every date-order problem of patient ``patient_id`` (empty when consistent)."""
    session.flush()
    patient = session.get(Patient, patient_id)
    if patient is None:
        return []
    problems: list[Problem] = []
    inc = patient.inclusion_date
    if patient.last_contact_date < inc:
        problems.append(
            Problem(
                f"last contact {patient.last_contact_date} is before inclusion {inc}",
                {"patients": "last_contact_date"},
            )
        )
    if patient.death_date is not None and patient.death_date < inc:
        problems.append(
            Problem(
                f"death {patient.death_date} is before inclusion {inc}", {"patients": "death_date"}
            )
        )
    if (patient.vital_status == "dead") != (patient.death_date is not None):
        problems.append(
            Problem(
                "vital_status 'dead' needs a death_date and a death_date needs vital_status 'dead'",
                {"patients": "death_date" if patient.vital_status == "dead" else "vital_status"},
            )
        )
    procedures = _live(Procedure, patient_id, session)
    for proc in procedures:
        if proc.date < inc:
            problems.append(
                Problem(
                    f"procedure {proc.date} is before inclusion {inc}",
                    {"procedures": "date", "patients": "inclusion_date"},
                )
            )
        if patient.death_date is not None and proc.date > patient.death_date:
            problems.append(
                Problem(
                    f"procedure {proc.date} is after death {patient.death_date}",
                    {"procedures": "date", "patients": "death_date"},
                )
            )
    first_by_tumour: dict[int, object] = {}
    by_id = {p.id: p for p in procedures}
    for treatment in _live(Treatment, patient_id, session):
        proc = by_id.get(treatment.procedure_id)
        if proc is not None:
            seen = first_by_tumour.get(treatment.tumour_id)
            first_by_tumour[treatment.tumour_id] = min(seen, proc.date) if seen else proc.date
        tumour = session.get(Tumour, treatment.tumour_id)
        if tumour is None or tumour.patient_id != patient_id:
            problems.append(
                Problem(
                    "the tumour belongs to another patient than the procedure",
                    {"treatments": "tumour_id"},
                )
            )
    first_procedure = min((p.date for p in procedures), default=None)
    for followup in _live(FollowUp, patient_id, session):
        if followup.tumour_id is not None:
            tumour = session.get(Tumour, followup.tumour_id)
            if tumour is None or tumour.patient_id != patient_id:
                problems.append(
                    Problem("the tumour belongs to another patient", {"followups": "tumour_id"})
                )
        start = first_by_tumour.get(followup.tumour_id) or first_procedure
        if start is not None and followup.date < start:
            problems.append(
                Problem(
                    f"follow-up {followup.date} is before the procedure on {start}",
                    {"followups": "date", "procedures": "date"},
                )
            )
        if followup.date < inc:
            problems.append(
                Problem(
                    f"follow-up {followup.date} is before inclusion {inc}",
                    {"followups": "date", "patients": "inclusion_date"},
                )
            )
        if patient.death_date is not None and followup.date > patient.death_date:
            problems.append(
                Problem(
                    f"follow-up {followup.date} is after death {patient.death_date}",
                    {"followups": "date", "patients": "death_date"},
                )
            )
    return problems
