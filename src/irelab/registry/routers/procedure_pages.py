"""The web upload of a procedure: a patient's procedure from its plan and (optionally) the
delivery log of ``irelab deliver``, added with its electrode pairs.

Cookie session, the form's CSRF token checked before the route runs, the uploads saved to a
temporary folder and summarised by :func:`irelab.registry.procedure_import.summarise_delivery`,
then stored through the same rules as the API
(:func:`~irelab.registry.procedure_import.import_procedure`). A refused upload shows the form
again with the problems in plain words, naming the uploaded files by their own names, never the
temporary ones; nothing is stored. Plain ``def`` routes (thread pool); the form is read by the
async dependency of :mod:`._web`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from irelab.errors import InputError
from irelab.registry import service
from irelab.registry.csrf import require_csrf
from irelab.registry.deps import get_session, write_session
from irelab.registry.forms import FormField, plain_errors
from irelab.registry.routers._crud import RecordPath
from irelab.registry.routers._web import (
    form_data,
    form_page,
    login_redirect,
    saved_upload,
    text_fields,
    writer_and_patient,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
UPLOAD_TITLE = "Add a procedure from its plan and delivery log"


def _upload_fields(values: dict[str, str] | None = None) -> list[FormField]:
    values = values or {}
    approaches = tuple((a, a) for a in ("percutaneous", "open", "laparoscopic"))
    return [
        FormField("plan", "Plan (irelab plan / case YAML)", "file", True),
        FormField(
            "log", "Delivery log (.jsonl; optional: without it, the planned dose)", "file", False
        ),
        FormField("date", "Procedure date", "date", True, value=values.get("date", "")),
        FormField(
            "approach",
            "Approach",
            "select",
            True,
            approaches,
            values.get("approach", "percutaneous"),
        ),
        FormField(
            "general_anaesthesia",
            "General anaesthesia",
            "checkbox",
            False,
            value=values.get("general_anaesthesia", "on"),
        ),
        FormField(
            "neuromuscular_block",
            "Neuromuscular block",
            "checkbox",
            False,
            value=values.get("neuromuscular_block", "on"),
        ),
        FormField("notes", "Notes", "textarea", False, value=values.get("notes", "")),
    ]


@router.get("/patients/{patient_id}/procedures/upload", response_class=HTMLResponse)
def upload_procedure_page(
    patient_id: RecordPath, request: Request, session: Session = Depends(get_session)
) -> Response:
    found = writer_and_patient(request, session, patient_id)
    if found is None:
        return login_redirect()
    actor, _ = found
    action = f"/patients/{patient_id}/procedures/upload"
    return form_page(request, actor, UPLOAD_TITLE, _upload_fields(), action, upload=True)


@router.post("/patients/{patient_id}/procedures/upload", response_class=HTMLResponse)
def upload_procedure(
    patient_id: RecordPath,
    request: Request,
    form: FormData = Depends(form_data),
    session: Session = Depends(write_session),
) -> Response:
    """Summarise the uploaded plan (and log) and add the procedure with its electrode pairs."""
    from irelab.registry.procedure_import import import_procedure, summarise_delivery

    found = writer_and_patient(request, session, patient_id)
    if found is None:
        return login_redirect()
    actor, _ = found
    values = text_fields(form)
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="irelab-upload-") as tmp:
        folder = Path(tmp)
        plan, plan_name = saved_upload(form.get("plan"), folder, "plan.yaml")
        log, log_name = saved_upload(form.get("log"), folder, "delivery.jsonl")
        if plan is None:
            errors.append("Plan: choose the plan file (YAML) of this procedure.")
        else:
            try:
                summary = summarise_delivery(plan, log)
                import_procedure(
                    session,
                    actor,
                    summary,
                    patient_id=patient_id,
                    date=values.get("date") or None,
                    approach=values.get("approach", "percutaneous"),
                    general_anaesthesia=values.get("general_anaesthesia") == "on",
                    neuromuscular_block=values.get("neuromuscular_block") == "on",
                    notes=values.get("notes") or None,
                )
                session.commit()
            except InputError as exc:
                session.rollback()
                text = str(exc).replace(str(plan), plan_name)
                errors.append(text.replace(str(log), log_name) if log else text)
            except ValidationError as exc:
                session.rollback()
                errors = [m for ms in plain_errors("procedures", exc).values() for m in ms]
            except service.RegistryError as exc:
                session.rollback()
                errors.append(exc.message)
    if not errors:
        return RedirectResponse(f"/patients/{patient_id}", status_code=303)
    action = f"/patients/{patient_id}/procedures/upload"
    return form_page(
        request,
        actor,
        UPLOAD_TITLE,
        _upload_fields(values),
        action,
        errors=errors,
        status=422,
        upload=True,
    )
