"""CSV export and import, one file per table: the registry's one CSV reader and writer.

Export respects the reader's role: investigators get their own site, monitors get every site
pseudonymised (the columns of their Read model: whole dates shifted by the patient's offset, free
text, usernames and record-keeping times left out), admins get nothing; password hashes and the
date-shift offsets are never exported. Each export is logged in the audit trail. The writer
follows RFC 4180 (CRLF row ends, so a cell holding a bare CR or LF is quoted) and neutralises
text cells that a spreadsheet would run as a formula - those starting with ``= + - @``, TAB or
CR get a leading apostrophe (OWASP "CSV Injection").

Import is strict: the file must be UTF-8 (a BOM is allowed), every row must have exactly the
header's cells, header names must be known and unique, quotes must close on the row they open
(a line break inside a quoted cell is accepted only in free-text columns, where it can be
meant), and no cell may exceed :data:`MAX_CELL_CHARS`. Every row is then validated against the
table's Create schema and the registry's rules (sites, parents, dates, duplicates) inside one
transaction, each row in a savepoint so that all row-level errors are collected; if anything
fails, the whole transaction is rolled back and :class:`ImportRejected` lists every error (row
number, column, what was expected). Nothing of the file is stored.
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

from irelab.outcomes.variables import FREE_TEXT_MAX_CHARS, TABLES, Kind, Privacy
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
#: Longest cell an import accepts: the longest free text the registry stores.
MAX_CELL_CHARS = FREE_TEXT_MAX_CHARS
#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Row end of written CSV (RFC 4180).
ROW_END = "\r\n"
_MULTILINE = frozenset(
    v.name for t in TABLES.values() for v in t.variables if v.kind is Kind.FREE_TEXT
) | {"retire_reason"}


@dataclass(frozen=True)
class RowError:
    """One problem of an import file: data row (1 = first row after the header; 0 = the header
    or the file as a whole), column, what was expected."""

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


# --- writing -------------------------------------------------------------------------------------
def neutralise(value: str) -> str:
    """``value`` with a leading apostrophe if a spreadsheet would run it as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, str):
        return neutralise(value)
    return str(value)


def write_csv(header: list[str], rows: list[list[Any]]) -> str:
    """CSV text (RFC 4180, formula cells neutralised) of ``header`` and ``rows``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=ROW_END)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def _columns(model: type[Tracked]) -> list[str]:
    return [a.key for a in inspect(model).column_attrs if a.key not in _NEVER_EXPORTED]


def export_columns(table: str, pseudonymised: bool) -> list[str]:
    """The columns of ``table``'s export: all but secrets, or a monitor's pseudonymised ones."""
    if not pseudonymised:
        return _columns(EXPORT_MODELS[table])
    visible = [
        v.name
        for v in TABLES[table].variables
        if v.privacy not in (Privacy.HIDDEN, Privacy.WITHHOLD)
    ]
    return ["id", "version", "retired", *visible]


def export_table(session: Session, actor: Actor, table: str) -> str:
    """The CSV text of ``table`` as ``actor`` may see it (retired rows included, flagged)."""
    if table not in EXPORT_MODELS:
        raise service.NotFound(f"no exportable table {table!r}; one of {sorted(EXPORT_MODELS)}")
    model = EXPORT_MODELS[table]
    rows = list(session.scalars(service.visible(actor, model, include_retired=True)))
    columns = export_columns(table, actor.pseudonymised)
    shifts: dict[int, int] = {}
    if actor.pseudonymised:
        shifts = dict(session.execute(select(Patient.id, Patient.date_shift_days)).all())
    values = []
    for row in rows:
        if actor.pseudonymised:
            shift = shifts[row.id if model is Patient else row.patient_id]
            record = {"id": row.id, "version": row.version, "retired": row.retired_at is not None}
            for name in columns[3:]:
                record[name] = service.pseudonymised_value(name, table, getattr(row, name), shift)
            values.append([record[c] for c in columns])
        else:
            values.append([getattr(row, c) for c in columns])
    record_event(
        session,
        "export",
        actor.username,
        table_name=table,
        after={"rows": len(rows), "pseudonymised": actor.pseudonymised},
    )
    return write_csv(columns, values)


# --- reading -------------------------------------------------------------------------------------
def _decode(data: str | bytes, errors: list[RowError]) -> str | None:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        errors.append(
            RowError(
                0, "", f"UTF-8 text; line {line} holds a byte that is not (offset {exc.start})"
            )
        )
        return None


def read_csv(
    data: str | bytes, allowed: set[str], source: str
) -> list[tuple[int, dict[str, str | None]]]:
    """The data rows of CSV ``data`` as (row number, {column: cell or None}), read strictly
    (module docstring); :class:`ImportRejected` with every problem found otherwise."""
    errors: list[RowError] = []
    text = _decode(data, errors)
    if text is None:
        raise ImportRejected(source, errors)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[list[str]] = []
    try:
        for record in reader:
            records.append(record)
    except csv.Error as exc:
        errors.append(
            RowError(
                len(records),
                "",
                f"well-formed CSV from line {reader.line_num} on ({exc}): an unclosed quote or a "
                f"cell longer than {MAX_CELL_CHARS} characters?",
            )
        )
    if not records:
        errors.append(RowError(0, "", "a header row and at least one data row"))
        raise ImportRejected(source, errors)
    header = [h.strip() for h in records[0]]
    seen: set[str] = set()
    for column in header:
        if column in seen:
            errors.append(RowError(0, column[:64], "each column once (this header is repeated)"))
        elif column not in allowed:
            errors.append(RowError(0, column[:64], f"a known column, one of {sorted(allowed)}"))
        seen.add(column)
    rows = []
    for number, record in enumerate(records[1:], start=1):
        if record == []:
            continue  # a blank line
        if len(record) != len(header):
            errors.append(
                RowError(number, "", f"{len(header)} cells like the header, got {len(record)}")
            )
            continue
        row: dict[str, str | None] = {}
        for column, cell in zip(header, record, strict=True):
            if len(cell) > MAX_CELL_CHARS:
                errors.append(RowError(number, column, f"at most {MAX_CELL_CHARS} characters"))
            elif ("\n" in cell or "\r" in cell) and column not in _MULTILINE:
                errors.append(
                    RowError(
                        number, column, "one line (a line break in the cell: is a quote unclosed?)"
                    )
                )
            row[column] = None if cell.strip() == "" else cell
        rows.append((number, row))
    if not rows and not errors:
        errors.append(RowError(1, "", "at least one data row"))
    if errors:
        raise ImportRejected(source, errors)
    return rows


def import_table(session: Session, actor: Actor, table: str, data: str | bytes, source: str) -> int:
    """Validate and add every row of CSV ``data`` to ``table``; all rows or none (flushed).

    Child tables may name the patient by ``study_id`` instead of ``patient_id``.
    """
    if table not in service.RESOURCES:
        raise service.NotFound(f"no importable table {table!r}; one of {sorted(service.RESOURCES)}")
    service.require_writer(actor)
    resource = service.RESOURCES[table]
    fields = set(resource.create.model_fields)
    allowed = fields | ({"study_id"} if "patient_id" in fields else set())
    records = read_csv(data, allowed, source)
    errors: list[RowError] = []
    payloads = []
    for number, record in records:
        if "patient_id" in fields and record.get("patient_id") is None and record.get("study_id"):
            study_id = record.pop("study_id")
            patient = session.scalars(
                service.visible(actor, Patient).where(Patient.study_id == study_id)
            ).first()
            record["patient_id"] = str(patient.id) if patient else None
            if patient is None:
                errors.append(RowError(number, "study_id", "expected a registered study ID"))
                continue
        if "patient_id" in fields:
            record.pop("study_id", None)
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
