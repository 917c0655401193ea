"""An ablation-zone record from the comparison ``irelab compare`` wrote (comparison.json).

The file is read only by :func:`irelab.validation.read_comparison_record`, the format's one
reader; this module turns its metrics and provenance into the declared ``ablation_zones``
columns (:mod:`irelab.outcomes.variables`) and adds the record through the service rules, so the
API, the web upload and ``irelab registry import-comparison`` give the same answer: the tumour
must be the patient's and treated in the procedure, one record per treatment, audited.

A value outside its declared range (a margin of 250 mm, a Dice above 1) is refused as an
:class:`~irelab.errors.InputError` naming the comparison file and its own key
(``metrics.minimal_ablative_margin_mm``), so a person can tell which comparison to redo; nothing
is stored. Only file names are kept of the plan and the segmentation, never their folders.
The callers read the file (:func:`comparison_record`) where it arrived: a path, an upload.

Which procedure: the one given, else the only procedure that treated the tumour; a tumour treated
in several sessions needs it named.
"""

from __future__ import annotations

from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from irelab.errors import InputError
from irelab.outcomes.variables import TABLES
from irelab.registry import resources, service
from irelab.registry import schemas as s
from irelab.registry.models import AblationZone, Procedure, Treatment, Tumour
from irelab.registry.security import Actor

if TYPE_CHECKING:  # the validation package (SciPy, the solver) is imported when first read
    from irelab.validation import ComparisonRecord

__all__ = ["COMPARISON_KEYS", "comparison_record", "import_comparison", "zone_values"]

#: Each stored column and the key of comparison.json it comes from.
COMPARISON_KEYS: dict[str, str] = {
    "dice": "metrics.dice",
    "hd95_mm": "metrics.hd95_mm",
    "volume_ratio": "metrics.volume_ratio",
    "predicted_volume_cm3": "metrics.predicted_volume_cm3",
    "achieved_volume_cm3": "metrics.achieved_volume_cm3",
    "tumour_volume_cm3": "metrics.tumour_volume_cm3",
    "minimal_margin_mm": "metrics.minimal_ablative_margin_mm",
    "predicted_minimal_margin_mm": "metrics.predicted_minimal_ablative_margin_mm",
    "plan_file": "plan",
    "segmentation_file": "achieved",
    "registration_residual": "registration.residual_rms_after",
    "irelab_version": "irelab_version",
}


def comparison_record(path: str | Path, shown_as: str | None = None) -> ComparisonRecord:
    """The record of comparison.json at ``path`` (:func:`irelab.validation.
    read_comparison_record`); errors name the file ``shown_as`` (an upload's own name, not the
    temporary file it was saved to) when given."""
    from irelab.validation import read_comparison_record

    try:
        return read_comparison_record(path)
    except InputError as exc:
        if shown_as is None:
            raise
        raise InputError(shown_as, exc.key, exc.expected, exc.got) from None


def _file_name(path: str) -> str:
    """The last part of ``path`` (either separator: comparisons may come from Windows too)."""
    return PureWindowsPath(path).name


def zone_values(record: ComparisonRecord) -> dict[str, Any]:
    """The ``ablation_zones`` columns of a comparison (not yet range-checked)."""
    a = record.agreement
    return {
        "dice": a.dice,
        "hd95_mm": a.hd95_mm,
        "volume_ratio": a.volume_ratio,
        "predicted_volume_cm3": a.predicted_volume_cm3,
        "achieved_volume_cm3": a.achieved_volume_cm3,
        "tumour_volume_cm3": a.tumour_volume_cm3,
        "minimal_margin_mm": a.minimal_margin_mm,
        "predicted_minimal_margin_mm": a.predicted_minimal_margin_mm,
        "plan_file": _file_name(record.plan),
        "segmentation_file": _file_name(record.achieved),
        "registration_residual": record.registration_residual,
        "irelab_version": record.irelab_version,
    }


def _procedure_of(session: Session, tumour: Tumour) -> int:
    """The only live procedure that treated ``tumour`` (else :class:`service.Invalid`)."""
    procedures = sorted(
        session.scalars(
            select(Treatment.procedure_id)
            .join(Procedure, Procedure.id == Treatment.procedure_id)
            .where(
                Treatment.tumour_id == tumour.id,
                Treatment.retired_at.is_(None),
                Procedure.retired_at.is_(None),
            )
        )
    )
    if len(procedures) == 1:
        return procedures[0]
    if not procedures:
        raise service.Invalid(
            f"tumour_id: tumour {tumour.id} has no recorded treatment: record the procedure "
            "that treated it first",
            "tumour_id",
        )
    listed = ", ".join(str(p) for p in procedures)
    raise service.Invalid(
        f"procedure_id: tumour {tumour.id} was treated in procedures {listed}: name the one "
        "this comparison is of",
        "procedure_id",
    )


def _refusal(
    record: ComparisonRecord, values: dict[str, Any], exc: ValidationError, shown_as: str | None
) -> Exception:
    """The first refused value: a comparison's as an error naming the file and its key, a record
    id's (out of the database's range) as the service's refusal."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    if name not in COMPARISON_KEYS:
        return service.Invalid(f"{name}: {error['msg']}", name)
    variable = TABLES["ablation_zones"][name]
    got = values[name]
    return InputError(
        shown_as or str(record.path),
        COMPARISON_KEYS[name],
        f"{variable.label.lower()} {variable.allowed()}",
        got if not isinstance(got, str) else None,  # a file name may name a patient: not echoed
    )


def import_comparison(
    session: Session,
    actor: Actor,
    record: ComparisonRecord,
    *,
    tumour_id: int,
    procedure_id: int | None = None,
    patient_id: int | None = None,
    shown_as: str | None = None,
) -> AblationZone:
    """Add the ablation zone of ``record`` for ``tumour_id`` (audited; flushed, not committed).

    ``patient_id``, when given, must own the tumour; ``procedure_id`` defaults to the only
    procedure that treated the tumour (module docstring); errors name the comparison
    ``shown_as`` when given (as :func:`comparison_record`).
    """
    service.require_writer(actor)
    tumour = service.get_visible(session, actor, Tumour, tumour_id, live=True)
    if patient_id is not None and tumour.patient_id != patient_id:
        raise service.Invalid(
            f"tumour_id: tumour {tumour_id} is not a tumour of this patient", "tumour_id"
        )
    if procedure_id is None:
        procedure_id = _procedure_of(session, tumour)
    values = zone_values(record)
    try:
        payload = s.AblationZoneCreate.model_validate(
            {"procedure_id": procedure_id, "tumour_id": tumour_id, **values}
        )
    except ValidationError as exc:
        raise _refusal(record, values, exc, shown_as) from None
    return service.create(  # type: ignore[return-value]
        session, actor, resources.RESOURCES["ablation_zones"], payload
    )
