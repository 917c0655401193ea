"""The study's variables, declared once: every column of the registry's clinical tables with its
kind, range, allowed values, unit and meaning.

Everything that checks or describes a clinical value derives from :data:`TABLES`: the registry's
ORM models (``irelab.registry.models``), its API and form schemas (``irelab.registry.schemas``),
its CSV import/export (``irelab.registry.exchange``), its data dictionary
(``irelab.registry.dictionary``) and the outcome analysis's input checks
(:class:`irelab.outcomes.StudyData`). This module is plain Python (no SQLAlchemy, pydantic or
pandas), so the outcome analysis can read it without the web stack.

Ranges and why they are what they are (each is a plausibility bound that catches typing slips;
none is a clinical recommendation):

- ``max_voltage_V`` and pair ``voltage_V`` <= 3000 V: the NanoKnife generator's maximum output,
  which the case file (``irelab.case.schema.MAX_VOLTAGE_V``) and the generator model
  (``irelab.delivery.GeneratorConfig.max_voltage_V``) already enforce; a value above it cannot
  come from the clinical device nor from an irelab plan. (The outcome checks had 5000 V.)
- ``pulses`` (all pulses of a procedure) <= 100,000: irelab's case file allows up to 66 pairs
  (12 probes) with up to 1000 treatment pulses each plus the 10 test pulses of the '10-90'
  protocol, i.e. 66 x 1010 = 66,660 pulses at a single placement; the registry must store any
  procedure the planner and generator can deliver, so the ceiling is the next round number
  above that. The API's former 10,000 refused a 12-probe plan at two placements (13,200 pulses
  at 100 per pair).
- ``age_years`` 18-110: adults only (IRE of liver metastases is reported in adults) and the
  oldest plausible age; the outcome checks' former 0-120 accepted children.
- Dates: not before :data:`EARLIEST_DATE` (irreversible electroporation as an ablation method was
  first proposed by Davalos RV, Mir LM, Rubinsky B, Ann Biomed Eng 2005;33:223-231; no IRE study
  date can predate it) and not after today (UTC) plus :data:`FUTURE_TOLERANCE` (one day: a site
  east of UTC is up to 14 h ahead, so its "today" can be UTC's tomorrow). Follow-ups get no
  further tolerance: they record imaging that was done, never planned imaging. These bounds also
  keep every date shifted for monitors (+-365 days) inside the range of Python dates and pandas
  timestamps (1677-2262).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum

#: Earliest date of any study record (Davalos et al. 2005; module docstring).
EARLIEST_DATE = dt.date(2005, 1, 1)
#: How far after today (UTC) a date may lie: the date line (module docstring).
FUTURE_TOLERANCE = dt.timedelta(days=1)
#: Largest record id: PostgreSQL's ``integer`` (the registry's id columns), 2**31 - 1.
MAX_RECORD_ID = 2**31 - 1
#: Longest free text (notes) in characters; a page of text.
FREE_TEXT_MAX_CHARS = 4000


def latest_date(today: dt.date | None = None) -> dt.date:
    """The latest acceptable study date: today (UTC) plus :data:`FUTURE_TOLERANCE`."""
    return (today or dt.datetime.now(dt.UTC).date()) + FUTURE_TOLERANCE


class Kind(Enum):
    """What a variable holds; the value is how the data dictionary names it."""

    CODE = "code"  # a short identifier typed by a person (pattern-checked)
    TEXT = "text"  # a short single-line text
    FREE_TEXT = "free text"  # notes: withheld from monitors
    CHOICE = "choice"  # one of ``choices``
    INT = "integer"
    FLOAT = "number"
    BOOL = "yes/no"
    DATE = "date"
    REFERENCE = "record id"  # the id of a row of another table


class Privacy(Enum):
    """What a pseudonymised (monitor) view shows of a variable."""

    KEEP = "shown"
    SHIFT = "shifted by the patient's date offset"
    WITHHOLD = "withheld"
    VOCABULARY = "shown if one of the listed values, else 'other'"
    HIDDEN = "never shown or exported"


@dataclass(frozen=True)
class Variable:
    """One column of a clinical table.

    ``required``: never empty (NOT NULL; Create needs a value unless there is a ``default``).
    ``entered``: typed by a person (part of the Create schema); else set by the registry.
    ``editable``: may be changed by an update. ``unique``: no two rows share a value.
    ``check``: name of the database CHECK
    constraint that enforces ``low``..``high`` too. ``width``: characters of the SQL column.
    """

    name: str
    kind: Kind
    label: str
    description: str
    required: bool = True
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    width: int | None = None
    pattern: str | None = None
    default: object = None
    entered: bool = True
    editable: bool = True
    references: str | None = None
    index: bool = False
    unique: bool = False
    check: str | None = None
    privacy: Privacy = Privacy.KEEP
    vocabulary: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind is Kind.DATE and self.privacy is Privacy.KEEP:
            object.__setattr__(self, "privacy", Privacy.SHIFT)
        if self.kind is Kind.FREE_TEXT and self.privacy is Privacy.KEEP:
            object.__setattr__(self, "privacy", Privacy.WITHHOLD)

    @property
    def max_length(self) -> int | None:
        return FREE_TEXT_MAX_CHARS if self.kind is Kind.FREE_TEXT else self.width

    def allowed(self) -> str:
        """The allowed values in words (data dictionary, error messages)."""
        if self.choices:
            return ", ".join(self.choices)
        if self.kind is Kind.DATE:
            return f"{EARLIEST_DATE} to today (UTC) + {FUTURE_TOLERANCE.days} day"
        if self.kind is Kind.REFERENCE:
            return f"id of a {self.references} record"
        parts = []
        if self.low is not None:
            parts.append(f">= {self.low:g}")
        if self.high is not None:
            parts.append(f"<= {self.high:g}")
        if self.pattern is not None:
            parts.append(f"pattern {self.pattern}")
        if self.max_length is not None and self.kind is not Kind.CODE:
            parts.append(f"at most {self.max_length} characters")
        return ", ".join(parts)


@dataclass(frozen=True)
class Table:
    """A clinical table: its variables and the combinations that must be unique."""

    name: str
    variables: tuple[Variable, ...]
    unique: tuple[tuple[str, tuple[str, ...]], ...] = ()
    _by_name: dict[str, Variable] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {v.name: v for v in self.variables})

    def __getitem__(self, name: str) -> Variable:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


def _ref(
    name: str,
    table: str,
    label: str,
    *,
    required: bool = True,
    entered: bool = True,
    editable: bool = False,
) -> Variable:
    return Variable(
        name,
        Kind.REFERENCE,
        label,
        f"{label} (record number)",
        required=required,
        references=table,
        index=True,
        entered=entered,
        editable=editable,
    )


def _notes() -> Variable:
    return Variable(
        "notes", Kind.FREE_TEXT, "Notes", "free text (withheld from monitors)", required=False
    )


_MM = {"low": 0.0, "high": 500.0}
#: Primary tumours of liver metastases shown to monitors as typed; any other text is 'other'.
ORIGINS: tuple[str, ...] = (
    "colorectal",
    "neuroendocrine",
    "breast",
    "pancreatic",
    "gastric",
    "oesophageal",
    "melanoma",
    "lung",
    "renal",
    "ovarian",
    "sarcoma",
    "other",
)
SEXES = ("F", "M")
VITAL_STATUSES = ("alive", "dead", "lost")
APPROACHES = ("percutaneous", "open", "laparoscopic")
MODALITIES = ("CT", "MRI", "PET-CT", "US")
#: Per-tumour (or patient-level) imaging findings: Ahmed M et al. "Image-guided tumor ablation:
#: standardization of terminology and reporting criteria - a 10-year update", Radiology
#: 2014;273:241-260 (complete ablation, residual unablated tumour, local tumour progression),
#: plus remote disease (new intrahepatic, extrahepatic) that counts for progression-free survival.
FINDINGS = (
    "complete_ablation",
    "residual_unablated_tumour",
    "local_tumour_progression",
    "new_intrahepatic",
    "extrahepatic",
)
RELATIONS = ("related", "possibly", "unrelated")
AE_OUTCOMES = ("resolved", "ongoing", "fatal")
#: Largest number of probes (the case file's limit) and so of pairs, C(12, 2) = 66.
MAX_PROBES = 12
MAX_PAIRS = MAX_PROBES * (MAX_PROBES - 1) // 2
MAX_VOLTAGE_V = 3000.0
MAX_PULSES = 100_000
#: A pulse current above 50 A aborts a pair (the generator's limit, irelab.delivery); 100 A
#: leaves room for the peak the log records before the abort.
MAX_CURRENT_A = 100.0

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "patients",
            (
                Variable(
                    "study_id",
                    Kind.CODE,
                    "Study ID",
                    "pseudonymous study ID (never a name or hospital number)",
                    width=64,
                    pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
                    editable=False,
                    unique=True,
                ),
                Variable(
                    "site_id",
                    Kind.REFERENCE,
                    "Site",
                    "participating site",
                    references="sites",
                    entered=False,
                    editable=False,
                    index=True,
                ),
                Variable("sex", Kind.CHOICE, "Sex", "sex", choices=SEXES, width=1),
                Variable(
                    "age_years",
                    Kind.INT,
                    "Age (years)",
                    "age at inclusion in years",
                    low=18,
                    high=110,
                ),
                Variable(
                    "inclusion_date", Kind.DATE, "Inclusion date", "date of inclusion in the study"
                ),
                Variable(
                    "vital_status",
                    Kind.CHOICE,
                    "Vital status",
                    "vital status at last contact",
                    choices=VITAL_STATUSES,
                    width=8,
                    default="alive",
                ),
                Variable("last_contact_date", Kind.DATE, "Last contact", "date of last contact"),
                Variable("death_date", Kind.DATE, "Date of death", "date of death", required=False),
                Variable(
                    "date_shift_days",
                    Kind.INT,
                    "Date shift (days)",
                    "per-patient random offset of pseudonymised dates",
                    entered=False,
                    editable=False,
                    privacy=Privacy.HIDDEN,
                ),
                _notes(),
            ),
        ),
        Table(
            "tumours",
            (
                _ref("patient_id", "patients", "Patient"),
                Variable(
                    "origin",
                    Kind.TEXT,
                    "Primary tumour",
                    "primary tumour of the metastasis, e.g. colorectal",
                    width=64,
                    privacy=Privacy.VOCABULARY,
                    vocabulary=ORIGINS,
                ),
                Variable(
                    "size_mm",
                    Kind.FLOAT,
                    "Size (mm)",
                    "largest tumour diameter on pre-procedure imaging, mm",
                    **_MM,
                ),
                Variable(
                    "segment",
                    Kind.INT,
                    "Couinaud segment",
                    "Couinaud liver segment",
                    low=1,
                    high=8,
                    check="ck_tumours_segment",
                ),
                Variable(
                    "distance_vessel_mm",
                    Kind.FLOAT,
                    "Distance to vessel (mm)",
                    "shortest distance to a major hepatic or portal vessel, mm",
                    required=False,
                    **_MM,
                ),
                Variable(
                    "distance_bile_duct_mm",
                    Kind.FLOAT,
                    "Distance to bile duct (mm)",
                    "shortest distance to a central bile duct, mm",
                    required=False,
                    **_MM,
                ),
                _notes(),
            ),
        ),
        Table(
            "procedures",
            (
                _ref("patient_id", "patients", "Patient"),
                Variable("date", Kind.DATE, "Procedure date", "date of the procedure"),
                Variable(
                    "approach",
                    Kind.CHOICE,
                    "Approach",
                    "access route",
                    choices=APPROACHES,
                    width=16,
                ),
                Variable(
                    "general_anaesthesia",
                    Kind.BOOL,
                    "General anaesthesia",
                    "general anaesthesia used",
                    default=True,
                ),
                Variable(
                    "neuromuscular_block",
                    Kind.BOOL,
                    "Neuromuscular block",
                    "complete neuromuscular blockade used",
                    default=True,
                ),
                Variable(
                    "cardiac_sync",
                    Kind.BOOL,
                    "ECG-synchronised",
                    "pulses synchronised to the ECG R wave",
                    default=True,
                ),
                Variable(
                    "n_probes",
                    Kind.INT,
                    "Probes",
                    "number of electrodes placed",
                    low=1,
                    high=MAX_PROBES,
                ),
                Variable(
                    "n_pairs",
                    Kind.INT,
                    "Electrode pairs",
                    "number of distinct electrode pairs pulsed",
                    low=1,
                    high=MAX_PAIRS,
                ),
                Variable(
                    "pulses", Kind.INT, "Pulses", "total pulses delivered", low=1, high=MAX_PULSES
                ),
                Variable(
                    "max_voltage_V",
                    Kind.FLOAT,
                    "Highest voltage (V)",
                    "highest pulse voltage, V",
                    required=False,
                    low=0,
                    high=MAX_VOLTAGE_V,
                ),
                Variable(
                    "max_current_A",
                    Kind.FLOAT,
                    "Highest current (A)",
                    "highest pulse current, A",
                    required=False,
                    low=0,
                    high=MAX_CURRENT_A,
                ),
                _notes(),
            ),
        ),
        Table(
            "procedure_pairs",
            (
                _ref("patient_id", "patients", "Patient", entered=False),
                _ref("procedure_id", "procedures", "Procedure"),
                Variable("anode", Kind.TEXT, "Anode", "anode electrode name", width=32),
                Variable("cathode", Kind.TEXT, "Cathode", "cathode electrode name", width=32),
                Variable(
                    "placement",
                    Kind.INT,
                    "Placement",
                    "0-based index of the probe-array placement at which the pair was delivered "
                    "(pullbacks and sideways moves repeat the pairs)",
                    low=0,
                    high=999,
                    default=0,
                ),
                Variable(
                    "voltage_V",
                    Kind.FLOAT,
                    "Voltage (V)",
                    "planned pair voltage, V",
                    low=0,
                    high=MAX_VOLTAGE_V,
                ),
                Variable(
                    "predicted_current_A",
                    Kind.FLOAT,
                    "Predicted current (A)",
                    "current predicted by the plan, A",
                    required=False,
                    low=0,
                    high=MAX_CURRENT_A,
                ),
                Variable(
                    "delivered_pulses",
                    Kind.INT,
                    "Delivered pulses",
                    "pulses delivered on this pair at this placement (delivery log)",
                    required=False,
                    low=0,
                    high=MAX_PULSES,
                ),
                Variable(
                    "max_current_A",
                    Kind.FLOAT,
                    "Highest current (A)",
                    "highest pulse current on this pair, A (delivery log)",
                    required=False,
                    low=0,
                    high=MAX_CURRENT_A,
                ),
                Variable(
                    "energy_J",
                    Kind.FLOAT,
                    "Energy (J)",
                    "energy delivered on this pair, J (delivery log)",
                    required=False,
                    low=0,
                ),
            ),
            unique=(("uq_procedure_pairs", ("procedure_id", "anode", "cathode", "placement")),),
        ),
        Table(
            "treatments",
            (
                _ref("patient_id", "patients", "Patient", entered=False),
                _ref("procedure_id", "procedures", "Procedure"),
                _ref("tumour_id", "tumours", "Tumour"),
                Variable(
                    "session",
                    Kind.INT,
                    "Session",
                    "1 = first ablation of the tumour, 2+ = repeat ablation",
                    low=1,
                    high=20,
                    default=1,
                ),
                Variable(
                    "technical_success",
                    Kind.BOOL,
                    "Technical success",
                    "tumour treated per protocol and covered by the ablation zone on immediate "
                    "imaging (Ahmed et al. 2014)",
                ),
            ),
            unique=(("uq_treatments", ("procedure_id", "tumour_id")),),
        ),
        Table(
            "adverse_events",
            (
                _ref("patient_id", "patients", "Patient", entered=False),
                _ref("procedure_id", "procedures", "Procedure"),
                Variable(
                    "term",
                    Kind.TEXT,
                    "CTCAE term",
                    "CTCAE v5.0 term (curated subset, irelab.registry.terms)",
                    width=128,
                ),
                Variable(
                    "ctcae_version",
                    Kind.CHOICE,
                    "CTCAE version",
                    "CTCAE version",
                    choices=("5.0",),
                    width=8,
                    default="5.0",
                    editable=False,
                ),
                Variable(
                    "ctcae_grade",
                    Kind.INT,
                    "CTCAE grade",
                    "CTCAE grade",
                    low=1,
                    high=5,
                    check="ck_ae_ctcae_grade",
                ),
                Variable(
                    "cirse_grade",
                    Kind.INT,
                    "CIRSE grade",
                    "CIRSE complication grade (Filippiadis et al. 2017)",
                    low=1,
                    high=6,
                    check="ck_ae_cirse_grade",
                ),
                Variable(
                    "onset_day",
                    Kind.INT,
                    "Onset (days after the procedure)",
                    "days from the procedure to onset",
                    low=0,
                    high=3650,
                ),
                Variable("serious", Kind.BOOL, "Serious", "serious adverse event"),
                Variable(
                    "relation",
                    Kind.CHOICE,
                    "Relation to the procedure",
                    "relation to the procedure",
                    choices=RELATIONS,
                    width=16,
                ),
                Variable(
                    "outcome",
                    Kind.CHOICE,
                    "Outcome",
                    "outcome of the event",
                    choices=AE_OUTCOMES,
                    width=16,
                ),
                _notes(),
            ),
        ),
        Table(
            "followups",
            (
                _ref("patient_id", "patients", "Patient"),
                _ref("tumour_id", "tumours", "Tumour", required=False),
                Variable("date", Kind.DATE, "Imaging date", "date of the imaging study"),
                Variable(
                    "modality",
                    Kind.CHOICE,
                    "Modality",
                    "imaging modality",
                    choices=MODALITIES,
                    width=8,
                ),
                Variable(
                    "finding",
                    Kind.CHOICE,
                    "Finding",
                    "imaging finding (Ahmed et al. 2014): complete ablation, residual unablated "
                    "tumour, local tumour progression, new intrahepatic or extrahepatic disease",
                    choices=FINDINGS,
                    width=32,
                ),
                _notes(),
            ),
        ),
    )
}

#: The record-keeping columns every clinical table has (irelab.registry.models.Tracked).
RECORD_COLUMNS: dict[str, str] = {
    "id": "registry record number",
    "version": "optimistic-locking version; updates must send the version they read",
    "created_at": "when the record was entered (UTC; withheld from monitors)",
    "created_by": "username that entered the record (withheld from monitors)",
    "updated_at": "when the record was last changed (UTC; withheld from monitors)",
    "updated_by": "username that last changed the record (withheld from monitors)",
    "retired_at": "when the record was retired (records are never deleted; withheld from monitors)",
    "retired_by": "username that retired the record (withheld from monitors)",
    "retire_reason": "why the record was retired (free text; withheld from monitors)",
}
