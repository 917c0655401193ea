"""The data dictionary, generated from the declared tables (:mod:`irelab.outcomes.variables`)
and the ORM models derived from them, so it cannot drift from the API, the CSV files or the
outcome checks.

For every exported table and column: the SQL type, whether it may be empty, the allowed values
(choices, numeric bounds, the study date range, the CTCAE term list and the CIRSE grades), what
monitors see of it, and a description (terminology per Ahmed et al., Radiology
2014;273:241-260).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import inspect

from irelab.outcomes.variables import RECORD_COLUMNS, TABLES
from irelab.registry.exchange import EXPORT_MODELS, _columns, write_csv
from irelab.registry.terms import CIRSE_GRADES, CTCAE_TERMS, CTCAE_VERSION


@dataclass(frozen=True)
class DictionaryEntry:
    """One column of the data dictionary."""

    table: str
    column: str
    type: str
    required: bool
    allowed: str
    description: str
    monitors: str = "shown"


def _allowed(table: str, column: str) -> str:
    if column == "term":
        return "; ".join(sorted(CTCAE_TERMS)) + f" (curated subset of CTCAE v{CTCAE_VERSION})"
    if column == "cirse_grade":
        return "; ".join(f"{g}: {text}" for g, text in CIRSE_GRADES.items())
    spec = TABLES[table]
    return spec[column].allowed() if column in spec else ""


def data_dictionary() -> list[DictionaryEntry]:
    """Every exported column with its type, allowed values, privacy and description."""
    entries = []
    for table, model in EXPORT_MODELS.items():
        columns = inspect(model).columns
        spec = TABLES[table]
        for name in _columns(model):
            column = columns[name]
            if name in spec:
                description, monitors = spec[name].description, spec[name].privacy.value
            else:
                description, monitors = RECORD_COLUMNS.get(name, ""), "withheld"
                if name in ("id", "version"):
                    monitors = "shown"
            entries.append(
                DictionaryEntry(
                    table,
                    name,
                    str(column.type),
                    not column.nullable,
                    _allowed(table, name),
                    description,
                    monitors,
                )
            )
    return entries


def data_dictionary_csv() -> str:
    """The data dictionary as CSV text (the registry's CSV writer)."""
    header = ["table", "column", "type", "required", "allowed", "description", "monitors"]
    rows = [
        [e.table, e.column, e.type, e.required, e.allowed, e.description, e.monitors]
        for e in data_dictionary()
    ]
    return write_csv(header, rows)
