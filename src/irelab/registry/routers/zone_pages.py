"""The web upload of an achieved ablation zone: a patient's tumour, the procedure that treated it
and the comparison.json ``irelab compare`` wrote for it.

Like the procedure upload (:mod:`.procedure_pages`): cookie session, the form's CSRF token
checked before the route runs, the upload saved to a temporary folder, read by the validation
package's reader (through :func:`irelab.registry.zone_import.comparison_record`) and stored
through the same rules as the API (:func:`~irelab.registry.zone_import.import_comparison`). A
refused upload shows the form again with the problem in plain words, naming the uploaded file by
its own name, never the temporary one; nothing is stored. Plain ``def`` routes (thread pool); the
form is read by the async dependency of :mod:`._web`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from irelab.errors import InputError
from irelab.outcomes.variables import MAX_RECORD_ID
from irelab.registry import resources, service
from irelab.registry.csrf import require_csrf
from irelab.registry.deps import get_session, write_session
from irelab.registry.forms import FormField
from irelab.registry.models import Patient
from irelab.registry.routers._crud import RecordPath
from irelab.registry.routers._web import (
    form_data,
    form_page,
    login_redirect,
    saved_upload,
    text_fields,
    writer_and_patient,
)
from irelab.registry.security import Actor
from irelab.registry.zone_import import comparison_record, import_comparison

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
TITLE = "Add an ablation zone from irelab compare's comparison.json"
#: The procedure choice that lets the registry take the only procedure that treated the tumour.
ONLY_PROCEDURE = ("", "(the procedure that treated the tumour)")


def _fields(
    session: Session, actor: Actor, patient: Patient, values: dict[str, str] | None = None
) -> list[FormField]:
    values = values or {}
    tumours = service.list_rows(
        session, actor, resources.RESOURCES["tumours"], patient_id=patient.id
    )
    procedures = service.list_rows(
        session, actor, resources.RESOURCES["procedures"], patient_id=patient.id
    )
    return [
        FormField("comparison", "Comparison (comparison.json of irelab compare)", "file", True),
        FormField(
            "tumour_id",
            "Tumour",
            "select",
            True,
            tuple((str(t.id), f"tumour {t.id}: segment {t.segment}, {t.size_mm:g} mm")
                  for t in tumours),
            values.get("tumour_id", ""),
        ),
        FormField(
            "procedure_id",
            "Procedure",
            "select",
            False,
            (ONLY_PROCEDURE, *((str(p.id), f"{p.date} ({p.approach})") for p in procedures)),
            values.get("procedure_id", ""),
        ),
    ]


@router.get("/patients/{patient_id}/ablation_zones/upload", response_class=HTMLResponse)
def upload_zone_page(
    patient_id: RecordPath, request: Request, session: Session = Depends(get_session)
) -> Response:
    found = writer_and_patient(request, session, patient_id)
    if found is None:
        return login_redirect()
    actor, patient = found
    action = f"/patients/{patient_id}/ablation_zones/upload"
    fields = _fields(session, actor, patient)
    return form_page(request, actor, TITLE, fields, action, upload=True)


def _record_id(text: str | None, label: str) -> int | None:
    """A chosen record id (None when none was chosen); a bad one is refused in words."""
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_RECORD_ID:
        raise service.Invalid(f"{label}: choose one from the list", label)
    return int(text)


@router.post("/patients/{patient_id}/ablation_zones/upload", response_class=HTMLResponse)
def upload_zone(
    patient_id: RecordPath,
    request: Request,
    form: FormData = Depends(form_data),
    session: Session = Depends(write_session),
) -> Response:
    """Read the uploaded comparison and add the tumour's ablation zone."""
    found = writer_and_patient(request, session, patient_id)
    if found is None:
        return login_redirect()
    actor, patient = found
    values = text_fields(form)
    errors: list[str] = []
    status = 422
    with tempfile.TemporaryDirectory(prefix="irelab-upload-") as tmp:
        path, name = saved_upload(form.get("comparison"), Path(tmp), "comparison.json")
        if path is None:
            errors.append("Comparison: choose the comparison.json that irelab compare wrote.")
        else:
            try:
                tumour = _record_id(values.get("tumour_id"), "Tumour")
                if tumour is None:
                    raise service.Invalid("Tumour: choose the tumour the comparison is of.")
                record = comparison_record(path, name)
                import_comparison(
                    session,
                    actor,
                    record,
                    tumour_id=tumour,
                    procedure_id=_record_id(values.get("procedure_id"), "Procedure"),
                    patient_id=patient.id,
                    shown_as=name,
                )
                session.commit()
            except InputError as exc:
                session.rollback()
                errors.append(f"{exc}.")
            except service.RegistryError as exc:
                session.rollback()
                errors.append(_sentence(exc.message))
                status = exc.status
    if not errors:
        return RedirectResponse(f"/patients/{patient_id}", status_code=303)
    action = f"/patients/{patient_id}/ablation_zones/upload"
    fields = _fields(session, actor, patient, values)
    return form_page(
        request, actor, TITLE, fields, action, errors=errors, status=status, upload=True
    )


_LABELS = {"tumour_id: ": "Tumour: ", "procedure_id: ": "Procedure: "}


def _sentence(message: str) -> str:
    """A service refusal in words: the field by its label, a full stop at the end."""
    for key, label in _LABELS.items():
        if message.startswith(key):
            message = label + message.removeprefix(key)
    return message if message.endswith(".") else message + "."
