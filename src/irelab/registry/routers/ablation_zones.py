"""Routes of the achieved ablation zones: create / read / update / retire like every clinical
resource, and ``POST /api/ablation_zones/from-comparison`` that adds one from the comparison.json
``irelab compare`` wrote (the request body), for ``?tumour_id=`` and optionally
``&procedure_id=`` (default: the only procedure that treated the tumour).

A body that is not a comparison, a value out of its declared range, a tumour of another patient
or one never treated in the procedure answer 422 naming the problem (a comparison's key such as
``metrics.minimal_ablative_margin_mm``); a tumour of another site answers 404 like one that does
not exist; nothing is stored. The body is read by an async dependency and stored by a plain
``def`` route in the thread pool.
"""

# No `from __future__ import annotations` here: FastAPI reads the schema classes of each
# resource from the route signatures at runtime.

import tempfile
from pathlib import Path

from fastapi import Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from irelab.errors import InputError
from irelab.registry import resources, service
from irelab.registry.deps import api_writer, write_session
from irelab.registry.routers._crud import RecordQuery, crud_router
from irelab.registry.routers.exchange import request_body
from irelab.registry.security import Actor
from irelab.registry.zone_import import comparison_record, import_comparison

RESOURCE = resources.RESOURCES["ablation_zones"]
router = crud_router(RESOURCE, parent_filters=("patient_id", "procedure_id"))
#: How an uploaded comparison is named in error messages.
UPLOAD_NAME = "comparison.json"


@router.post("/from-comparison", response_model=RESOURCE.read, status_code=201)
def from_comparison(
    tumour_id: RecordQuery = None,
    procedure_id: RecordQuery = None,
    body: bytes = Depends(request_body),
    actor: Actor = Depends(api_writer),
    session: Session = Depends(write_session),
) -> BaseModel | JSONResponse:
    """Body: comparison.json as ``irelab compare --out`` wrote it (UTF-8 JSON)."""
    if tumour_id is None:
        raise service.Invalid("tumour_id: the tumour the comparison is of (?tumour_id=)",
                              "tumour_id")
    with tempfile.TemporaryDirectory(prefix="irelab-comparison-") as tmp:
        path = Path(tmp) / UPLOAD_NAME
        path.write_bytes(body)
        try:
            record = comparison_record(path, UPLOAD_NAME)
            row = import_comparison(session, actor, record, tumour_id=tumour_id,
                                    procedure_id=procedure_id, shown_as=UPLOAD_NAME)
        except InputError as exc:
            session.rollback()
            return JSONResponse({"detail": str(exc), "field": exc.key[:64]}, status_code=422)
    session.commit()
    return service.to_read(session, actor, RESOURCE, row)
