"""The admin's web pages: participating sites and user accounts (list, add, approve).

An admin's first page after logging in. Accounts added here wait for a second admin's approval
(:mod:`irelab.registry.accounts`); the page offers "Approve" only to admins who did not create
the account. Cookie-authenticated like every page, so every POST carries the CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from irelab.registry import service
from irelab.registry.accounts import add_site, add_user, approve_user
from irelab.registry.csrf import require_csrf
from irelab.registry.deps import cookie_actor, get_session, write_session
from irelab.registry.forms import label_of
from irelab.registry.models import ROLES, Site, User
from irelab.registry.routers._crud import RecordPath, RecordQuery
from irelab.registry.routers.pages import form_data, login_redirect, render, text_fields
from irelab.registry.routers.users import require_admin
from irelab.registry.schemas import SiteCreate, UserCreate
from irelab.registry.security import Actor

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])


def _admin(request: Request, session: Session) -> Actor | None:
    actor = cookie_actor(request, session)
    if actor is not None:
        require_admin(actor)
    return actor


def _page(
    request: Request,
    session: Session,
    actor: Actor,
    kind: str,
    *,
    after: int | None = None,
    values: dict[str, str] | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    sites = list(session.scalars(select(Site).where(Site.retired_at.is_(None)).order_by(Site.id)))
    if kind == "sites":
        rows, next_after = sites, None
    else:
        page = service.page_of(session, select(User), User.id, after, service.DEFAULT_PAGE_SIZE)
        rows, next_after = page.rows, page.next_after
    return render(
        request,
        "admin.html",
        status=status,
        actor=actor,
        kind=kind,
        title="Participating sites" if kind == "sites" else "User accounts",
        rows=rows,
        next_after=next_after,
        sites={s.id: s.code for s in sites},
        site_options=[(s.code, s.name) for s in sites],
        roles=ROLES,
        values=values or {},
        errors=errors or [],
        message=None,
    )


def _refusal(exc: ValidationError | service.RegistryError) -> list[str]:
    if isinstance(exc, service.RegistryError):
        return [exc.message]
    out = []
    for error in exc.errors():
        name = str(error["loc"][0])[:64] if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "string_pattern_mismatch":
            message = "letters, digits and the listed signs only, starting with a letter or digit"
        out.append(f"{label_of('users', name)}: {message}.")
    return out


@router.get("/admin")
def admin_home(request: Request, session: Session = Depends(get_session)) -> Response:
    actor = _admin(request, session)
    return login_redirect() if actor is None else RedirectResponse("/admin/users", 303)


@router.get("/admin/sites", response_class=HTMLResponse)
def sites_page(request: Request, session: Session = Depends(get_session)) -> Response:
    actor = _admin(request, session)
    return login_redirect() if actor is None else _page(request, session, actor, "sites")


@router.post("/admin/sites", response_class=HTMLResponse)
def add_site_form(
    request: Request,
    form: FormData = Depends(form_data),
    session: Session = Depends(write_session),
) -> Response:
    actor = _admin(request, session)
    if actor is None:
        return login_redirect()
    values = text_fields(form)
    try:
        payload = SiteCreate(code=values.get("code", ""), name=values.get("name", ""))
        add_site(session, payload.code, payload.name)
        session.commit()
    except (ValidationError, service.RegistryError) as exc:
        session.rollback()
        return _page(
            request, session, actor, "sites", values=values, errors=_refusal(exc), status=422
        )
    return RedirectResponse("/admin/sites", status_code=303)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(
    request: Request, after: RecordQuery = None, session: Session = Depends(get_session)
) -> Response:
    actor = _admin(request, session)
    return (
        login_redirect() if actor is None else _page(request, session, actor, "users", after=after)
    )


@router.post("/admin/users", response_class=HTMLResponse)
def add_user_form(
    request: Request,
    form: FormData = Depends(form_data),
    session: Session = Depends(write_session),
) -> Response:
    actor = _admin(request, session)
    if actor is None:
        return login_redirect()
    values = text_fields(form)
    try:
        payload = UserCreate(
            username=values.get("username", ""),
            password=values.get("password", ""),
            role=values.get("role", ""),
            site=values.get("site") or None,
        )
        add_user(
            session,
            payload.username,
            payload.password,
            payload.role,
            payload.site,
            rounds=request.app.state.bcrypt_rounds,
            approved_by=None,
        )
        session.commit()
    except (ValidationError, service.RegistryError) as exc:
        session.rollback()
        values.pop("password", None)
        return _page(
            request, session, actor, "users", values=values, errors=_refusal(exc), status=422
        )
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{user_id}/approve", response_class=HTMLResponse)
def approve_form(
    user_id: RecordPath,
    request: Request,
    form: FormData = Depends(form_data),
    session: Session = Depends(write_session),
) -> Response:
    actor = _admin(request, session)
    if actor is None:
        return login_redirect()
    version = text_fields(form).get("version", "")
    try:
        approve_user(session, actor, user_id, int(version) if version.isdigit() else 0)
        session.commit()
    except service.RegistryError as exc:
        session.rollback()
        return _page(request, session, actor, "users", errors=[exc.message], status=exc.status)
    return RedirectResponse("/admin/users", status_code=303)
