"""The study data the outcome analysis reads: one pandas frame per registry table.

:class:`StudyData` is the contract between the registry (which loads it from the database) and
the outcome analysis (which never touches the database). Columns, types and allowed values are
listed in :data:`SCHEMA`, whose value columns are the registry's declared variables
(:mod:`irelab.outcomes.variables`: the same ranges as the registry's API, CSV import and data
dictionary); :meth:`StudyData.validate` checks them, plus identifier uniqueness and
the references between frames, and raises :class:`irelab.errors.InputError` naming the frame,
row and column of the first problem. Vocabulary follows the image-guided tumour ablation
reporting standard (Ahmed M et al., Radiology 2014;273:241-260) for follow-up findings, CTCAE
v5.0 for adverse-event grades and the CIRSE classification (Filippiadis DK et al., Cardiovasc
Intervent Radiol 2017;40:1141-1146) for CIRSE grades 1-6.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from enum import Enum
from typing import TYPE_CHECKING

from irelab.errors import InputError
from irelab.outcomes import variables
from irelab.outcomes.variables import EARLIEST_DATE, TABLES, Kind, latest_date

if TYPE_CHECKING:
    import pandas as pd


class _Kind(Enum):
    """How a column's values are checked (see :func:`_check_value`)."""

    TEXT = "a non-empty string"
    OPTIONAL_TEXT = "a non-empty string or None"
    INT = "an integer"
    FLOAT = "a finite number"
    OPTIONAL_FLOAT = "a finite number or missing"
    BOOL = "True or False"
    DATE = "a date"
    OPTIONAL_DATE = "a date or missing (NaT)"


@dataclass(frozen=True)
class _Column:
    kind: _Kind
    allowed: tuple[object, ...] | None = None
    low: float | None = None
    high: float | None = None

    def expectation(self) -> str:
        if self.allowed is not None:
            return "one of " + ", ".join(repr(a) for a in self.allowed)
        text = self.kind.value
        if self.kind in (_Kind.DATE, _Kind.OPTIONAL_DATE):
            return f"{text} from {EARLIEST_DATE} to {latest_date()}"
        if self.low is not None and self.high is not None:
            text += f" in [{self.low:g}, {self.high:g}]"
        elif self.low is not None:
            text += f" >= {self.low:g}"
        return text


#: Follow-up imaging findings, named as in Ahmed et al. 2014 (complete ablation, residual
#: unablated tumour, local tumour progression) plus remote disease (new intrahepatic,
#: extrahepatic) that counts for progression-free survival.
FINDINGS = variables.FINDINGS

_KINDS = {
    (Kind.INT, True): _Kind.INT,
    (Kind.FLOAT, True): _Kind.FLOAT,
    (Kind.FLOAT, False): _Kind.OPTIONAL_FLOAT,
    (Kind.BOOL, True): _Kind.BOOL,
    (Kind.DATE, True): _Kind.DATE,
    (Kind.DATE, False): _Kind.OPTIONAL_DATE,
}


def _declared(table: str, *names: str) -> dict[str, _Column]:
    """The checks of the registry's declared variables ``names`` of ``table``."""
    out = {}
    for name in names:
        v = TABLES[table][name]
        kind = _KINDS.get((v.kind, v.required), _Kind.TEXT)
        out[name] = _Column(kind, v.choices or None, v.low, v.high)
    return out


_ID = _Column(_Kind.TEXT)
#: frame name -> column name -> what it must hold. Identifiers are the frames' own (strings);
#: every value column is checked as the registry declares it (irelab.outcomes.variables).
SCHEMA: dict[str, dict[str, _Column]] = {
    "patients": {
        "study_id": _ID,
        "site": _ID,
        **_declared(
            "patients",
            "sex",
            "age_years",
            "inclusion_date",
            "vital_status",
            "last_contact_date",
            "death_date",
        ),
    },
    "tumours": {
        "tumour_id": _ID,
        "study_id": _ID,
        **_declared(
            "tumours", "origin", "size_mm", "segment", "distance_vessel_mm", "distance_bile_duct_mm"
        ),
    },
    "procedures": {
        "procedure_id": _ID,
        "study_id": _ID,
        **_declared(
            "procedures",
            "date",
            "approach",
            "general_anaesthesia",
            "neuromuscular_block",
            "cardiac_sync",
            "n_probes",
            "n_pairs",
            "pulses",
            "max_voltage_V",
            "max_current_A",
        ),
    },
    "treatments": {
        "procedure_id": _ID,
        "tumour_id": _ID,
        **_declared("treatments", "session", "technical_success"),
    },
    "adverse_events": {
        "ae_id": _ID,
        "procedure_id": _ID,
        "study_id": _ID,
        **_declared(
            "adverse_events",
            "term",
            "ctcae_version",
            "ctcae_grade",
            "cirse_grade",
            "onset_day",
            "serious",
            "relation",
            "outcome",
        ),
    },
    "followups": {
        "followup_id": _ID,
        "study_id": _ID,
        "tumour_id": _Column(_Kind.OPTIONAL_TEXT),
        **_declared("followups", "date", "modality", "finding"),
    },
}

#: frame -> (column, frame it refers to, column there).
_REFERENCES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "tumours": (("study_id", "patients", "study_id"),),
    "procedures": (("study_id", "patients", "study_id"),),
    "treatments": (
        ("procedure_id", "procedures", "procedure_id"),
        ("tumour_id", "tumours", "tumour_id"),
    ),
    "adverse_events": (
        ("procedure_id", "procedures", "procedure_id"),
        ("study_id", "patients", "study_id"),
    ),
    "followups": (("study_id", "patients", "study_id"), ("tumour_id", "tumours", "tumour_id")),
}

#: frame -> its identifier column (unique within the frame).
_KEYS = {
    "patients": "study_id",
    "tumours": "tumour_id",
    "procedures": "procedure_id",
    "adverse_events": "ae_id",
    "followups": "followup_id",
}


def _missing(value: object) -> bool:
    import pandas as pd

    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _is_int(value: object) -> bool:
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return False
    if isinstance(value, int | np.integer):
        return True
    return isinstance(value, float | np.floating) and np.isfinite(value) and value == int(value)


def _check_value(column: _Column, value: object) -> bool:
    """True when ``value`` is acceptable for ``column``."""
    import numpy as np
    import pandas as pd

    kind = column.kind
    if kind in (_Kind.OPTIONAL_TEXT, _Kind.OPTIONAL_FLOAT, _Kind.OPTIONAL_DATE) and _missing(value):
        return True
    if _missing(value):
        return False
    if kind in (_Kind.TEXT, _Kind.OPTIONAL_TEXT):
        ok = isinstance(value, str) and value.strip() != ""
    elif kind is _Kind.INT:
        ok = _is_int(value)
    elif kind in (_Kind.FLOAT, _Kind.OPTIONAL_FLOAT):
        ok = (
            isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool | np.bool_)
            and bool(np.isfinite(value))
        )
    elif kind is _Kind.BOOL:
        ok = isinstance(value, bool | np.bool_)
    else:  # dates, within the registry's study range
        ok = isinstance(value, dt.date | pd.Timestamp | np.datetime64)
        if ok:
            day = pd.Timestamp(value).date()
            return EARLIEST_DATE <= day <= latest_date()
    if not ok:
        return False
    if column.allowed is not None:
        return value in column.allowed
    if column.low is not None and float(value) < column.low:  # type: ignore[arg-type]
        return False
    return column.high is None or float(value) <= column.high  # type: ignore[arg-type]


@dataclass(frozen=True)
class StudyData:
    """The registry's records as pandas frames; columns and meanings are in :data:`SCHEMA`.

    ``treatments`` links tumours to procedures: ``session`` 1 is the first ablation of a tumour,
    2 and up are repeat ablations of the same tumour (for assisted technique efficacy,
    Ahmed et al. 2014). ``followups.tumour_id`` is None for patient-level findings (new
    intrahepatic or extrahepatic disease). Dates may be ``datetime.date`` objects or pandas
    datetimes. Identifiers are strings.
    """

    patients: pd.DataFrame
    tumours: pd.DataFrame
    procedures: pd.DataFrame
    treatments: pd.DataFrame
    adverse_events: pd.DataFrame
    followups: pd.DataFrame

    def validate(self) -> StudyData:
        """Check columns, types, allowed values, unique ids and references; returns ``self``.

        Raises :class:`~irelab.errors.InputError` with source ``StudyData.<frame>`` and key
        ``row <index>, column <name>`` for the first bad value.
        """
        import pandas as pd

        for item in fields(self):
            name = item.name
            frame = getattr(self, name)
            source = f"StudyData.{name}"
            if not isinstance(frame, pd.DataFrame):
                raise InputError(source, "", "a pandas DataFrame", type(frame).__name__)
            missing = [c for c in SCHEMA[name] if c not in frame.columns]
            if missing:
                raise InputError(source, f"column {missing[0]}", "the column to be present")
            for col, spec in SCHEMA[name].items():
                for index, value in frame[col].items():
                    if not _check_value(spec, value):
                        got = None if _missing(value) else value
                        raise InputError(
                            source,
                            f"row {index}, column {col}",
                            spec.expectation(),
                            got if got is not None else "missing",
                        )
            key = _KEYS.get(name)
            if key is not None:
                dup = frame[key].duplicated()
                if dup.any():
                    index = frame.index[dup.to_numpy()][0]
                    raise InputError(
                        source,
                        f"row {index}, column {key}",
                        "a unique identifier",
                        frame.at[index, key],
                    )
        for name, refs in _REFERENCES.items():
            frame = getattr(self, name)
            for col, other, other_col in refs:
                known = set(getattr(self, other)[other_col])
                values = frame[col]
                bad = values.map(lambda v, known=known: not _missing(v) and v not in known)
                if bad.any():
                    index = frame.index[bad.to_numpy()][0]
                    raise InputError(
                        f"StudyData.{name}",
                        f"row {index}, column {col}",
                        f"an existing {other}.{other_col}",
                        frame.at[index, col],
                    )
        self._check_tumour_owners()
        return self

    def _check_tumour_owners(self) -> None:
        """A treatment's tumour and procedure, and a follow-up's tumour, belong to one patient."""
        owner = dict(zip(self.tumours["tumour_id"], self.tumours["study_id"], strict=True))
        proc_owner = dict(
            zip(self.procedures["procedure_id"], self.procedures["study_id"], strict=True)
        )
        for index, row in self.treatments.iterrows():
            if owner[row["tumour_id"]] != proc_owner[row["procedure_id"]]:
                raise InputError(
                    "StudyData.treatments",
                    f"row {index}, column tumour_id",
                    "a tumour of the procedure's patient",
                    row["tumour_id"],
                )
        for index, row in self.followups.iterrows():
            tumour = row["tumour_id"]
            if not _missing(tumour) and owner[tumour] != row["study_id"]:
                raise InputError(
                    "StudyData.followups",
                    f"row {index}, column tumour_id",
                    "a tumour of the follow-up's patient",
                    tumour,
                )


def empty_study_data() -> StudyData:
    """A StudyData with every frame empty (the right columns, no rows)."""
    import pandas as pd

    return StudyData(**{name: pd.DataFrame(columns=list(cols)) for name, cols in SCHEMA.items()})
