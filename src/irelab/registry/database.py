"""Engines, sessions and schema migrations of the registry database.

SQLite file by default (``./irelab-registry.sqlite``, or the URL in ``IRELAB_REGISTRY_URL``),
PostgreSQL by URL (``postgresql+psycopg://user@host:port/db``). The schema is created and upgraded
only by the Alembic migrations shipped in ``irelab/registry/migrations``; nothing here is global:
each app, command or test builds its own :class:`Registry`.

Concurrent requests queue rather than fail. On SQLite: write-ahead logging (``journal_mode=WAL``:
readers never wait for the writer and the writer never waits for readers), a busy timeout
(:data:`SQLITE_BUSY_TIMEOUT_S`: a second writer waits for the first instead of failing at once)
and ``BEGIN IMMEDIATE`` for every transaction that will write (:meth:`Registry.writing`): the
write lock is taken when the transaction starts, so two writers never both read and then find
they cannot upgrade to write (the deadlock SQLite breaks by failing one of them, which used to
surface as a spurious "being changed by someone else"). Read-only transactions start deferred and
run beside the writer. PostgreSQL needs none of this (row-level locking, MVCC).
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
#: How long a SQLite writer waits for the one before it (s). Design choice: far longer than any
#: request's write (milliseconds) or a large CSV import (seconds), short enough that a stuck
#: writer surfaces as an error (HTTP 503, nothing stored) rather than a hung request.
SQLITE_BUSY_TIMEOUT_S = 30.0
#: Execution option of write transactions: on SQLite they start with BEGIN IMMEDIATE.
_WRITE = "irelab_write"
#: Connections per engine beyond the pool (PostgreSQL): the web server runs sync routes in a
#: thread pool of 40 (AnyIO's default), so that many may want a connection at once.
POOL_SIZE, MAX_OVERFLOW = 10, 30


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
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "memory":
        # synchronous stays FULL (the default): with WAL every acknowledged commit is synced
        # and survives a crash or power loss (SQLite docs, "PRAGMA synchronous")
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin(connection: object) -> None:
    options = connection.get_execution_options()  # type: ignore[attr-defined]
    connection.exec_driver_sql(  # type: ignore[attr-defined]
        "BEGIN IMMEDIATE" if options.get(_WRITE) else "BEGIN"
    )


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (see :func:`database_url`); SQLite gets foreign keys switched on."""
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW
    )


def alembic_config(engine: Engine):
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
    #: sessions whose transactions will write (BEGIN IMMEDIATE on SQLite; module docstring)
    write_sessions: sessionmaker[RegistrySession]

    @classmethod
    def open(cls, url: str | None = None, *, upgrade: bool = True) -> Registry:
        """Connect to ``url`` and, by default, upgrade its schema to the newest migration."""
        engine = make_engine(url)
        if upgrade:
            upgrade_database(engine)
        writer = engine.execution_options(**{_WRITE: True})
        return cls(
            engine,
            sessionmaker(engine, class_=RegistrySession, expire_on_commit=False),
            sessionmaker(writer, class_=RegistrySession, expire_on_commit=False),
        )

    @contextmanager
    def session(self, actor: str | None = None) -> Iterator[RegistrySession]:
        """A writing session acting as ``actor``; commits on success, rolls back on any error."""
        with self.write_sessions() as session:
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
