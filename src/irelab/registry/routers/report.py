"""The study report: ``irelab.outcomes.write_report`` on the records the user may see.

The report is written to the app's report folder (one subfolder per user, named by the
account's record number, never by the username, so no username can point outside the folder) and
its files are served from there; ``/api/report/summary`` gives the registry counts as JSON.
"""

from __future__ import annotations

import mimetypes
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from irelab.registry.deps import api_actor, get_session
from irelab.registry.models import (
    AdverseEvent,
    AuditEntry,
    FollowUp,
    Patient,
    Procedure,
    Treatment,
    Tumour,
)
from irelab.registry.security import Actor
from irelab.registry.service import NotFound, require_reader, visible
from irelab.registry.study import load_study_data

router = APIRouter(prefix="/api/report", tags=["report"])
DATA_ACTIONS = ("create", "update", "retire")


def report_folder(request: Request, actor: Actor) -> Path:
    """Where the study report of ``actor`` is written (created on first use)."""
    base = request.app.state.report_dir
    if base is None:
        base = Path(tempfile.mkdtemp(prefix="irelab-report-"))
        request.app.state.report_dir = base
    if actor.user_id is None:
        raise NotFound("reports are kept for registry accounts only")
    folder = Path(base) / f"user-{int(actor.user_id)}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_study_report(session: Session, actor: Actor, folder: Path) -> Path:
    """Write the outcomes report of ``actor``'s records to ``folder``; returns index.html.

    The report is rewritten only when the data changed since it was last written: the key is
    the newest create/update/retire row of the audit trail, which every data change adds.
    """
    from irelab.outcomes import write_report

    last_change = session.scalar(
        select(func.max(AuditEntry.id)).where(AuditEntry.action.in_(DATA_ACTIONS))
    )
    key = f"{actor.role}:{actor.site_id}:{last_change}"
    stamp, index = folder / ".data-version", folder / "index.html"
    if index.is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == key:
        return index
    data = load_study_data(session, actor)
    title = "Registry study report" + (" (pseudonymised)" if actor.pseudonymised else "")
    index = Path(write_report(data, folder, title=title))
    stamp.write_text(key, encoding="utf-8")
    return index


@router.get("/summary")
def summary(
    actor: Actor = Depends(api_actor), session: Session = Depends(get_session)
) -> dict[str, int]:
    """Number of live records per table that this user may see (counted in the database)."""
    require_reader(actor)
    return {
        name: session.scalar(
            select(func.count()).select_from(visible(actor, model).order_by(None).subquery())
        )
        for name, model in (
            ("patients", Patient),
            ("tumours", Tumour),
            ("procedures", Procedure),
            ("treatments", Treatment),
            ("adverse_events", AdverseEvent),
            ("followups", FollowUp),
        )
    }


@router.post("/build")
def build(
    request: Request, actor: Actor = Depends(api_actor), session: Session = Depends(get_session)
) -> dict[str, str]:
    """(Re)write this user's study report; returns the URL of its index page."""
    write_study_report(session, actor, report_folder(request, actor))
    return {"url": "/api/report/files/index.html"}


@router.get("/files/{name:path}")
def report_file(name: str, request: Request, actor: Actor = Depends(api_actor)) -> FileResponse:
    """A file of this user's last written report (no path escapes the report folder)."""
    return serve_report_file(report_folder(request, actor), name)


def serve_report_file(folder: Path, name: str) -> FileResponse:
    """``folder/name`` if it lies inside ``folder``, else 404."""
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()) or not path.is_file():
        raise NotFound(f"no report file {name!r}")
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media)
