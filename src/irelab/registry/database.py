"""Engines, sessions and schema migrations of the registry database.

SQLite file by default (``./irelab-registry.sqlite``, or the URL in ``IRELAB_REGISTRY_URL``),
PostgreSQL by URL (``postgresql+psycopg://user@host:port/db``). The schema is created and upgraded
only by the Alembic migrations shipped in ``irelab/registry/migrations``; nothing here is global:
each app, command or test builds its own :class:`Registry`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from irelab.registry.audit import ACTOR_KEY, install_audit

DEFAULT_URL = "sqlite:///irelab-registry.sqlite"
URL_ENV = "IRELAB_REGISTRY_URL"
MIGRATIONS = Path(__file__).with_name("migrations")


class RegistrySession(Session):
    """A session whose flushes write the audit trail (:mod:`irelab.registry.audit`)."""


install_audit(RegistrySession)


def database_url(url: str | None = None) -> str:
    """``url`` if given, else ``$IRELAB_REGISTRY_URL``, else the SQLite file in the cwd."""
    return url or os.environ.get(URL_ENV) or DEFAULT_URL


def _sqlite_connect(dbapi_connection: object, connection_record: object) -> None:
    # pysqlite's own transaction handling defers BEGIN and so breaks SAVEPOINTs (a RELEASE
    # would commit); let SQLAlchemy emit BEGIN itself (SQLAlchemy docs, "Serializable isolation /
    # Savepoints / Transactional DDL" for the pysqlite dialect).
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: object) -> None:
    connection.exec_driver_sql("BEGIN")  # type: ignore[attr-defined]


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (see :func:`database_url`); SQLite gets foreign keys switched on."""
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(engine: Engine):  # noqa: ANN201 - alembic.config.Config, imported lazily
    """An Alembic configuration pointing at the shipped migrations and at ``engine``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


def upgrade_database(engine: Engine) -> None:
    """Bring the schema of ``engine``'s database to the newest migration (``alembic upgrade``)."""
    from alembic import command

    command.upgrade(alembic_config(engine), "head")


@dataclass(frozen=True)
class Registry:
    """A database engine and its session factory; one per app, command or test."""

    engine: Engine
    sessions: sessionmaker[RegistrySession]

    @classmethod
    def open(cls, url: str | None = None, *, upgrade: bool = True) -> Registry:
        """Connect to ``url`` and, by default, upgrade its schema to the newest migration."""
        engine = make_engine(url)
        if upgrade:
            upgrade_database(engine)
        return cls(engine, sessionmaker(engine, class_=RegistrySession, expire_on_commit=False))

    @contextmanager
    def session(self, actor: str | None = None) -> Iterator[RegistrySession]:
        """A session acting as ``actor``; commits on success, rolls back on any error."""
        with self.sessions() as session:
            session.info[ACTOR_KEY] = actor
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()
