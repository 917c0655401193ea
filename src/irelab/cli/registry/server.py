"""``irelab registry init-db``, ``create-site``, ``create-user`` and ``serve``: set the database
up, bootstrap sites and accounts, and run the web service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from irelab.cli.registry._common import (
    DatabaseUrl,
    err,
    fail_validation,
    open_registry,
    registry_session,
)


def init_db(database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the database schema (alembic upgrade head)."""
    from irelab.registry.database import database_url as resolve

    open_registry(database_url).close()
    err(f"registry schema up to date: {resolve(database_url)}")


def create_site(
    code: str,
    name: str,
    database_url: DatabaseUrl = None,
    admin: Annotated[str, typer.Option("--by", help="who creates it (audit)")] = "cli-admin",
) -> None:
    """Add a participating site."""
    from irelab.registry.accounts import add_site

    with registry_session(database_url, admin) as session:
        add_site(session, code, name)
    err(f"site {code} added")


def create_user(
    username: str,
    role: Annotated[str, typer.Option(help="investigator, data_manager, monitor or admin")],
    site: Annotated[str | None, typer.Option(help="site code (investigators)")] = None,
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="IRELAB_NEW_PASSWORD",
            help="or $IRELAB_NEW_PASSWORD",
        ),
    ] = ...,  # type: ignore[assignment]
    database_url: DatabaseUrl = None,
) -> None:
    """Add a user (bootstraps the first admin); the password is stored as a bcrypt hash."""
    from pydantic import ValidationError

    from irelab.registry.accounts import add_user
    from irelab.registry.schemas import UserCreate

    try:
        UserCreate(username=username, password=password, role=role, site=site)
    except ValidationError as exc:
        fail_validation(exc)
    with registry_session(database_url, "cli-create-user") as session:
        add_user(session, username, password, role, site)
    err(f"user {username} ({role}) added")


def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    database_url: DatabaseUrl = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="worker processes; more than 1 wants PostgreSQL (one database for all)",
        ),
    ] = 1,
    report_dir: Annotated[
        Path | None,
        typer.Option(help="folder of the web study reports (default: a new temporary folder)"),
    ] = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="development mode: /docs without logging in")
    ] = False,
) -> None:
    """Run the web service and pages (uvicorn); upgrades the schema once on start.

    Set IRELAB_REGISTRY_SECRET to keep tokens valid across restarts; with --workers N a secret
    is drawn once for all workers when none is set. Login throttle and logouts live in the
    database, so they hold across workers.
    """
    import os
    import secrets
    import tempfile

    import uvicorn

    from irelab.registry import app as registry_app_module
    from irelab.registry.database import URL_ENV
    from irelab.registry.database import database_url as resolve

    url = resolve(database_url)
    open_registry(url).close()  # migrate once, before any worker starts
    os.environ[URL_ENV] = url
    os.environ.setdefault(registry_app_module.SECRET_ENV, secrets.token_urlsafe(32))
    folder = report_dir or Path(tempfile.mkdtemp(prefix="irelab-reports-"))
    os.environ[registry_app_module.REPORT_DIR_ENV] = str(folder)
    os.environ[registry_app_module.PRODUCTION_ENV] = "0" if dev else "1"
    os.environ[registry_app_module.UPGRADE_ENV] = "0"
    if workers > 1 and url.startswith("sqlite"):
        err("irelab registry: several workers on SQLite queue every write; use PostgreSQL")
    err(f"irelab registry on http://{host}:{port}/ with {workers} worker(s) (Ctrl-C stops)")
    uvicorn.run(
        "irelab.registry.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )
