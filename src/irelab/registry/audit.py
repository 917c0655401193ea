"""The append-only audit trail, written in the same transaction as every change.

A session listener (not each route) writes the audit rows, so no code path - API, web form, CSV
import, study seeding - can change a clinical row without leaving exactly one audit row with the
record's state before and after. The acting user's name travels in ``session.info["actor"]``;
a write without an actor is refused. Deleting tracked rows and changing audit rows is refused
here, and the migration adds database triggers that reject UPDATE/DELETE on ``audit_log``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from irelab.registry.models import SECRET_COLUMNS, AuditEntry, Tracked

ACTOR_KEY = "actor"
_VERSIONS = "versions_before_flush"


class AuditViolation(RuntimeError):
    """An attempt to delete a tracked row, alter the audit trail, or write without an actor."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def row_state(obj: Tracked) -> dict[str, Any]:
    """The current column values of ``obj`` as JSON-ready data (secrets left out)."""
    mapper = inspect(obj).mapper
    return {
        attr.key: _jsonable(getattr(obj, attr.key))
        for attr in mapper.column_attrs
        if attr.key not in SECRET_COLUMNS
    }


def _state_before(obj: Tracked) -> dict[str, Any]:
    state = inspect(obj)
    before: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        if attr.key in SECRET_COLUMNS:
            continue
        history = state.attrs[attr.key].history
        value = history.deleted[0] if history.deleted else getattr(obj, attr.key)
        before[attr.key] = _jsonable(value)
    return before


def _actor(session: Session) -> str:
    actor = session.info.get(ACTOR_KEY)
    if not actor:
        raise AuditViolation("registry writes need an authenticated actor")
    return str(actor)


def _before_flush(session: Session, flush_context: object, instances: object) -> None:
    for obj in session.deleted:
        raise AuditViolation(f"{type(obj).__name__} rows are retired, never deleted")
    for obj in session.dirty:
        if isinstance(obj, AuditEntry) and session.is_modified(obj):
            raise AuditViolation("the audit trail is append-only")
    now = dt.datetime.now(dt.UTC)
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Tracked) and (obj in session.new or session.is_modified(obj)):
            actor = _actor(session)
            if obj in session.new:
                obj.created_by = obj.created_by or actor
                obj.created_at = obj.created_at or now
            else:
                # the mapper bumps `version` in the flush without attribute history: keep it
                session.info.setdefault(_VERSIONS, {})[id(obj)] = obj.version
            obj.updated_by = actor
            obj.updated_at = now


def _after_flush(session: Session, flush_context: object) -> None:
    rows: list[dict[str, Any]] = []
    now = dt.datetime.now(dt.UTC)
    for obj in session.new:
        if isinstance(obj, Tracked):
            rows.append(_entry(session, "create", obj, None, row_state(obj), now))
    for obj in session.dirty:
        if isinstance(obj, Tracked) and session.is_modified(obj):
            before = _state_before(obj)
            before["version"] = session.info.get(_VERSIONS, {}).pop(id(obj), before["version"])
            after = row_state(obj)
            action = "retire" if before["retired_at"] is None and after["retired_at"] else "update"
            rows.append(_entry(session, action, obj, before, after, now))
    session.info.pop(_VERSIONS, None)
    if rows:
        session.connection().execute(insert(AuditEntry), rows)


def _entry(
    session: Session,
    action: str,
    obj: Tracked,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    now: dt.datetime,
) -> dict[str, Any]:
    return {
        "at": now,
        "username": _actor(session),
        "action": action,
        "table_name": type(obj).__tablename__,
        "record_id": obj.id,
        "before": before,
        "after": after,
    }


def install_audit(session_class: type[Session]) -> None:
    """Attach the audit listeners to ``session_class`` (idempotent)."""
    if not event.contains(session_class, "before_flush", _before_flush):
        event.listen(session_class, "before_flush", _before_flush)
        event.listen(session_class, "after_flush", _after_flush)


def record_event(
    session: Session,
    action: str,
    username: str,
    *,
    table_name: str | None = None,
    after: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Append a non-data event (a failed login, an export) to the audit trail, dated ``at``."""
    session.add(
        AuditEntry(
            at=at or dt.datetime.now(dt.UTC),
            username=username,
            action=action,
            table_name=table_name,
            after=after,
        )
    )
