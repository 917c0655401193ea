"""The web pages' log in and out: the login form, the signed session cookie, logout.

The session is the signed token in an HttpOnly, SameSite=Lax cookie. The login form carries a
CSRF token bound to a short-lived pre-session cookie (:mod:`irelab.registry.csrf`), checked on
the POST before the route runs; a successful login replaces it by the session. Refusals (wrong
password, pending account, locked-out login) show the form again with the reason and their
status (401, 403, 429 with ``Retry-After``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from irelab.registry.csrf import (
    PRESESSION_COOKIE,
    PRESESSION_MAX_AGE_S,
    clear_browser_cookie,
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
from irelab.registry.login import AccountPending, LoginLocked
from irelab.registry.routers._web import form_data, home_of, login_redirect, render, text_fields
from irelab.registry.routers.auth import check_login
from irelab.registry.security import TOKEN_LIFETIME, AuthError, issue_token

#: The login form too carries a CSRF token (bound to the pre-session cookie).
router = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])


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
