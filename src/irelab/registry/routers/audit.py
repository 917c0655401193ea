"""Read the audit trail (data managers only: it holds unshifted dates and free text).

Read-only by design: there is no route that changes or removes audit rows. Paged like every
list (``after``/``limit``, ``Link`` header; :mod:`._crud`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from irelab.registry.deps import api_actor, get_session
from irelab.registry.models import AuditEntry
from irelab.registry.routers._crud import Limit, RecordQuery, set_next_link
from irelab.registry.schemas import AuditRead
from irelab.registry.security import Actor
from irelab.registry.service import DEFAULT_PAGE_SIZE, Forbidden, page_of

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", response_model=list[AuditRead])
def list_audit(
    request: Request,
    response: Response,
    table: str | None = None,
    record_id: RecordQuery = None,
    after: RecordQuery = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    actor: Actor = Depends(api_actor),
    session: Session = Depends(get_session),
) -> list[AuditEntry]:
    if actor.role != "data_manager":
        raise Forbidden("only data managers read the audit trail")
    query = select(AuditEntry)
    if table is not None:
        query = query.where(AuditEntry.table_name == table[:32])
    if record_id is not None:
        query = query.where(AuditEntry.record_id == record_id)
    page = page_of(session, query, AuditEntry.id, after, limit)
    set_next_link(request, response, page.next_after)
    return page.rows
