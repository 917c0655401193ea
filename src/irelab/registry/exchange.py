"""CSV export and import, one file per table, and the data dictionary.

Export respects the reader's role: investigators get their own site, monitors get every site
pseudonymised (free text removed, every date shifted by the patient's random offset), admins get
nothing; password hashes and the date-shift offsets are never exported. Each export is logged in
the audit trail.

Import validates every row of a file against the table's Create schema and the registry's rules
(sites, parents, dates, duplicates) inside one transaction, each row in a savepoint so that all
row-level errors are collected; if any row fails, the whole transaction is rolled back and
:class:`ImportRejected` lists every error (row number, column, what was expected). Nothing of the
file is stored.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from irelab.registry import service
from irelab.registry.audit import record_event
from irelab.registry.models import Patient, ProcedurePair, Tracked
from irelab.registry.security import Actor

#: Exportable tables -> models (users and the audit trail are never exported this way).
EXPORT_MODELS: dict[str, type[Tracked]] = {
    **{name: r.model for name, r in service.RESOURCES.items()},
    "procedure_pairs": ProcedurePair,
}
_NEVER_EXPORTED = frozenset({"date_shift_days", "password_hash"})
_TEXT_COLUMNS = frozenset({"notes", "retire_reason"})


@dataclass(frozen=True)
class RowError:
    """One problem of an import file: data row (1 = first row after the header), column, why."""

    row: int
    column: str
    expected: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.expected}"


class ImportRejected(service.Invalid):
    """A whole import file was rejected; ``errors`` lists every row-level problem."""

    def __init__(self, source: str, errors: list[RowError]) -> None:
        shown = "; ".join(str(e) for e in errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        super().__init__(f"{source}: nothing imported: {shown}{more}", errors[0].column)
        self.source = source
        self.errors = errors


def _columns(model: type[Tracked]) -> list[str]:
    return [a.key for a in inspect(model).column_attrs if a.key not in _NEVER_EXPORTED]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def export_table(session: Session, actor: Actor, table: str) -> str:
    """The CSV text of ``table`` as ``actor`` may see it (retired rows included, flagged)."""
    if table not in EXPORT_MODELS:
        raise service.NotFound(f"no exportable table {table!r}; one of {sorted(EXPORT_MODELS)}")
    model = EXPORT_MODELS[table]
    rows = list(session.scalars(service.visible(actor, model, include_retired=True)))
    columns = _columns(model)
    shifts: dict[int, int] = {}
    if actor.pseudonymised:
        shifts = dict(session.execute(select(Patient.id, Patient.date_shift_days)).all())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = {c: getattr(row, c) for c in columns}
        if actor.pseudonymised:
            shift = dt.timedelta(days=shifts[row.id if model is Patient else row.patient_id])
            for name, value in values.items():
                if name in _TEXT_COLUMNS:
                    values[name] = None
                elif isinstance(value, dt.date | dt.datetime):
                    values[name] = value + shift
        writer.writerow([_cell(values[c]) for c in columns])
    record_event(
        session,
        "export",
        actor.username,
        table_name=table,
        after={"rows": len(rows), "pseudonymised": actor.pseudonymised},
    )
    return out.getvalue()


def _blank_to_none(record: dict[str, str | None]) -> dict[str, str | None]:
    return {k: (None if v is None or v.strip() == "" else v) for k, v in record.items() if k}


def import_table(session: Session, actor: Actor, table: str, text: str, source: str) -> int:
    """Validate and add every row of CSV ``text`` to ``table``; all rows or none (flushed).

    Child tables may name the patient by ``study_id`` instead of ``patient_id``.
    """
    if table not in service.RESOURCES:
        raise service.NotFound(f"no importable table {table!r}; one of {sorted(service.RESOURCES)}")
    service.require_writer(actor)
    resource = service.RESOURCES[table]
    reader = csv.DictReader(io.StringIO(text))
    fields = set(resource.create.model_fields)
    errors: list[RowError] = []
    header = set(reader.fieldnames or ())
    allowed = fields | ({"study_id"} if "patient_id" in fields else set())
    for column in sorted(header - allowed):
        errors.append(RowError(0, column, f"unknown column; expected one of {sorted(fields)}"))
    records = [_blank_to_none(r) for r in reader]
    if not records and not errors:
        errors.append(RowError(1, "", "expected at least one data row"))
    payloads = []
    for number, record in enumerate(records, start=1):
        if "patient_id" in fields and record.get("patient_id") is None and record.get("study_id"):
            study_id = record.pop("study_id")
            patient = session.scalars(
                service.visible(actor, Patient).where(Patient.study_id == study_id)
            ).first()
            record["patient_id"] = str(patient.id) if patient else None
            if patient is None:
                errors.append(RowError(number, "study_id", "expected a registered study ID"))
                continue
        try:
            payloads.append((number, resource.create.model_validate(record)))
        except ValidationError as exc:
            for err in exc.errors():
                column = ".".join(str(p) for p in err["loc"]) or "?"
                errors.append(RowError(number, column, err["msg"]))
    if not errors:
        for number, payload in payloads:
            try:
                with session.begin_nested():
                    service.create(session, actor, resource, payload)
            except service.RegistryError as exc:
                field = exc.field or "?"
                errors.append(RowError(number, field, exc.message.removeprefix(f"{field}: ")))
    if errors:
        session.rollback()
        raise ImportRejected(source, errors)
    return len(payloads)
