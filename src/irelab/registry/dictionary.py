"""The data dictionary, generated from the models and schemas so it cannot drift from them.

For every exported table and column: the SQL type, whether it may be empty, the allowed values
(from the schema's ``Literal`` types and numeric bounds, the CTCAE term list and the CIRSE
grades) and a description (terminology per Ahmed et al., Radiology 2014;273:241-260).
"""

from __future__ import annotations

import csv
import io
import typing
from dataclasses import dataclass

from sqlalchemy import inspect

from irelab.registry.exchange import EXPORT_MODELS, _columns
from irelab.registry.service import RESOURCES
from irelab.registry.terms import CIRSE_GRADES, CTCAE_TERMS, CTCAE_VERSION

DESCRIPTIONS: dict[str, str] = {
    "id": "registry record number",
    "version": "optimistic-locking version; updates must send the version they read",
    "created_at": "when the record was entered (UTC)",
    "created_by": "username that entered the record",
    "updated_at": "when the record was last changed (UTC)",
    "updated_by": "username that last changed the record",
    "retired_at": "when the record was retired (records are never deleted)",
    "retired_by": "username that retired the record",
    "retire_reason": "why the record was retired (free text; removed for monitors)",
    "notes": "free text (removed in pseudonymised exports)",
    "study_id": "pseudonymous study ID (never a name or hospital number)",
    "site_id": "participating site",
    "patient_id": "patient record number",
    "procedure_id": "procedure record number",
    "tumour_id": "tumour record number; empty for patient-level findings",
    "sex": "sex",
    "age_years": "age at inclusion in years",
    "inclusion_date": "date of inclusion in the study",
    "vital_status": "vital status at last contact",
    "last_contact_date": "date of last contact",
    "death_date": "date of death",
    "origin": "primary tumour of the metastasis, e.g. colorectal",
    "size_mm": "largest tumour diameter on pre-procedure imaging, mm",
    "segment": "Couinaud liver segment",
    "distance_vessel_mm": "shortest distance to a major hepatic or portal vessel, mm",
    "distance_bile_duct_mm": "shortest distance to a central bile duct, mm",
    "date": "date of the procedure or imaging study",
    "approach": "access route",
    "general_anaesthesia": "general anaesthesia used",
    "neuromuscular_block": "complete neuromuscular blockade used",
    "cardiac_sync": "pulses synchronised to the ECG R wave",
    "n_probes": "number of electrodes placed",
    "n_pairs": "number of electrode pairs pulsed",
    "pulses": "total pulses delivered",
    "max_voltage_V": "highest pulse voltage, V",
    "max_current_A": "highest pulse current, A",
    "anode": "anode electrode name",
    "cathode": "cathode electrode name",
    "voltage_V": "planned pair voltage, V",
    "predicted_current_A": "current predicted by the plan, A",
    "delivered_pulses": "pulses delivered on this pair (delivery log)",
    "energy_J": "energy delivered on this pair, J (delivery log)",
    "session": "1 = first ablation of the tumour, 2+ = repeat ablation",
    "technical_success": (
        "tumour treated per protocol and covered by the ablation zone on immediate imaging "
        "(Ahmed et al. 2014)"
    ),
    "term": f"CTCAE v{CTCAE_VERSION} term",
    "ctcae_version": "CTCAE version",
    "ctcae_grade": "CTCAE grade",
    "cirse_grade": "CIRSE complication grade (Filippiadis et al. 2017)",
    "onset_day": "days from the procedure to onset",
    "serious": "serious adverse event",
    "relation": "relation to the procedure",
    "outcome": "outcome of the event",
    "modality": "imaging modality",
    "finding": (
        "imaging finding (Ahmed et al. 2014): complete ablation, residual unablated tumour, "
        "local tumour progression, new intrahepatic or extrahepatic disease"
    ),
}


@dataclass(frozen=True)
class DictionaryEntry:
    """One column of the data dictionary."""

    table: str
    column: str
    type: str
    required: bool
    allowed: str
    description: str


_BOUNDS = {"ge": ">=", "le": "<=", "gt": ">", "lt": "<", "max_length": "max length"}


def _allowed(table: str, column: str) -> str:
    if column == "term":
        return "; ".join(sorted(CTCAE_TERMS)) + " (curated subset of CTCAE v5.0)"
    if column == "cirse_grade":
        return "; ".join(f"{g}: {text}" for g, text in CIRSE_GRADES.items())
    resource = RESOURCES.get(table)
    if resource is None or column not in resource.create.model_fields:
        return ""
    info = resource.create.model_fields[column]
    annotation = info.annotation
    options = (
        [annotation]
        if typing.get_origin(annotation) is typing.Literal
        else [a for a in typing.get_args(annotation) if a is not type(None)]
    )
    for arg in options:
        if typing.get_origin(arg) is typing.Literal:
            return ", ".join(str(v) for v in typing.get_args(arg))
    bounds = [
        f"{symbol} {getattr(m, key)}"
        for m in info.metadata
        for key, symbol in _BOUNDS.items()
        if getattr(m, key, None) is not None
    ]
    return ", ".join(bounds)


def data_dictionary() -> list[DictionaryEntry]:
    """Every exported column with its type, allowed values and description."""
    entries = []
    for table, model in EXPORT_MODELS.items():
        columns = inspect(model).columns
        for name in _columns(model):
            column = columns[name]
            entries.append(
                DictionaryEntry(
                    table,
                    name,
                    str(column.type),
                    not column.nullable,
                    _allowed(table, name),
                    DESCRIPTIONS.get(name, ""),
                )
            )
    return entries


def data_dictionary_csv() -> str:
    """The data dictionary as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["table", "column", "type", "required", "allowed", "description"])
    for e in data_dictionary():
        writer.writerow([e.table, e.column, e.type, e.required, e.allowed, e.description])
    return out.getvalue()
