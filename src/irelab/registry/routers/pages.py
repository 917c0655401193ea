"""Server-rendered pages of the clinical records: list and enter patients, and from a patient's
page its tumours, procedures, treatments, ablation zones, adverse events and follow-up imaging;
and the study report. Log in and out are in :mod:`.login_pages`, the admin pages (sites and
accounts) in :mod:`.admin`, the uploads of a procedure's plan and delivery log in
:mod:`.procedure_pages` and of ``irelab compare``'s comparison.json in :mod:`.zone_pages`; what
the pages share (templates, forms, uploads) in :mod:`._web`.

Every form carries a CSRF token that the router checks on every POST before the route runs
(:mod:`irelab.registry.csrf`). Forms are generated from the declared tables
(:mod:`irelab.outcomes.variables`: labels, kinds, ranges), entries go through the same schemas
and service rules as the API, and a refused form lists every problem at once, in words, beside
its field. Routes that touch the database are plain ``def`` (run in the thread pool); the form is
read by an async dependency first.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from irelab.registry import resources, service
from irelab.registry.csrf import require_csrf
from irelab.registry.deps import cookie_actor, get_session, write_session
from irelab.registry.forms import form_fields, parse_form, plain_errors
from irelab.registry.models import Patient
from irelab.registry.routers._crud import RecordPath, RecordQuery
from irelab.registry.routers._web import (
    form_data,
    form_page,
    login_redirect,
    render,
    text_fields,
)
from irelab.registry.routers.report import report_folder, serve_report_file, write_study_report
from irelab.registry.study import load_study_data

#: Every route here is cookie-authenticated: every POST must carry the session's CSRF token.
router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
#: Resources that can be added from a patient's page, with their form titles.
CHILD_FORMS: dict[str, str] = {
    "tumours": "Add a tumour",
    "procedures": "Add a procedure",
    "treatments": "Record a tumour treated in a procedure",
    "ablation_zones": "Enter the achieved ablation zone of a treated tumour",
    "adverse_events": "Add an adverse event",
    "followups": "Add a follow-up imaging study",
}


# --- patients -----------------------------------------------------------------------------------
@router.get("/patients", response_class=HTMLResponse)
def patients_page(
    request: Request, after: RecordQuery = None, session: Session = Depends(get_session)
) -> Response:
    actor = cookie_actor(request, session)
    if actor is None:
        return login_redirect()
    resource = resources.RESOURCES["patients"]
    page = service.list_page(session, actor, resource, after=after, limit=service.DEFAULT_PAGE_SIZE)
    rows = [service.to_read(session, actor, resource, p) for p in page.rows]
    return render(request, "patients.html", actor=actor, patients=rows, next_after=page.next_after)


@router.get("/patients/new", response_class=HTMLResponse)
def new_patient_page(request: Request, session: Session = Depends(get_session)) -> Response:
    actor = cookie_actor(request, session)
    if actor is None:
        return login_redirect()
    service.require_writer(actor)
    fields = form_fields(session, actor, "patients", None)
    return form_page(request, actor, "Enter a patient", fields, "/patients/new")


@router.post("/patients/new", response_class=HTMLResponse)
def new_patient(
    request: Request,
    form: FormData = Depends(form_data),
    session: Session = Depends(write_session),
) -> Response:
    return _submit(request, session, text_fields(form), "patients", None)


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(
    patient_id: RecordPath, request: Request, session: Session = Depends(get_session)
) -> Response:
    actor = cookie_actor(request, session)
    if actor is None:
        return login_redirect()
    patient = service.get_visible(session, actor, Patient, patient_id)
    sections = {}
    for name in CHILD_FORMS:
        resource = resources.RESOURCES[name]
        rows = service.list_rows(session, actor, resource, patient_id=patient_id)
        sections[name] = [service.to_read(session, actor, resource, r) for r in rows]
    return render(
        request,
        "patient.html",
        actor=actor,
        sections=sections,
        forms=CHILD_FORMS,
        patient=service.to_read(session, actor, resources.RESOURCES["patients"], patient),
    )


@router.get("/patients/{patient_id}/{name}/new", response_class=HTMLResponse)
def new_child_page(
    patient_id: RecordPath, name: str, request: Request, session: Session = Depends(get_session)
) -> Response:
    actor = cookie_actor(request, session)
    if actor is None:
        return login_redirect()
    if name not in CHILD_FORMS:
        raise service.NotFound("no such form")
    service.require_writer(actor)
    patient = service.get_visible(session, actor, Patient, patient_id, live=True)
    fields = form_fields(session, actor, name, patient)
    action = f"/patients/{patient_id}/{name}/new"
    return form_page(request, actor, CHILD_FORMS[name], fields, action)


@router.post("/patients/{patient_id}/{name}/new", response_class=HTMLResponse)
def new_child(
    patient_id: RecordPath,
    name: str,
    request: Request,
    form: FormData = Depends(form_data),
    session: Session = Depends(write_session),
) -> Response:
    if name not in CHILD_FORMS:
        raise service.NotFound("no such form")
    return _submit(request, session, text_fields(form), name, patient_id)


def _submit(
    request: Request, session: Session, data: dict[str, str], name: str, patient_id: int | None
) -> Response:
    actor = cookie_actor(request, session)
    if actor is None:
        return login_redirect()
    resource = resources.RESOURCES[name]
    patient = None
    if patient_id is not None:
        patient = service.get_visible(session, actor, Patient, patient_id, live=True)
        data["patient_id"] = str(patient_id)
    try:
        row = service.create(session, actor, resource, parse_form(name, resource.create, data))
        session.commit()
    except ValidationError as exc:
        errors, status = plain_errors(name, exc), 422
    except service.Invalid as exc:
        session.rollback()
        errors, status = plain_errors(name, exc), exc.status
    except service.RegistryError as exc:
        session.rollback()
        errors, status = {exc.field or "": [exc.message]}, exc.status
    else:
        target = row.id if isinstance(row, Patient) else patient_id
        return RedirectResponse(f"/patients/{target}", status_code=303)
    action = f"/patients/{patient_id}/{name}/new" if patient_id else "/patients/new"
    fields = form_fields(session, actor, name, patient, data, errors)
    title = CHILD_FORMS.get(name, "Enter a patient")
    flat = [message for messages in errors.values() for message in messages]
    return form_page(request, actor, title, fields, action, errors=flat, status=status)


# --- the study report ---------------------------------------------------------------------------
@router.get("/report", response_class=HTMLResponse)
def report_page(request: Request, session: Session = Depends(get_session)) -> Response:
    actor = cookie_actor(request, session)
    if actor is None:
        return login_redirect()
    service.require_reader(actor)
    data = load_study_data(session, actor)
    error = None
    try:
        write_study_report(session, actor, report_folder(request, actor))
    except Exception as exc:  # the page still shows the registry tables
        error = f"the outcome report could not be written: {type(exc).__name__}"
    ae = data.adverse_events
    ae_rows = (
        ae.groupby(["term", "ctcae_grade"]).size().reset_index(name="n").itertuples(index=False)
        if len(ae)
        else []
    )
    fu = data.followups
    findings = fu["finding"].value_counts().items() if len(fu) else []
    return render(
        request,
        "report.html",
        actor=actor,
        data=data,
        error=error,
        ae_rows=list(ae_rows),
        findings=list(findings),
        procedures=list(data.procedures.itertuples(index=False)),
    )


@router.get("/report/files/{name:path}")
def report_file(name: str, request: Request, session: Session = Depends(get_session)) -> Response:
    actor = cookie_actor(request, session)
    if actor is None:
        return login_redirect()
    return serve_report_file(report_folder(request, actor), name)
