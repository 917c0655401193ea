"""The ``irelab registry`` commands: database set-up, users, the web service, CSV import/export,
demo data and the study report.

Exit codes: 0 ok, 2 bad input or a refused operation (one sentence per problem on stderr).
Commands that act on clinical data take ``--user``: the action is checked against that user's
role and site and written to the audit trail under that name (whoever can run these commands can
read the database file; the roles are enforced for the service).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

registry_app = typer.Typer(
    help="Research registry: database, users, web service, import/export, study report.",
    no_args_is_help=True,
)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL (default: $IRELAB_REGISTRY_URL or sqlite:///irelab-registry.sqlite)",
    ),
]
UserName = Annotated[str, typer.Option("--user", help="registry user the action is done as")]
Json = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _fail(exc: Exception) -> None:
    """Report a refused operation on stderr and exit 2."""
    from irelab.registry.exchange import ImportRejected

    if isinstance(exc, ImportRejected):
        _err(f"{exc.source}: nothing imported ({len(exc.errors)} problems):")
        for error in exc.errors:
            _err(f"  {exc.source}: {error}")
    else:
        _err(f"irelab registry: {exc}")
    raise typer.Exit(2)


def _open(database_url: str | None):
    from irelab.registry.database import Registry

    return Registry.open(database_url)


def _actor(session, username: str):
    from irelab.registry.study import resolve_actor

    return resolve_actor(session, username)


@registry_app.command("init-db")
def init_db(database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the database schema (alembic upgrade head)."""
    from irelab.registry.database import database_url as resolve

    _open(database_url).close()
    _err(f"registry schema up to date: {resolve(database_url)}")


@registry_app.command("create-site")
def create_site(
    code: str,
    name: str,
    database_url: DatabaseUrl = None,
    admin: Annotated[str, typer.Option("--by", help="who creates it (audit)")] = "cli-admin",
) -> None:
    """Add a participating site."""
    from irelab.registry.accounts import add_site
    from irelab.registry.service import RegistryError

    registry = _open(database_url)
    try:
        with registry.session(admin) as session:
            add_site(session, code, name)
    except RegistryError as exc:
        _fail(exc)
    finally:
        registry.close()
    _err(f"site {code} added")


@registry_app.command("create-user")
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
    from irelab.registry.service import RegistryError

    try:
        UserCreate(username=username, password=password, role=role, site=site)
    except ValidationError as exc:
        first = exc.errors()[0]
        _err(f"irelab registry: {first['loc'][-1]}: {first['msg']}")
        raise typer.Exit(2) from None
    registry = _open(database_url)
    try:
        with registry.session("cli-create-user") as session:
            add_user(session, username, password, role, site)
    except RegistryError as exc:
        _fail(exc)
    finally:
        registry.close()
    _err(f"user {username} ({role}) added")


@registry_app.command("serve")
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
    _open(url).close()  # migrate once, before any worker starts
    os.environ[URL_ENV] = url
    os.environ.setdefault(registry_app_module.SECRET_ENV, secrets.token_urlsafe(32))
    folder = report_dir or Path(tempfile.mkdtemp(prefix="irelab-reports-"))
    os.environ[registry_app_module.REPORT_DIR_ENV] = str(folder)
    os.environ[registry_app_module.PRODUCTION_ENV] = "0" if dev else "1"
    os.environ[registry_app_module.UPGRADE_ENV] = "0"
    if workers > 1 and url.startswith("sqlite"):
        _err("irelab registry: several workers on SQLite queue every write; use PostgreSQL")
    _err(f"irelab registry on http://{host}:{port}/ with {workers} worker(s) (Ctrl-C stops)")
    uvicorn.run(
        "irelab.registry.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


@registry_app.command("import")
def import_csv(
    table: Annotated[
        str,
        typer.Argument(
            help="patients, tumours, procedures, treatments, adverse_events or followups"
        ),
    ],
    path: Annotated[Path, typer.Argument(help="CSV file with a header row")],
    user: UserName,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Import a CSV file into TABLE: every row is validated; any error rejects the whole file."""
    from irelab.errors import InputError
    from irelab.registry.exchange import import_table
    from irelab.registry.service import RegistryError

    try:
        data = path.read_bytes()  # decoded by the import, which reports bytes that are not UTF-8
    except OSError as exc:
        raise InputError(str(path), "", "a readable CSV file", str(exc)) from exc
    registry = _open(database_url)
    try:
        with registry.session(user) as session:
            count = import_table(session, _actor(session, user), table, data, str(path))
    except RegistryError as exc:
        _fail(exc)
    finally:
        registry.close()
    if as_json:
        print(json.dumps({"table": table, "imported": count}))
    else:
        _err(f"{path}: {count} rows imported into {table}")


@registry_app.command("import-procedure")
def import_procedure_cmd(
    plan: Annotated[Path, typer.Option(help="irelab plan / case YAML")],
    study_id: Annotated[str, typer.Option(help="patient's study ID")],
    date: Annotated[str, typer.Option(help="procedure date, YYYY-MM-DD")],
    user: UserName,
    log: Annotated[Path | None, typer.Option(help="delivery log (.jsonl)")] = None,
    approach: Annotated[str, typer.Option(help="percutaneous, open or laparoscopic")] = (
        "percutaneous"
    ),
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Add a procedure (probes, pairs, pulses, voltages, currents) from a plan and delivery log."""
    from pydantic import ValidationError

    from irelab.registry.models import Patient
    from irelab.registry.procedure_import import import_procedure, summarise_delivery
    from irelab.registry.service import NotFound, RegistryError, visible

    summary = summarise_delivery(plan, log)
    registry = _open(database_url)
    try:
        with registry.session(user) as session:
            actor = _actor(session, user)
            patient = session.scalars(
                visible(actor, Patient).where(Patient.study_id == study_id)
            ).first()
            if patient is None:
                raise NotFound(f"no patient {study_id!r}")
            proc = import_procedure(
                session, actor, summary, patient_id=patient.id, date=date, approach=approach
            )
            proc_id = proc.id
    except ValidationError as exc:
        first = exc.errors()[0]
        _err(f"irelab registry: {first['loc'][-1]}: {first['msg']}")
        raise typer.Exit(2) from None
    except RegistryError as exc:
        _fail(exc)
    finally:
        registry.close()
    result = {"procedure_id": proc_id, "pulses": summary.pulses, "pairs": len(summary.pairs)}
    print(json.dumps(result) if as_json else f"procedure {proc_id}: {summary.pulses} pulses")


@registry_app.command("export")
def export(
    out: Annotated[Path, typer.Option(help="folder for one CSV per table + dictionary.csv")],
    user: UserName,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Export every table as CSV as USER may see it (monitors: pseudonymised, dates shifted)."""
    from irelab.registry.dictionary import data_dictionary_csv
    from irelab.registry.exchange import EXPORT_MODELS, export_table
    from irelab.registry.service import RegistryError

    out.mkdir(parents=True, exist_ok=True)
    registry = _open(database_url)
    written = []
    try:
        with registry.session(user) as session:
            actor = _actor(session, user)
            for table in EXPORT_MODELS:
                path = out / f"{table}.csv"
                path.write_text(export_table(session, actor, table), encoding="utf-8")
                written.append(str(path))
    except RegistryError as exc:
        _fail(exc)
    finally:
        registry.close()
    (out / "dictionary.csv").write_text(data_dictionary_csv(), encoding="utf-8")
    written.append(str(out / "dictionary.csv"))
    print(json.dumps({"files": written}) if as_json else "\n".join(written))


@registry_app.command("seed-demo")
def seed_demo(
    n_patients: Annotated[int, typer.Option(help="synthetic patients")] = 60,
    seed: Annotated[int, typer.Option(help="random seed")] = 20240611,
    database_url: DatabaseUrl = None,
) -> None:
    """Fill the database with the SYNTHETIC demo cohort (ids SYN-...; not real patients)."""
    from irelab.outcomes import synthetic_cohort
    from irelab.registry.security import Actor
    from irelab.registry.service import RegistryError
    from irelab.registry.study import store_study_data

    data = synthetic_cohort(n_patients=n_patients, seed=seed)
    registry = _open(database_url)
    try:
        with registry.session("seed-demo") as session:
            counts = store_study_data(session, data, Actor("seed-demo", "data_manager", None))
    except RegistryError as exc:
        _fail(exc)
    finally:
        registry.close()
    _err("SYNTHETIC demo data stored: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@registry_app.command("report")
def report(
    out: Annotated[Path, typer.Option(help="output folder")] = Path("out/registry-report"),
    demo: Annotated[bool, typer.Option("--demo", help="use the synthetic cohort")] = False,
    user: Annotated[str | None, typer.Option("--user", help="report as this user")] = None,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """Write the HTML study report (tables, Kaplan-Meier figures) and print its path."""
    from irelab.outcomes import synthetic_cohort, write_report
    from irelab.registry.service import RegistryError
    from irelab.registry.study import load_study_data

    if demo:
        data = synthetic_cohort()
        title = "SYNTHETIC demo cohort - not real patients"
    else:
        if user is None:
            _err("irelab registry report: --user is required without --demo")
            raise typer.Exit(2)
        registry = _open(database_url)
        try:
            with registry.session(user) as session:
                data = load_study_data(session, user)
        except RegistryError as exc:
            _fail(exc)
        finally:
            registry.close()
        title = "Registry study report"
    index = Path(write_report(data, out, title=title))
    print(json.dumps({"report": str(index)}) if as_json else str(index))


def register(app: typer.Typer) -> None:
    """Attach ``irelab registry ...`` to the main app."""
    app.add_typer(registry_app, name="registry")
