"""The registry web service: ``create_app`` wires the database, the routers and error handling.

The app owns its database (opened and migrated in ``lifespan``), so tests and servers each pass
their own URL. ``secret`` signs tokens; without one (and without ``IRELAB_REGISTRY_SECRET``) a
random secret is drawn, so tokens do not survive a restart.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from irelab.registry.database import Registry
from irelab.registry.login import LoginLocked, utc_now
from irelab.registry.security import AuthError
from irelab.registry.service import RegistryError

SECRET_ENV = "IRELAB_REGISTRY_SECRET"


def create_app(
    database_url: str | None = None,
    secret: str | None = None,
    *,
    report_dir: str | Path | None = None,
    secure_cookies: bool | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
) -> FastAPI:
    """The registry service on ``database_url`` (default: the SQLite file, see ``database``).

    ``report_dir`` is where the study report is written for the web page (a temporary folder by
    default). ``secure_cookies`` marks the browser cookies ``Secure``: ``None`` (default) when the
    request came over https, ``True``/``False`` always/never (:mod:`irelab.registry.csrf`).
    ``clock`` gives the current UTC time to the login throttle (:mod:`irelab.registry.login`);
    tests pass a fake one.

    The web pages are cookie-authenticated and every form POST needs the session's CSRF token;
    the JSON API under ``/api`` takes only ``Authorization: Bearer`` tokens, never the cookie,
    so it needs no CSRF token.
    """
    from irelab.registry.routers import (
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
        registry = Registry.open(database_url)
        app.state.registry = registry
        try:
            yield
        finally:
            registry.close()

    app = FastAPI(title="irelab registry", lifespan=lifespan)
    app.state.secret = secret or os.environ.get(SECRET_ENV) or secrets.token_urlsafe(32)
    app.state.report_dir = Path(report_dir) if report_dir else None
    app.state.secure_cookies = secure_cookies
    app.state.clock = clock
    for module in (auth, users, patients, tumours, procedures, adverse_events, followups, audit):
        app.include_router(module.router)
    app.include_router(procedures.treatments_router)
    app.include_router(exchange.router)
    app.include_router(report.router)
    app.include_router(pages.router)

    @app.exception_handler(RegistryError)
    async def _registry_error(request: Request, exc: RegistryError) -> Response:
        if not request.url.path.startswith("/api"):
            return pages.render(request, "error.html", status=exc.status, message=exc.message)
        return JSONResponse({"detail": exc.message, "field": exc.field}, status_code=exc.status)

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(LoginLocked)
    async def _login_locked(request: Request, exc: LoginLocked) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "locked_until": exc.until.isoformat()},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    @app.middleware("http")
    async def _security_headers(request: Request, call_next):  # noqa: ANN001, ANN202
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    return app
