"""What every server-rendered page shares: the templates, the submitted form, the redirect to the
login page, the generic form page, saving an upload, and finding the live patient a writer adds
records to.

Jinja2 with autoescaping on (every value is HTML-escaped, so stored script-injection strings show
as text) and undefined names refused. The routers of the pages (:mod:`.login_pages`,
:mod:`.pages`, :mod:`.procedure_pages`, :mod:`.zone_pages`, :mod:`.admin`) use only these
helpers, so a page looks and refuses alike whichever router serves it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from irelab.registry import service
from irelab.registry.csrf import CSRF_FIELD, form_csrf_token
from irelab.registry.deps import SESSION_COOKIE, cookie_actor
from irelab.registry.forms import FormField
from irelab.registry.models import Patient
from irelab.registry.security import Actor


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


def form_page(
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


def saved_upload(upload: Any, folder: Path, name: str) -> tuple[Path | None, str]:
    """Write an uploaded file to ``folder/name``; (path or None when none was sent, its name)."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None, ""
    path = folder / name
    with path.open("wb") as out:
        while chunk := upload.file.read(1 << 20):
            out.write(chunk)
    return path, Path(upload.filename).name[:128]


def writer_and_patient(
    request: Request, session: Session, patient_id: int
) -> tuple[Actor, Patient] | None:
    """The logged-in writer and live patient ``patient_id`` a form adds to (None: not logged in).

    Refuses a reader (403) and a patient the writer may not see or that was retired (404).
    """
    actor = cookie_actor(request, session)
    if actor is None:
        return None
    service.require_writer(actor)
    return actor, service.get_visible(session, actor, Patient, patient_id, live=True)
