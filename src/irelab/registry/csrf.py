"""CSRF protection of the server-rendered forms, and the browser cookies it is bound to.

The web pages are cookie-authenticated, so a page on another site could make a logged-in
browser submit one of our forms. Every form therefore carries a hidden ``csrf`` field, and every
state-changing request to the pages router (any method but GET/HEAD/OPTIONS) is refused with 403
before the route runs unless that field matches the token of this browser's session
(:func:`require_csrf`, a dependency of the whole pages router, so a new form cannot forget it):

- logged in: ``HMAC-SHA256(secret, "irelab-csrf:form:" + session cookie)``. The session cookie is
  the signed session token, which carries a random ``jti``, so the CSRF token differs for every
  login, even two logins of one user in the same second, and dies with the session;
- the login form (no session yet): the same HMAC with purpose ``login`` over a random
  *pre-session* cookie set when the login page is shown. This stops *login CSRF*: another site
  logging the browser into an account of the attacker's choosing.

A forged page cannot read our cookies or our pages (same-origin policy), so it cannot compute or
copy the token; a token of another session, another user or another purpose does not match. The
comparison is constant-time (``hmac.compare_digest``). This is the HMAC token bound to the
session of the OWASP Cross-Site Request Forgery Prevention Cheat Sheet ("Signed Double-Submit
Cookie": the token is an HMAC under a server secret of a session-dependent value), which keeps no
token store on the server.

Cookies are ``HttpOnly`` (scripts cannot read them), ``SameSite=Lax`` (not sent with cross-site
POSTs, sub-requests or frames; sent on top-level links, so a bookmarked or mailed link to a page
still works) and ``Secure`` when the app is served over HTTPS (``create_app(secure_cookies=...)``:
``True``/``False`` forces it, ``None`` follows the request's scheme; behind a TLS-terminating
proxy run uvicorn with ``--proxy-headers`` so the scheme is seen as https).

The JSON API (``/api/...``) needs no CSRF token: it authenticates only with an
``Authorization: Bearer`` header, which a browser never adds by itself to a cross-site request,
and it never reads the session cookie (see :func:`irelab.registry.deps.api_actor`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request
from fastapi.responses import Response

from irelab.registry.deps import SESSION_COOKIE
from irelab.registry.service import Forbidden

#: A random value that binds the login form's CSRF token to this browser before there is a session.
PRESESSION_COOKIE = "irelab_presession"
#: Lifetime of the pre-session cookie (s): one working day to fill in the login form.
PRESESSION_MAX_AGE_S = 24 * 3600
#: Name of the hidden form field that carries the token.
CSRF_FIELD = "csrf"
#: The one form posted without a session; its token is bound to the pre-session cookie.
LOGIN_PATH = "/login"
#: Methods that change nothing and so need no token (RFC 9110 section 9.2.1, "safe methods").
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_MESSAGE = (
    "the form's security (CSRF) token is missing or does not belong to this session, so nothing "
    "was saved: reload the page and submit the form again"
)


class CsrfRejected(Forbidden):
    """A form POST whose CSRF token is missing or wrong (HTTP 403; nothing is stored)."""

    def __init__(self) -> None:
        super().__init__(CSRF_MESSAGE)


def _hmac(request: Request, purpose: str, bound_to: str) -> str:
    key = request.app.state.secret.encode()
    message = f"irelab-csrf:{purpose}:".encode() + bound_to.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def form_csrf_token(request: Request) -> str:
    """The token of the forms of this request's session ('' when there is no session cookie)."""
    session = request.cookies.get(SESSION_COOKIE, "")
    return _hmac(request, "form", session) if session else ""


def login_csrf_token(request: Request, presession: str) -> str:
    """The token of the login form for the pre-session cookie value ``presession``."""
    return _hmac(request, "login", presession)


def new_presession() -> str:
    """A fresh random pre-session value (256 bits)."""
    return secrets.token_urlsafe(32)


async def require_csrf(request: Request) -> None:
    """Refuse (403) any non-safe request whose form lacks this session's CSRF token.

    A dependency of the pages router: it runs before the route, so a refused request changes
    nothing and writes no audit row. Starlette caches the parsed form, so the route reads it again
    for free.
    """
    if request.method in SAFE_METHODS:
        return
    if request.url.path == LOGIN_PATH:
        presession = request.cookies.get(PRESESSION_COOKIE, "")
        expected = login_csrf_token(request, presession) if presession else ""
    else:
        expected = form_csrf_token(request)
    submitted = (await request.form()).get(CSRF_FIELD)
    if not expected or not isinstance(submitted, str):
        raise CsrfRejected()
    # bytes, not str: compare_digest refuses non-ASCII str, and a forged token may be anything
    if not hmac.compare_digest(submitted.encode(), expected.encode()):
        raise CsrfRejected()


def _secure(request: Request) -> bool:
    forced = request.app.state.secure_cookies
    return request.url.scheme == "https" if forced is None else bool(forced)


def set_browser_cookie(
    response: Response, request: Request, name: str, value: str, max_age_s: int
) -> None:
    """Set cookie ``name``: HttpOnly, SameSite=Lax, path /, Secure over HTTPS (module docstring)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age_s,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def clear_browser_cookie(response: Response, request: Request, name: str) -> None:
    """Remove cookie ``name`` (same attributes as it was set with)."""
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=_secure(request))
