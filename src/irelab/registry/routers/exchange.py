"""CSV export/import per table and the data dictionary (role rules in ``registry.exchange``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy.orm import Session

from irelab.registry.deps import api_actor, get_session
from irelab.registry.dictionary import data_dictionary_csv
from irelab.registry.exchange import ImportRejected, export_table, import_table
from irelab.registry.security import Actor

router = APIRouter(prefix="/api", tags=["import/export"])
CSV = "text/csv; charset=utf-8"


@router.get("/export/{table}.csv")
def export_csv(
    table: str, actor: Actor = Depends(api_actor), session: Session = Depends(get_session)
) -> PlainTextResponse:
    text = export_table(session, actor, table)
    session.commit()  # keeps the audit row of the export
    return PlainTextResponse(text, media_type=CSV)


@router.get("/dictionary.csv")
def dictionary_csv(actor: Actor = Depends(api_actor)) -> PlainTextResponse:
    return PlainTextResponse(data_dictionary_csv(), media_type=CSV)


@router.post("/import/{table}")
async def import_csv(
    table: str,
    request: Request,
    actor: Actor = Depends(api_actor),
    session: Session = Depends(get_session),
) -> JSONResponse:
    """Body: the CSV text. All rows are stored, or none (422 with every row error)."""
    text = (await request.body()).decode("utf-8-sig")
    try:
        count = import_table(session, actor, table, text, source=f"{table}.csv")
    except ImportRejected as exc:
        return JSONResponse(
            {
                "detail": exc.message,
                "errors": [
                    {"row": e.row, "column": e.column, "expected": e.expected} for e in exc.errors
                ],
            },
            status_code=422,
        )
    session.commit()
    return JSONResponse({"table": table, "imported": count}, status_code=201)
