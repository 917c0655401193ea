"""What the ``irelab registry`` commands share: the Typer app, the common options, opening the
database, and turning a refused operation into one line on stderr and exit 2."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from pydantic import ValidationError
    from sqlalchemy.orm import Session

    from irelab.registry.models import Patient
    from irelab.registry.security import Actor

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


@registry_app.callback()
def _requires_registry_extra() -> None:
    """Research registry: database, users, web service, import/export, study report."""
    from irelab.extras import require_extra

    require_extra("registry", "the research registry")


def err(message: str) -> None:
    """A message for people: to stderr (results go to stdout)."""
    print(message, file=sys.stderr)


def fail(exc: Exception) -> NoReturn:
    """Report a refused operation on stderr and exit 2."""
    from irelab.registry.exchange import ImportRejected

    if isinstance(exc, ImportRejected):
        err(f"{exc.source}: nothing imported ({len(exc.errors)} problems):")
        for error in exc.errors:
            err(f"  {exc.source}: {error}")
    else:
        err(f"irelab registry: {exc}")
    raise typer.Exit(2)


def fail_validation(exc: ValidationError) -> NoReturn:
    """Report the first field a schema refused (``field: message``) on stderr and exit 2."""
    first = exc.errors()[0]
    err(f"irelab registry: {first['loc'][-1]}: {first['msg']}")
    raise typer.Exit(2) from None


def open_registry(database_url: str | None):
    """The registry at ``database_url`` (else $IRELAB_REGISTRY_URL, else the SQLite file in the
    working folder), its schema upgraded to the newest migration."""
    from irelab.registry.database import Registry

    return Registry.open(database_url)


@contextmanager
def registry_session(database_url: str | None, user: str) -> Iterator[Session]:
    """One transaction as ``user`` (committed when the block ends); a refusal exits 2, and the
    database is closed either way."""
    from irelab.registry.service import RegistryError

    registry = open_registry(database_url)
    try:
        with registry.session(user) as session:
            yield session
    except RegistryError as exc:
        fail(exc)
    finally:
        registry.close()


def actor_of(session: Session, username: str) -> Actor:
    """The active user ``username`` as the acting user of ``session`` (else a 403 refusal)."""
    from irelab.registry.study import resolve_actor

    return resolve_actor(session, username)


def patient_by_study_id(session: Session, actor: Actor, study_id: str) -> Patient:
    """The live patient ``study_id`` that ``actor`` may see (else a 404 refusal)."""
    from irelab.registry.models import Patient
    from irelab.registry.service import NotFound, visible

    patient = session.scalars(visible(actor, Patient).where(Patient.study_id == study_id)).first()
    if patient is None:
        raise NotFound(f"no patient {study_id!r}")
    return patient
