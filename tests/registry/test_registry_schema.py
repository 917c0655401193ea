"""The shipped Alembic migrations build exactly the schema of the models."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from irelab.registry.database import Registry
from irelab.registry.models import Base


def test_upgrade_head_on_fresh_sqlite_matches_models(tmp_path: Path) -> None:
    """`alembic upgrade head` on an empty file, then autogenerate's diff must be empty."""
    registry = Registry.open(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    with registry.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    registry.close()
    assert diff == []


def test_audit_log_triggers_reject_update_and_delete(db_path: Path) -> None:
    """Even raw SQL cannot change the audit trail: the migration's triggers abort it."""
    with sqlite3.connect(db_path) as connection:
        connection.execute(
            "INSERT INTO audit_log (at, username, action) VALUES ('2024-01-01', 'x', 'export')"
        )
        for statement in ("UPDATE audit_log SET username = 'y'", "DELETE FROM audit_log"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                connection.execute(statement)
