"""Server-rendered web pages: log in, list and enter patients, procedures, adverse events and
follow-up imaging, and view the study report.

Jinja2 with autoescaping on (every value is HTML-escaped, so stored script-injection strings show
as text). The session is the signed token in an HttpOnly, SameSite=Lax cookie; every form, the
login form included, carries a CSRF token that the router checks on every POST before the route
runs (:mod:`irelab.registry.csrf`). Forms are generated from the same Create schemas as the API,
and entries go through the same service rules.
"""

from __future__ import annotations

import datetime as dt
import functools
import typing
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

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
from irelab.registry.deps import SESSION_COOKIE, cookie_actor, get_session
from irelab.registry.login import LoginLocked
from irelab.registry.models import Patient, Site
from irelab.registry.routers.auth import check_login
from irelab.registry.routers.report import report_folder, serve_report_file, write_study_report
from irelab.registry.security import TOKEN_LIFETIME, Actor, AuthError, issue_token
from irelab.registry.study import load_study_data
from irelab.registry.terms import CTCAE_TERMS

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
def _templates():  # noqa: ANN202 - jinja2.Environment, built lazily once per process
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
    html = _templates().get_template(name).render(**context)
    return HTMLResponse(html, status_code=status)


async def _form(request: Request) -> dict[str, str]:
    """The submitted fields (the CSRF token, already checked by the router, left out)."""
    form = await request.form()
    return {k: str(v) for k, v in form.items() if k != CSRF_FIELD}


def _login_redirect() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


# --- form fields generated from the Create schemas ----------------------------------------------
@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str  # text, textarea, number, date, checkbox, select, hidden
    required: bool
    options: tuple[tuple[str, str], ...] = ()
    value: str = ""
    step: str = "any"


def _kind(annotation: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    args = (
        [annotation]
        if typing.get_origin(annotation) is typing.Literal
        else [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    )
    inner = args[0]
    if typing.get_origin(inner) is typing.Annotated:
        inner = typing.get_args(inner)[0]
    if typing.get_origin(inner) is typing.Literal:
        return "select", tuple((str(v), str(v)) for v in typing.get_args(inner))
    kinds = {dt.date: "date", bool: "checkbox", int: "number", float: "number"}
    return kinds.get(inner, "text"), ()


def form_fields(
    session: Session,
    actor: Actor,
    schema: type[BaseModel],
    patient: Patient | None,
    values: dict[str, str] | None = None,
) -> list[FormField]:
    """Input fields for ``schema``; parent references become hidden fields or choices."""
    values = values or {}
    fields = []
    for name, info in schema.model_fields.items():
        kind, options = _kind(info.annotation)
        if name == "notes":
            kind = "textarea"
        if name == "patient_id":
            kind, values = "hidden", {**values, name: str(patient.id)}
        elif name == "procedure_id":
            rows = service.list_rows(
                session, actor, service.RESOURCES["procedures"], patient_id=patient.id
            )
            kind, options = "select", tuple((str(p.id), f"{p.date} ({p.approach})") for p in rows)
        elif name == "tumour_id":
            rows = service.list_rows(
                session, actor, service.RESOURCES["tumours"], patient_id=patient.id
            )
            kind = "select"
            options = (("", "(whole patient)"),) if not info.is_required() else ()
            options += tuple(
                (str(t.id), f"tumour {t.id}: segment {t.segment}, {t.size_mm:g} mm") for t in rows
            )
        elif name == "term":
            kind, options = "select", tuple((t, t) for t in sorted(CTCAE_TERMS))
        elif name == "site":
            if not actor.all_sites:
                continue
            sites = session.scalars(select(Site).where(Site.retired_at.is_(None)))
            kind, options = "select", tuple((x.code, x.name) for x in sites)
        default = "" if info.is_required() or info.default is None else str(info.default)
        if kind == "checkbox":
            default = "on" if info.default is True else ""
        fields.append(
            FormField(
                name,
                name.replace("_", " "),
                kind,
                info.is_required() and kind != "checkbox",
                options,
                values.get(name, default),
                "1" if kind == "number" and info.annotation is int else "any",
            )
        )
    return fields


def parse_form(schema: type[BaseModel], data: dict[str, str]) -> BaseModel:
    """Form strings -> ``schema`` (blank -> None, unchecked box -> False)."""
    values: dict[str, Any] = {}
    for name, info in schema.model_fields.items():
        kind, _ = _kind(info.annotation)
        if kind == "checkbox":
            values[name] = data.get(name) == "on"
        elif data.get(name, "").strip() != "":
            values[name] = data[name]
    return schema.model_validate(values)


def _errors(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]


# --- routes -------------------------------------------------------------------------------------
@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/patients", status_code=303)


def _login_form(request: Request, status: int = 200, error: str | None = None) -> HTMLResponse:
    """The login page; its CSRF token is bound to the pre-session cookie (set here if absent)."""
    presession = request.cookies.get(PRESESSION_COOKIE) or new_presession()
    response = render(
        request, "login.html", status, csrf=login_csrf_token(request, presession), error=error
    )
    if presession != request.cookies.get(PRESESSION_COOKIE):
        set_browser_cookie(response, request, PRESESSION_COOKIE, presession, PRESESSION_MAX_AGE_S)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return _login_form(request)


@router.post("/login")
async def login(request: Request, session: Session = Depends(get_session)) -> Response:
    form = await _form(request)
    try:
        user = check_login(request, session, form.get("username", ""), form.get("password", ""))
    except AuthError as exc:
        return _login_form(request, 401, str(exc))
    except LoginLocked as exc:
        response = _login_form(request, 429, str(exc))
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    response = RedirectResponse("/patients", status_code=303)
    token = issue_token(user.username, request.app.state.secret)
    set_browser_cookie(
        response, request, SESSION_COOKIE, token, int(TOKEN_LIFETIME.total_seconds())
    )
    # the login form's token has served its purpose; a new login gets a new one
    clear_browser_cookie(response, request, PRESESSION_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request) -> RedirectResponse:
    response = _login_redirect()
    clear_browser_cookie(response, request, SESSION_COOKIE)
    return response


@router.get("/patients", response_class=HTMLResponse)
def patients_page(request: Request, session: Session = Depends(get_session)) -> Response:
    actor = cookie_actor(request, session)
    if actor is None:
        return _login_redirect()
    resource = service.RESOURCES["patients"]
    rows = [
        service.to_read(session, actor, resource, p)
        for p in service.list_rows(session, actor, resource)
    ]
    return render(request, "patients.html", actor=actor, patients=rows)


@router.get("/patients/new", response_class=HTMLResponse)
def new_patient_page(request: Request, session: Session = Depends(get_session)) -> Response:
    actor = cookie_actor(request, session)
    if actor is None:
        return _login_redirect()
    fields = form_fields(session, actor, service.RESOURCES["patients"].create, None)
    return render(
        request,
        "form.html",
        actor=actor,
        title="Enter a patient",
        fields=fields,
        errors=[],
        action="/patients/new",
    )


@router.post("/patients/new", response_class=HTMLResponse)
async def new_patient(request: Request, session: Session = Depends(get_session)) -> Response:
    return await _submit(request, session, "patients", None)


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(
    patient_id: int, request: Request, session: Session = Depends(get_session)
) -> Response:
    actor = cookie_actor(request, session)
    if actor is None:
        return _login_redirect()
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
    patient_id: int, name: str, request: Request, session: Session = Depends(get_session)
) -> Response:
    actor = cookie_actor(request, session)
    if actor is None:
        return _login_redirect()
    if name not in CHILD_FORMS:
        raise service.NotFound(f"no form {name!r}")
    patient = service.get_visible(session, actor, Patient, patient_id, live=True)
    fields = form_fields(session, actor, service.RESOURCES[name].create, patient)
    return render(
        request,
        "form.html",
        actor=actor,
        title=CHILD_FORMS[name],
        fields=fields,
        errors=[],
        action=f"/patients/{patient_id}/{name}/new",
    )


@router.post("/patients/{patient_id}/{name}/new", response_class=HTMLResponse)
async def new_child(
    patient_id: int, name: str, request: Request, session: Session = Depends(get_session)
) -> Response:
    if name not in CHILD_FORMS:
        raise service.NotFound(f"no form {name!r}")
    return await _submit(request, session, name, patient_id)


async def _submit(
    request: Request, session: Session, name: str, patient_id: int | None
) -> Response:
    actor = cookie_actor(request, session)
    if actor is None:
        return _login_redirect()
    data = await _form(request)
    resource = service.RESOURCES[name]
    patient = None
    if patient_id is not None:
        patient = service.get_visible(session, actor, Patient, patient_id, live=True)
        data["patient_id"] = str(patient_id)
    try:
        row = service.create(session, actor, resource, parse_form(resource.create, data))
        session.commit()
    except ValidationError as exc:
        errors, status = _errors(exc), 422
    except service.RegistryError as exc:
        session.rollback()
        errors, status = [exc.message], exc.status
    else:
        target = row.id if isinstance(row, Patient) else patient_id
        return RedirectResponse(f"/patients/{target}", status_code=303)
    action = f"/patients/{patient_id}/{name}/new" if patient_id else "/patients/new"
    fields = form_fields(session, actor, resource.create, patient, data)
    title = CHILD_FORMS.get(name, "Enter a patient")
    return render(
        request,
        "form.html",
        status=status,
        actor=actor,
        title=title,
        fields=fields,
        errors=errors,
        action=action,
    )


@router.get("/report", response_class=HTMLResponse)
def report_page(request: Request, session: Session = Depends(get_session)) -> Response:
    actor = cookie_actor(request, session)
    if actor is None:
        return _login_redirect()
    data = load_study_data(session, actor)
    error = None
    try:
        write_study_report(session, actor, report_folder(request, actor))
    except Exception as exc:  # noqa: BLE001 - the page still shows the registry tables
        error = f"the outcome report could not be written: {type(exc).__name__}: {exc}"
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
        return _login_redirect()
    return serve_report_file(report_folder(request, actor), name)
