"""The registry web service: ``create_app`` wires the database, the routers and error handling.

The app owns its database (opened and migrated in ``lifespan``), so tests and servers each pass
their own URL. ``secret`` signs tokens; without one (and without ``IRELAB_REGISTRY_SECRET``) a
random secret is drawn, so tokens do not survive a restart. :func:`app_from_environment` builds
the app from environment variables: it is what ``irelab registry serve`` runs in each worker.

Error replies never echo the request: validation errors list where and what was expected (at
most :data:`MAX_LISTED_ERRORS`, locations cut to :data:`MAX_LOCATION_CHARS`), never the input
value; database messages are never shown; an unexpected failure answers a plain 500.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from irelab.registry.database import Registry
from irelab.registry.login import AccountPending, LoginLocked, utc_now
from irelab.registry.middleware import BodySizeLimit, SecurityHeaders, security_headers
from irelab.registry.security import BCRYPT_ROUNDS, AuthError
from irelab.registry.service import RegistryError

SECRET_ENV = "IRELAB_REGISTRY_SECRET"
#: Environment of :func:`app_from_environment` (set by ``irelab registry serve``).
REPORT_DIR_ENV = "IRELAB_REGISTRY_REPORT_DIR"
PRODUCTION_ENV = "IRELAB_REGISTRY_PRODUCTION"
UPGRADE_ENV = "IRELAB_REGISTRY_UPGRADE"
BCRYPT_ROUNDS_ENV = "IRELAB_REGISTRY_BCRYPT_ROUNDS"
#: Validation errors listed in one reply; locations (field names) cut to this many characters.
MAX_LISTED_ERRORS = 20
MAX_LOCATION_CHARS = 64
_log = logging.getLogger("irelab.registry")


def _validation_reply(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    listed = [
        {
            "loc": [p if isinstance(p, int) else str(p)[:MAX_LOCATION_CHARS] for p in e["loc"]],
            "msg": str(e["msg"])[:200],
            "type": e["type"],
        }
        for e in errors[:MAX_LISTED_ERRORS]
    ]
    return JSONResponse({"detail": listed, "error_count": len(errors)}, status_code=422)


def create_app(
    database_url: str | None = None,
    secret: str | None = None,
    *,
    report_dir: str | Path | None = None,
    secure_cookies: bool | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
    production: bool = True,
    upgrade: bool = True,
    bcrypt_rounds: int = BCRYPT_ROUNDS,
) -> FastAPI:
    """The registry service on ``database_url`` (default: the SQLite file, see ``database``).

    ``report_dir`` is where the study report is written for the web page (a temporary folder by
    default). ``secure_cookies`` marks the browser cookies ``Secure``: ``None`` (default) when the
    request came over https, ``True``/``False`` always/never (:mod:`irelab.registry.csrf`).
    ``clock`` gives the current UTC time to the login throttle and logouts
    (:mod:`irelab.registry.login`); tests pass a fake one. ``production`` (default) puts the
    interactive API documentation (``/docs``, ``/openapi.json``) behind the web login.
    ``upgrade`` migrates the schema on start (off in the workers of ``serve --workers``: the
    parent migrates once). ``bcrypt_rounds`` is the cost of new accounts' hashes and of the
    dummy check for unknown usernames (:mod:`irelab.registry.login`).

    The web pages are cookie-authenticated and every form POST needs the session's CSRF token;
    the JSON API under ``/api`` takes only ``Authorization: Bearer`` tokens, never the cookie,
    so it needs no CSRF token.
    """
    from irelab.registry.deps import cookie_actor, get_session
    from irelab.registry.routers import (
        admin,
        adverse_events,
        audit,
        auth,
        exchange,
        followups,
        pages,
        patients,
        procedures,
        report,
        tumours,
        users,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = Registry.open(database_url, upgrade=upgrade)
        app.state.registry = registry
        try:
            yield
        finally:
            registry.close()

    app = FastAPI(
        title="irelab registry", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.secret = secret or os.environ.get(SECRET_ENV) or secrets.token_urlsafe(32)
    app.state.report_dir = Path(report_dir) if report_dir else None
    app.state.secure_cookies = secure_cookies
    app.state.clock = clock
    app.state.bcrypt_rounds = bcrypt_rounds
    for module in (auth, users, patients, tumours, procedures, adverse_events, followups, audit):
        app.include_router(module.router)
    app.include_router(procedures.treatments_router)
    app.include_router(exchange.router)
    app.include_router(report.router)
    app.include_router(admin.router)
    app.include_router(pages.router)

    def docs_reader(request: Request, session: Session = Depends(get_session)) -> bool:
        return not production or cookie_actor(request, session) is not None

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(allowed: bool = Depends(docs_reader)) -> Response:
        if not allowed:
            return JSONResponse({"detail": "log in at /login to read the API schema"}, 401)
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(allowed: bool = Depends(docs_reader)) -> Response:
        if not allowed:
            return RedirectResponse("/login", status_code=303)
        return get_swagger_ui_html(openapi_url="/openapi.json", title="irelab registry API")

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_reply(exc)

    @app.exception_handler(RegistryError)
    async def _registry_error(request: Request, exc: RegistryError) -> Response:
        headers = {"Retry-After": "1"} if exc.status == 503 else None
        if not request.url.path.startswith("/api"):
            response = pages.render(request, "error.html", status=exc.status, message=exc.message)
            response.headers.update(headers or {})
            return response
        return JSONResponse(
            {"detail": exc.message, "field": exc.field}, status_code=exc.status, headers=headers
        )

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(AccountPending)
    async def _pending(request: Request, exc: AccountPending) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(LoginLocked)
    async def _login_locked(request: Request, exc: LoginLocked) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "locked_until": exc.until.isoformat()},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # outside the header middleware (Starlette's server-error layer): add them here
        _log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        response = (
            JSONResponse({"detail": "internal error: nothing was stored"}, status_code=500)
            if request.url.path.startswith("/api")
            else HTMLResponse("<p>Internal error: nothing was stored.</p>", status_code=500)
        )
        for name, value in security_headers(request.url.path):
            response.headers[name.decode()] = value.decode()
        return response

    app.add_middleware(BodySizeLimit)
    app.add_middleware(SecurityHeaders)
    return app


def app_from_environment() -> FastAPI:
    """The app as ``irelab registry serve`` configures it, from environment variables:
    ``IRELAB_REGISTRY_URL``, ``IRELAB_REGISTRY_SECRET``, ``IRELAB_REGISTRY_REPORT_DIR``,
    ``IRELAB_REGISTRY_PRODUCTION`` (0 exposes /docs), ``IRELAB_REGISTRY_UPGRADE`` (0: no
    migration on start) and ``IRELAB_REGISTRY_BCRYPT_ROUNDS``."""
    env = os.environ
    return create_app(
        None,
        env.get(SECRET_ENV),
        report_dir=env.get(REPORT_DIR_ENV) or None,
        production=env.get(PRODUCTION_ENV, "1") != "0",
        upgrade=env.get(UPGRADE_ENV, "1") != "0",
        bcrypt_rounds=int(env.get(BCRYPT_ROUNDS_ENV, BCRYPT_ROUNDS)),
    )
