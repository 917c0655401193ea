"""Read the audit trail (data managers only: it holds unshifted dates and free text).

Read-only by design: there is no route that changes or removes audit rows.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from irelab.registry.deps import api_actor, get_session
from irelab.registry.models import AuditEntry
from irelab.registry.schemas import AuditRead
from irelab.registry.security import Actor
from irelab.registry.service import Forbidden

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", response_model=list[AuditRead])
def list_audit(
    table: str | None = None,
    record_id: int | None = None,
    actor: Actor = Depends(api_actor),
    session: Session = Depends(get_session),
) -> list[AuditEntry]:
    if actor.role != "data_manager":
        raise Forbidden("only data managers read the audit trail")
    query = select(AuditEntry).order_by(AuditEntry.id)
    if table is not None:
        query = query.where(AuditEntry.table_name == table)
    if record_id is not None:
        query = query.where(AuditEntry.record_id == record_id)
    return list(session.scalars(query))
