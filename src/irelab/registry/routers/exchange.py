"""CSV export/import per table and the data dictionary (role rules in ``registry.exchange``).

The import body is read by an async dependency (bounded by the app's upload limit,
:mod:`irelab.registry.limits`) and stored by a plain ``def`` route in the thread pool, so a large
import never holds up the event loop that serves everyone else.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy.orm import Session

from irelab.registry.deps import api_actor, api_writer, write_session
from irelab.registry.dictionary import data_dictionary_csv
from irelab.registry.exchange import ImportRejected, export_table, import_table
from irelab.registry.security import Actor

router = APIRouter(prefix="/api", tags=["import/export"])
CSV = "text/csv; charset=utf-8"
#: Row errors listed in a rejection reply (the count of all is given too).
MAX_LISTED_ERRORS = 200


async def request_body(request: Request) -> bytes:
    """The raw request body (its size is bounded by the app's body-size limit)."""
    return await request.body()


@router.get("/export/{table}.csv")
def export_csv(
    table: str, actor: Actor = Depends(api_writer), session: Session = Depends(write_session)
) -> PlainTextResponse:
    text = export_table(session, actor, table[:64])
    session.commit()  # keeps the audit row of the export
    return PlainTextResponse(text, media_type=CSV)


@router.get("/dictionary.csv")
def dictionary_csv(actor: Actor = Depends(api_actor)) -> PlainTextResponse:
    return PlainTextResponse(data_dictionary_csv(), media_type=CSV)


@router.post("/import/{table}")
def import_csv(
    table: str,
    body: bytes = Depends(request_body),
    actor: Actor = Depends(api_writer),
    session: Session = Depends(write_session),
) -> JSONResponse:
    """Body: the CSV text (UTF-8). All rows are stored, or none (422 with every row error)."""
    table = table[:64]
    try:
        count = import_table(session, actor, table, body, source=f"{table}.csv")
    except ImportRejected as exc:
        return JSONResponse(
            {
                "detail": exc.message,
                "error_count": len(exc.errors),
                "errors": [
                    {"row": e.row, "column": e.column[:64], "expected": e.expected}
                    for e in exc.errors[:MAX_LISTED_ERRORS]
                ],
            },
            status_code=422,
        )
    session.commit()
    return JSONResponse({"table": table, "imported": count}, status_code=201)
