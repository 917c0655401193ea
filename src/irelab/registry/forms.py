"""Web forms generated from the declared tables, and refusals in plain words.

:func:`form_fields` lays out the inputs of a declared table (:mod:`irelab.outcomes.variables`:
label, kind, choices, bounds); parent references become hidden fields or choices of the
patient's own records. :func:`plain_errors` turns a refusal - every pydantic error of a form at
once, or every date-order problem the service found - into one sentence per problem, named by
the field's label ("Age (years): must be at most 110."), so a person can fix them all in one go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from irelab.outcomes.variables import TABLES, Kind, Variable
from irelab.registry import service
from irelab.registry.models import Patient, Site
from irelab.registry.security import Actor
from irelab.registry.terms import CTCAE_TERMS


@dataclass(frozen=True)
class FormField:
    """One input of a form; ``errors`` are the plain-word problems found with its last value."""

    name: str
    label: str
    kind: str  # text, textarea, number, date, checkbox, select, hidden, file
    required: bool
    options: tuple[tuple[str, str], ...] = ()
    value: str = ""
    step: str = "any"
    low: str = ""
    high: str = ""
    errors: tuple[str, ...] = ()


_INPUTS = {
    Kind.INT: "number",
    Kind.FLOAT: "number",
    Kind.DATE: "date",
    Kind.BOOL: "checkbox",
    Kind.FREE_TEXT: "textarea",
    Kind.CHOICE: "select",
}


def label_of(table: str, name: str) -> str:
    """The label of field ``name`` of ``table`` (the declaration's, else the name in words)."""
    spec = TABLES.get(table)
    if spec is not None and name in spec:
        return spec[name].label
    return {"site": "Site", "version": "Version"}.get(name, name.replace("_", " ").capitalize())


def _field(variable: Variable, value: str, errors: tuple[str, ...]) -> FormField:
    kind = _INPUTS.get(variable.kind, "text")
    options = tuple((c, c) for c in variable.choices)
    if variable.name == "term":
        kind, options = "select", tuple((t, t) for t in sorted(CTCAE_TERMS))
    bound = {"low": "", "high": ""}
    for key in bound:
        number = getattr(variable, key)
        if number is not None:
            bound[key] = f"{number:g}"
    return FormField(
        variable.name,
        variable.label,
        kind,
        variable.required and variable.default is None and kind != "checkbox",
        options,
        value,
        "1" if variable.kind is Kind.INT else "any",
        bound["low"],
        bound["high"],
        errors,
    )


def form_fields(
    session: Session,
    actor: Actor,
    table: str,
    patient: Patient | None,
    values: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> list[FormField]:
    """Input fields of the Create form of ``table``; parent references become hidden fields or
    choices of ``patient``'s records; ``values`` and ``errors`` of a refused submission."""
    values, errors = values or {}, errors or {}
    fields = []
    if table == "patients" and actor.all_sites:
        sites = session.scalars(select(Site).where(Site.retired_at.is_(None)).order_by(Site.id))
        options = tuple((x.code, f"{x.code}: {x.name}") for x in sites)
        fields.append(
            FormField(
                "site",
                "Site",
                "select",
                True,
                options,
                values.get("site", ""),
                errors=tuple(errors.get("site", ())),
            )
        )
    for variable in TABLES[table].variables:
        if not variable.entered:
            continue
        name = variable.name
        own = tuple(errors.get(name, ()))
        if variable.default is None:
            default = ""
        elif variable.kind is Kind.BOOL:
            default = "on" if variable.default else ""
        else:
            default = str(variable.default)
        field = _field(variable, values.get(name, default), own)
        if name == "patient_id":
            field = FormField(name, variable.label, "hidden", True, value=str(patient.id))
        elif name in ("procedure_id", "tumour_id"):
            resource = service.RESOURCES["procedures" if name == "procedure_id" else "tumours"]
            rows = service.list_rows(session, actor, resource, patient_id=patient.id)
            if name == "procedure_id":
                options = tuple((str(p.id), f"{p.date} ({p.approach})") for p in rows)
            else:
                options = (("", "(whole patient)"),) if not variable.required else ()
                options += tuple(
                    (str(t.id), f"tumour {t.id}: segment {t.segment}, {t.size_mm:g} mm")
                    for t in rows
                )
            field = FormField(
                name,
                variable.label,
                "select",
                variable.required,
                options,
                field.value,
                errors=own,
            )
        fields.append(field)
    return fields


def parse_form(table: str, schema: type[BaseModel], data: dict[str, str]) -> BaseModel:
    """Form strings -> ``schema`` (blank -> left out, unchecked box -> False)."""
    values: dict[str, Any] = {}
    spec = TABLES[table]
    for name in schema.model_fields:
        if name in spec and spec[name].kind is Kind.BOOL:
            values[name] = data.get(name) == "on"
        elif data.get(name, "").strip() != "":
            values[name] = data[name]
    return schema.model_validate(values)


def _sentence(table: str, name: str, error: dict[str, Any]) -> str:
    """One pydantic error in plain words."""
    kind, ctx = error["type"], error.get("ctx") or {}
    spec = TABLES.get(table)
    variable = spec[name] if spec is not None and name in spec else None
    if kind == "missing":
        return "is required."
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))}."
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {ctx.get('ge', ctx.get('gt'))}."
    if kind == "literal_error" and variable is not None:
        return "must be one of: " + ", ".join(variable.choices) + "."
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return "must be a whole number."
    if kind in ("float_parsing", "float_type", "finite_number"):
        return "must be a number."
    if kind.startswith("date"):
        return "must be a date (YYYY-MM-DD)."
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters."
    if kind == "string_too_short":
        return "must not be empty."
    if kind == "string_pattern_mismatch":
        return "may hold letters, digits, '-' and '_' only (a code, never a name)."
    if kind == "extra_forbidden":
        return "is not a field of this form."
    if kind in ("bool_parsing", "bool_type"):
        return "must be yes or no."
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[:1].lower() + message[1:] + ("" if message.endswith(".") else ".")


def plain_errors(table: str, exc: ValidationError | service.Invalid) -> dict[str, list[str]]:
    """Every problem of a refused form, in words, keyed by field ("" for the form as a whole)."""
    out: dict[str, list[str]] = {}
    if isinstance(exc, service.Invalid):
        for field, message in exc.problems:
            text = message.removeprefix(f"{field}: ")
            out.setdefault(field, []).append(f"{label_of(table, field)}: {text}.")
        return out
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        name = loc[0][:64] if loc else ""
        if error["type"] == "value_error" and not loc:
            name = ""
        label = label_of(table, name) if name else "Form"
        out.setdefault(name, []).append(f"{label}: {_sentence(table, name, error)}")
    return out
