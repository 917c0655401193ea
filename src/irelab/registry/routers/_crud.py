"""The create / read / update / retire routes every clinical resource shares, and paging.

There is deliberately no DELETE route: records are retired (``POST /{id}/retire``), kept with
their history and hidden from lists unless ``include_retired=true``.

Lists are pages (keyset pagination on the record id): ``limit`` rows (default
:data:`~irelab.registry.service.DEFAULT_PAGE_SIZE`) after id ``after``; the reply is a JSON list
and, when there are more rows, a ``Link: <...&after=ID>; rel="next"`` header (RFC 8288) with the
URL of the next page. Each page costs one indexed range scan however long the table is.

Every route is a plain ``def``: FastAPI runs it in its thread pool, off the event loop.
"""

# No `from __future__ import annotations` here: FastAPI reads the schema classes of each
# resource from the route signatures at runtime.

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from irelab.outcomes.variables import MAX_RECORD_ID
from irelab.registry import service
from irelab.registry.deps import api_actor, api_writer, get_session, write_session
from irelab.registry.schemas import RetireRequest
from irelab.registry.security import Actor

RecordPath = Annotated[int, Path(ge=1, le=MAX_RECORD_ID)]
RecordQuery = Annotated[int | None, Query(ge=1, le=MAX_RECORD_ID)]
Limit = Annotated[int, Query(ge=1, le=service.MAX_PAGE_SIZE)]


def set_next_link(request: Request, response: Response, next_after: int | None) -> None:
    """Add the RFC 8288 ``Link`` header of the next page (none on the last page)."""
    if next_after is not None:
        url = request.url.include_query_params(after=next_after)
        response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'


def crud_router(resource: service.Resource, *, parent_filters: tuple[str, ...] = ()) -> APIRouter:
    """The routes of ``resource`` under ``/api/<name>``."""
    router = APIRouter(prefix=f"/api/{resource.name}", tags=[resource.name])
    create_schema: type[BaseModel] = resource.create
    update_schema: type[BaseModel] = resource.update
    read_schema = resource.read | resource.pseudonymised_read

    @router.get("", response_model=list[read_schema])
    def list_records(
        request: Request,
        response: Response,
        include_retired: bool = False,
        patient_id: RecordQuery = None,
        procedure_id: RecordQuery = None,
        after: RecordQuery = None,
        limit: Limit = service.DEFAULT_PAGE_SIZE,
        actor: Actor = Depends(api_actor),
        session: Session = Depends(get_session),
    ) -> list[BaseModel]:
        filters = {"patient_id": patient_id, "procedure_id": procedure_id}
        page = service.list_page(
            session,
            actor,
            resource,
            include_retired=include_retired,
            after=after,
            limit=limit,
            **{k: v for k, v in filters.items() if k in parent_filters},
        )
        set_next_link(request, response, page.next_after)
        return [service.to_read(session, actor, resource, row) for row in page.rows]

    @router.get("/{record_id}", response_model=read_schema)
    def read_record(
        record_id: RecordPath,
        actor: Actor = Depends(api_actor),
        session: Session = Depends(get_session),
    ) -> BaseModel:
        row = service.get_visible(session, actor, resource.model, record_id)
        return service.to_read(session, actor, resource, row)

    @router.post("", response_model=read_schema, status_code=201)
    def create_record(
        payload: create_schema,  # type: ignore[valid-type]
        actor: Actor = Depends(api_writer),
        session: Session = Depends(write_session),
    ) -> BaseModel:
        row = service.create(session, actor, resource, payload)
        session.commit()
        return service.to_read(session, actor, resource, row)

    @router.patch("/{record_id}", response_model=read_schema)
    def update_record(
        record_id: RecordPath,
        payload: update_schema,  # type: ignore[valid-type]
        actor: Actor = Depends(api_writer),
        session: Session = Depends(write_session),
    ) -> BaseModel:
        row = service.update(session, actor, resource, record_id, payload)
        session.commit()
        return service.to_read(session, actor, resource, row)

    @router.post("/{record_id}/retire", response_model=read_schema)
    def retire_record(
        record_id: RecordPath,
        payload: RetireRequest,
        actor: Actor = Depends(api_writer),
        session: Session = Depends(write_session),
    ) -> BaseModel:
        row = service.retire(session, actor, resource, record_id, payload)
        session.commit()
        return service.to_read(session, actor, resource, row)

    return router
