"""Server-rendered web pages: log in and out, list and enter patients, procedures (also from an
uploaded plan and delivery log), adverse events and follow-up imaging, and view the study report.
The admin pages (sites and accounts) are in :mod:`.admin`.

Jinja2 with autoescaping on (every value is HTML-escaped, so stored script-injection strings show
as text). The session is the signed token in an HttpOnly, SameSite=Lax cookie; every form, the
login form included, carries a CSRF token that the router checks on every POST before the route
runs (:mod:`irelab.registry.csrf`). Forms are generated from the declared tables
(:mod:`irelab.outcomes.variables`: labels, kinds, ranges), entries go through the same schemas
and service rules as the API, and a refused form lists every problem at once, in words, beside
its field. Routes that touch the database are plain ``def`` (run in the thread pool); the form is
read by an async dependency first.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from irelab.errors import InputError
from irelab.registry import service
from irelab.registry.csrf import (
    CSRF_FIELD,
    PRESESSION_COOKIE,
    PRESESSION_MAX_AGE_S,
    clear_browser_cookie,
    form_csrf_token,
    login_csrf_token,
    new_presession,
    require_csrf,
    set_browser_cookie,
)
from irelab.registry.deps import (
    SESSION_COOKIE,
    cookie_actor,
    cookie_claims,
    get_session,
    revoke,
    write_session,
)
from irelab.registry.forms import FormField, form_fields, parse_form, plain_errors
from irelab.registry.login import AccountPending, LoginLocked
from irelab.registry.models import Patient
from irelab.registry.routers._crud import RecordPath, RecordQuery
from irelab.registry.routers.auth import check_login
from irelab.registry.routers.report import report_folder, serve_report_file, write_study_report
from irelab.registry.security import TOKEN_LIFETIME, Actor, AuthError, issue_token
from irelab.registry.study import load_study_data

#: Every route here is cookie-authenticated: every POST must carry the session's CSRF token.
router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
#: Resources that can be added from a patient's page, with their form titles.
CHILD_FORMS: dict[str, str] = {
    "tumours": "Add a tumour",
    "procedures": "Add a procedure",
    "treatments": "Record a tumour treated in a procedure",
    "adverse_events": "Add an adverse event",
    "followups": "Add a follow-up imaging study",
}


@functools.cache
def _templates():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("irelab.registry", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render template ``name`` (autoescaped); ``csrf`` is this session's form token by default."""
    context.setdefault("csrf", form_csrf_token(request))
    context.setdefault("actor", None)
    context.setdefault("logged_in", SESSION_COOKIE in request.cookies)
    html = _templates().get_template(name).render(**context)
    return HTMLResponse(html, status_code=status)


async def form_data(request: Request) -> FormData:
    """The submitted form (parsed once; the CSRF check has read it already)."""
    return await request.form()


def text_fields(form: FormData) -> dict[str, str]:
    """The text fields of ``form`` (the CSRF token, already checked, and files left out)."""
    return {k: v for k, v in form.items() if k != CSRF_FIELD and isinstance(v, str)}


def login_redirect() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


def home_of(actor: Actor) -> str:
    """Where a user's work starts: the admin pages for admins, the patients for the others."""
    return "/admin" if actor.role == "admin" else "/patients"


# --- log in and out -----------------------------------------------------------------------------
@router.get("/")
def home(request: Request, session: Session = Depends(get_session)) -> RedirectResponse:
    actor = cookie_actor(request, session)
    return login_redirect() if actor is None else RedirectResponse(home_of(actor), 303)


def _login_form(request: Request, status: int = 200, error: str | None = None) -> HTMLResponse:
    """The login page; its CSRF token is bound to the pre-session cookie (set here if absent)."""
    presession = request.cookies.get(PRESESSION_COOKIE) or new_presession()
    response = render(
        request,
        "login.html",
        status,
        csrf=login_csrf_token(request, presession),
        error=error,
        logged_in=False,
    )
    if presession != request.cookies.get(PRESESSION_COOKIE):
        set_browser_cookie(response, request, PRESESSION_COOKIE, presession, PRESESSION_MAX_AGE_S)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return _login_form(request)


@router.post("/login")
def login(
    request: Request,
    form: FormData = Depends(form_data),
    session: Session = Depends(get_session),  # bcrypt must not hold the write lock (auth.py)
) -> Response:
    fields = text_fields(form)
    username, password = fields.get("username", "")[:256], fields.get("password", "")[:1024]
    try:
        user = check_login(request, session, username, password)
    except AuthError as exc:
        return _login_form(request, 401, str(exc))
    except AccountPending as exc:
        return _login_form(request, 403, str(exc))
    except LoginLocked as exc:
        response = _login_form(request, 429, str(exc))
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    target = "/admin" if user.role == "admin" else "/patients"
    response = RedirectResponse(target, status_code=303)
    token = issue_token(user.username, request.app.state.secret)
    set_browser_cookie(
        response, request, SESSION_COOKIE, token, int(TOKEN_LIFETIME.total_seconds())
    )
    # the login form's token has served its purpose; a new login gets a new one
    clear_browser_cookie(response, request, PRESESSION_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, session: Session = Depends(write_session)) -> RedirectResponse:
    """End the session on the server (its token is revoked in every worker) and in the browser."""
    claims = cookie_claims(request)
    if claims is not None:
        revoke(session, claims, request.app.state.clock())
        session.commit()
    response = login_redirect()
    clear_browser_cookie(response, request, SESSION_COOKIE)
    return response


# --- patients -----------------------------------------------------------------------------------
@router.get("/patients", response_class=HTMLResponse)
def patients_page(
    request: Request, after: RecordQuery = None, session: Session = Depends(get_session)
) -> Response:
    actor = cookie_actor(request, session)
    if actor is None:
        return login_redirect()
    resource = service.RESOURCES["patients"]
    page = service.list_page(session, actor, resource, after=after, limit=service.DEFAULT_PAGE_SIZE)
    rows = [service.to_read(session, actor, resource, p) for p in page.rows]
    return render(request, "patients.html", actor=actor, patients=rows, next_after=page.next_after)


def _form_page(
    request: Request,
    actor: Actor,
    title: str,
    fields: list[FormField],
    action: str,
    *,
    errors: list[str] | None = None,
    status: int = 200,
    upload: bool = False,
) -> HTMLResponse:
    return render(
        request,
        "form.html",
        status=status,
        actor=actor,
        title=title,
        fields=fields,
        errors=errors or [],
        action=action,
        upload=upload,
    )


@router.get("/patients/new", response_class=HTMLResponse)
def new_patient_page(request: Request, session: Session = Depends(get_session)) -> Response:
    actor = cookie_actor(request, session)
    if actor is None:
        return login_redirect()
    service.require_writer(actor)
    fields = form_fields(session, actor, "patients", None)
    return _form_page(request, actor, "Enter a patient", fields, "/patients/new")


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
        resource = service.RESOURCES[name]
        rows = service.list_rows(session, actor, resource, patient_id=patient_id)
        sections[name] = [service.to_read(session, actor, resource, r) for r in rows]
    return render(
        request,
        "patient.html",
        actor=actor,
        sections=sections,
        forms=CHILD_FORMS,
        patient=service.to_read(session, actor, service.RESOURCES["patients"], patient),
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
    return _form_page(request, actor, CHILD_FORMS[name], fields, action)


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
    resource = service.RESOURCES[name]
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
    return _form_page(request, actor, title, fields, action, errors=flat, status=status)


# --- a procedure from an uploaded plan and delivery log -------------------------------------------
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
    actor = cookie_actor(request, session)
    if actor is None:
        return login_redirect()
    service.require_writer(actor)
    service.get_visible(session, actor, Patient, patient_id, live=True)
    action = f"/patients/{patient_id}/procedures/upload"
    return _form_page(request, actor, UPLOAD_TITLE, _upload_fields(), action, upload=True)


def _saved(upload: Any, folder: Path, name: str) -> tuple[Path | None, str]:
    """Write an uploaded file to ``folder/name``; (path or None when none was sent, its name)."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None, ""
    path = folder / name
    with path.open("wb") as out:
        while chunk := upload.file.read(1 << 20):
            out.write(chunk)
    return path, Path(upload.filename).name[:128]


@router.post("/patients/{patient_id}/procedures/upload", response_class=HTMLResponse)
def upload_procedure(
    patient_id: RecordPath,
    request: Request,
    form: FormData = Depends(form_data),
    session: Session = Depends(write_session),
) -> Response:
    """Summarise the uploaded plan (and log) and add the procedure with its electrode pairs."""
    from irelab.registry.procedure_import import import_procedure, summarise_delivery

    actor = cookie_actor(request, session)
    if actor is None:
        return login_redirect()
    service.require_writer(actor)
    service.get_visible(session, actor, Patient, patient_id, live=True)
    values = text_fields(form)
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="irelab-upload-") as tmp:
        folder = Path(tmp)
        plan, plan_name = _saved(form.get("plan"), folder, "plan.yaml")
        log, log_name = _saved(form.get("log"), folder, "delivery.jsonl")
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
    return _form_page(
        request,
        actor,
        UPLOAD_TITLE,
        _upload_fields(values),
        action,
        errors=errors,
        status=422,
        upload=True,
    )


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
