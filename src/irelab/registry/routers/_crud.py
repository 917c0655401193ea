"""The create / read / update / retire routes every clinical resource shares.

There is deliberately no DELETE route: records are retired (``POST /{id}/retire``), kept with
their history and hidden from lists unless ``include_retired=true``.
"""

# No `from __future__ import annotations` here: FastAPI reads the schema classes of each
# resource from the route signatures at runtime.

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy.orm import Session

from irelab.registry import service
from irelab.registry.deps import api_actor, get_session
from irelab.registry.schemas import RetireRequest
from irelab.registry.security import Actor


def crud_router(resource: service.Resource, *, parent_filters: tuple[str, ...] = ()) -> APIRouter:
    """The routes of ``resource`` under ``/api/<name>``."""
    router = APIRouter(prefix=f"/api/{resource.name}", tags=[resource.name])
    create_schema: type[BaseModel] = resource.create
    update_schema: type[BaseModel] = resource.update
    read_schema: type[BaseModel] = resource.read

    @router.get("", response_model=list[read_schema])
    def list_records(
        include_retired: bool = False,
        patient_id: int | None = None,
        procedure_id: int | None = None,
        actor: Actor = Depends(api_actor),
        session: Session = Depends(get_session),
    ) -> list[BaseModel]:
        filters = {"patient_id": patient_id, "procedure_id": procedure_id}
        rows = service.list_rows(
            session,
            actor,
            resource,
            include_retired=include_retired,
            **{k: v for k, v in filters.items() if k in parent_filters},
        )
        return [service.to_read(session, actor, resource, row) for row in rows]

    @router.get("/{record_id}", response_model=read_schema)
    def read_record(
        record_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_session)
    ) -> BaseModel:
        row = service.get_visible(session, actor, resource.model, record_id)
        return service.to_read(session, actor, resource, row)

    @router.post("", response_model=read_schema, status_code=201)
    def create_record(
        payload: create_schema,  # type: ignore[valid-type]
        actor: Actor = Depends(api_actor),
        session: Session = Depends(get_session),
    ) -> BaseModel:
        row = service.create(session, actor, resource, payload)
        session.commit()
        return service.to_read(session, actor, resource, row)

    @router.patch("/{record_id}", response_model=read_schema)
    def update_record(
        record_id: int,
        payload: update_schema,  # type: ignore[valid-type]
        actor: Actor = Depends(api_actor),
        session: Session = Depends(get_session),
    ) -> BaseModel:
        row = service.update(session, actor, resource, record_id, payload)
        session.commit()
        return service.to_read(session, actor, resource, row)

    @router.post("/{record_id}/retire", response_model=read_schema)
    def retire_record(
        record_id: int,
        payload: RetireRequest,
        actor: Actor = Depends(api_actor),
        session: Session = Depends(get_session),
    ) -> BaseModel:
        row = service.retire(session, actor, resource, record_id, payload)
        session.commit()
        return service.to_read(session, actor, resource, row)

    return router
