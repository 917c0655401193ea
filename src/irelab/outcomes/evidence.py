"""Evidence context: published IRE series for liver tumours, pooled, beside the registry.

What the table contains, and where each row comes from
------------------------------------------------------
NICE interventional procedures guidance IPG445 ("Irreversible electroporation for treating
liver metastases", 2013) allows IRE only with special arrangements for research. Its procedure
section (2.1-2.2, retrieved) says general anaesthesia with a neuromuscular blocking agent is
essential and that cardiac synchronisation is used to minimise the risk of arrhythmia.

The rows live in the package data files ``irelab/outcomes/datasets/evidence_counts.csv`` and
``evidence_estimates.csv`` (with a ``citation`` column), read by :mod:`irelab.outcomes.datasets`.
Every row carries a :class:`Provenance`:

- ``ABSTRACT`` (verified): read from the series' own abstract, counts exactly as the abstract
  gives them (one denominator derived by subtraction, marked in its note). Thomson KR et al.
  2011 (arrhythmia, with and without ECG synchronisation), a J Vasc Interv Radiol 2014 series
  of colorectal liver metastases (arrhythmia), Eller A et al. 2015 (bleeding, any complication,
  patients treated without local recurrence). The 2014 and 2015 series post-date IPG445, so they
  are not among the series the guidance cites; they are published context.
- ``AS_QUOTED`` (not verified): figures quoted second-hand from the IPG445 overview: arrhythmia
  7/28 procedures, pneumothorax 7/50 (no unit given), local recurrence 3/54 tumours, and
  recurrence-free survival 95 % at 6 and 60 % at 12 months. They are taken as quoted; the
  guidance's efficacy/safety sections and its overview could not be retrieved here, so the
  individual series behind each figure was not identified and none is named. Kingham TP et
  al. (J Am Coll Surg 2012;215:379-387) and Cannon R et al. (J Surg Oncol 2013;107:544-549)
  were looked for as possible sources, but neither abstract could be retrieved, so nothing is
  attributed to them. An as-quoted count may come from (a subset of) a series already in the
  table; pooling it with that series would then count patients twice.

The recurrence-free survival figures are time-point survival estimates, not
counts: they are :class:`EvidenceEstimate` rows (:data:`ESTIMATES`), never pooled, and shown
beside the registry's own Kaplan-Meier estimates at the same time (:func:`survival_comparisons`).
Which recurrence (local or any) the quoted figure counts is not known; the registry's local
tumour progression-free (per tumour, per patient) and progression-free survival are all shown.

Units are not interchangeable: arrhythmia counts patients in Thomson 2011 but procedures in the
2014 series and the quoted figure; local recurrence counts tumours (quoted 3/54), whereas Eller
2015 counts *patients treated without local recurrence* (10/14), whose complement mixes
treatment failures with recurrences. The two are therefore different outcomes here and are not
pooled.

Pooling
-------
Where at least two rows report the same outcome, their proportions are pooled with
:func:`irelab.outcomes.pooling.pool`: logit scale, DerSimonian-Laird random effects
(statsmodels ``combine_effects(..., method_re='dl')``), back-transformed. Pooling across units
(patients, procedures) is a crude summary and the report says so. Where a pool includes
as-quoted rows and at least two verified rows exist, the pool of the verified rows alone is
given as well (a sensitivity analysis). Arrhythmia is the only outcome pooled at present.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np

from irelab.outcomes.datasets import load_evidence_counts, load_evidence_estimates
from irelab.outcomes.pooling import PooledEstimate, pool
from irelab.outcomes.proportions import Proportion, proportion

if TYPE_CHECKING:
    from irelab.outcomes.analysis import OutcomeReport
    from irelab.outcomes.data import StudyData
    from irelab.outcomes.survival import Landmark


class Outcome(Enum):
    """Outcomes of the evidence table (the value is the label shown)."""

    ARRHYTHMIA = "Arrhythmia"
    ARRHYTHMIA_UNSYNCHRONISED = "Arrhythmia without ECG synchronisation"
    ARRHYTHMIA_SYNCHRONISED = "Arrhythmia with ECG synchronisation"
    PNEUMOTHORAX = "Pneumothorax"
    BLEEDING = "Bleeding"
    ANY_COMPLICATION = "Any complication"
    LOCAL_RECURRENCE = "Local recurrence"
    NO_LOCAL_RECURRENCE = "Treated without local recurrence"


class Provenance(Enum):
    """Where a published figure comes from (the value is the text shown in the report)."""

    ABSTRACT = "read from the series' own abstract"
    AS_QUOTED = (
        "NICE IPG445 (2013) overview, as quoted second-hand; the individual series was not "
        "identified/verified here"
    )

    @property
    def verified(self) -> bool:
        return self is Provenance.ABSTRACT


@dataclass(frozen=True)
class EvidenceRow:
    """One published count: ``events`` of ``total`` ``unit`` in ``series``.

    ``year`` is the series' publication year, None where the series is not identified.
    """

    series: str
    year: int | None
    outcome: Outcome
    events: int
    total: int
    unit: str
    source: str
    note: str = ""
    provenance: Provenance = Provenance.ABSTRACT

    def __post_init__(self) -> None:
        if not (self.total > 0 and 0 <= self.events <= self.total):
            raise ValueError(f"{self.series}: need 0 <= events <= total, total > 0")

    @property
    def verified(self) -> bool:
        return self.provenance.verified

    @property
    def rate(self) -> Proportion:
        return proportion(self.events, self.total)


@dataclass(frozen=True)
class EvidenceEstimate:
    """A published time-point estimate (e.g. a Kaplan-Meier value): not a count, never pooled.

    ``estimate`` is a probability (0-1) at ``time_months``; ``n`` the number analysed where
    known (else None), counted in ``unit``.
    """

    series: str
    outcome: str
    time_months: float
    estimate: float
    n: int | None
    unit: str
    source: str
    note: str = ""
    provenance: Provenance = Provenance.ABSTRACT

    def __post_init__(self) -> None:
        if not 0.0 <= self.estimate <= 1.0 or self.time_months <= 0:
            raise ValueError(f"{self.series}: need 0 <= estimate <= 1 and time_months > 0")

    @property
    def verified(self) -> bool:
        return self.provenance.verified


#: Source text of every as-quoted row (its ``citation`` in the data file).
IPG445_AS_QUOTED = Provenance.AS_QUOTED.value
#: Series label of the as-quoted rows (the series itself is not identified).
IPG445_SERIES = "IPG445 overview (series not identified)"
#: Recurrence-free survival as quoted from the IPG445 overview (time-point estimates).
RECURRENCE_FREE_SURVIVAL = "Recurrence-free survival"


def _int(text: str | None) -> int | None:
    return None if text is None else int(text)


def _text(text: str | None) -> str:
    return text or ""


def evidence_rows() -> tuple[EvidenceRow, ...]:
    """The published counts of ``irelab/outcomes/datasets/evidence_counts.csv``."""
    return tuple(
        EvidenceRow(
            _text(r["series"]),
            _int(r["year"]),
            Outcome[_text(r["outcome"])],
            int(_text(r["events"])),
            int(_text(r["total"])),
            _text(r["unit"]),
            _text(r["citation"]),
            _text(r["note"]),
            Provenance[_text(r["provenance"])],
        )
        for r in load_evidence_counts()
    )


def evidence_estimates() -> tuple[EvidenceEstimate, ...]:
    """The published estimates of ``irelab/outcomes/datasets/evidence_estimates.csv``."""
    return tuple(
        EvidenceEstimate(
            _text(r["series"]),
            _text(r["outcome"]),
            float(_text(r["time_months"])),
            float(_text(r["estimate"])),
            _int(r["n"]),
            _text(r["unit"]),
            _text(r["citation"]),
            _text(r["note"]),
            Provenance[_text(r["provenance"])],
        )
        for r in load_evidence_estimates()
    )


#: The evidence table of counts (see the module docstring for each row's provenance).
EVIDENCE: tuple[EvidenceRow, ...] = evidence_rows()
#: The table of published time-point estimates (not pooled).
ESTIMATES: tuple[EvidenceEstimate, ...] = evidence_estimates()


@dataclass(frozen=True)
class EvidenceComparison:
    """One outcome: the published rows, their pooled estimate (if >= 2) and the registry's.

    ``pooled_verified`` pools the verified rows alone, given only where ``pooled`` includes
    as-quoted rows and at least two verified rows exist.
    """

    outcome: Outcome
    rows: tuple[EvidenceRow, ...]
    pooled: PooledEstimate | None
    registry: Proportion | None
    registry_label: str
    pooled_verified: PooledEstimate | None = None


def evidence_comparisons(
    registry: dict[Outcome, tuple[str, Proportion]] | None = None,
    table: tuple[EvidenceRow, ...] = EVIDENCE,
) -> tuple[EvidenceComparison, ...]:
    """Group ``table`` by outcome, pool where possible, and attach the registry's figure.

    ``registry`` maps an outcome to (label, proportion) as computed from the registry (see
    :func:`registry_figures`); outcomes without one show none.
    """
    registry = registry or {}
    out = []
    for outcome in Outcome:
        rows = tuple(r for r in table if r.outcome is outcome)
        if not rows:
            continue
        pooled = pool(rows) if len(rows) >= 2 else None
        verified = tuple(r for r in rows if r.verified)
        sensitivity = None
        if pooled is not None and pooled.unverified and len(verified) >= 2:
            sensitivity = pool(verified)
        label, value = registry.get(outcome, ("", None))
        out.append(EvidenceComparison(outcome, rows, pooled, value, label, sensitivity))
    return tuple(out)


#: CTCAE v5.0 terms counted as bleeding for the comparison with the published series.
BLEEDING_TERMS = ("Hematoma", "Hepatic hemorrhage", "Intra-abdominal hemorrhage")


def registry_figures(
    data: StudyData, report: OutcomeReport
) -> dict[Outcome, tuple[str, Proportion]]:
    """The registry's own figure for each evidence outcome (per procedure, tumour or patient).

    ``data`` is the StudyData and ``report`` its :class:`~irelab.outcomes.OutcomeReport`.
    """
    from irelab.outcomes.adverse import IRE_HARMS

    procs = data.procedures
    ae = data.adverse_events
    arrhythmic = set(ae.loc[ae["term"].isin(IRE_HARMS["Arrhythmia"]), "procedure_id"])
    pneumothorax = set(ae.loc[ae["term"].isin(IRE_HARMS["Pneumothorax"]), "procedure_id"])
    bleeding = set(ae.loc[ae["term"].isin(BLEEDING_TERMS), "procedure_id"])
    sync = procs["cardiac_sync"].astype(bool)

    def share(ids: set[str], mask: np.ndarray) -> Proportion:
        chosen = procs.loc[mask, "procedure_id"]
        return proportion(int(chosen.isin(ids).sum()), int(len(chosen)))

    everything = np.ones(len(procs), dtype=bool)
    pts = report.endpoints.patients
    at_risk = pts[pts["ltp_at_risk"]]
    return {
        Outcome.ARRHYTHMIA: ("per procedure", share(arrhythmic, everything)),
        Outcome.ARRHYTHMIA_UNSYNCHRONISED: (
            "per unsynchronised procedure",
            share(arrhythmic, ~sync.to_numpy()),
        ),
        Outcome.ARRHYTHMIA_SYNCHRONISED: (
            "per synchronised procedure",
            share(arrhythmic, sync.to_numpy()),
        ),
        Outcome.PNEUMOTHORAX: ("per procedure", share(pneumothorax, everything)),
        Outcome.BLEEDING: ("per procedure", share(bleeding, everything)),
        Outcome.ANY_COMPLICATION: (
            "per procedure, any CTCAE grade",
            report.adverse_events.ctcae[0].rate,
        ),
        Outcome.LOCAL_RECURRENCE: (
            "LTP per tumour with documented complete ablation (crude)",
            report.efficacy.local_tumour_progression,
        ),
        Outcome.NO_LOCAL_RECURRENCE: (
            "patients without LTP (crude)",
            proportion(int((~at_risk["ltp_event"].astype(bool)).sum()), int(len(at_risk))),
        ),
    }


@dataclass(frozen=True)
class SurvivalComparison:
    """Published time-point estimates at ``time_months`` beside the registry's own.

    ``registry`` holds (label, landmark) pairs; a landmark's estimate is None where the
    registry's follow-up does not reach ``time_months``.
    """

    time_months: float
    published: tuple[EvidenceEstimate, ...]
    registry: tuple[tuple[str, Landmark], ...]


def _landmark_at(marks: tuple[Landmark, ...], months: float) -> Landmark:
    from irelab.outcomes.survival import Landmark

    for m in marks:
        if m.months == months:
            return m
    return Landmark(months, None, None, None, 0)


def survival_comparisons(
    report: OutcomeReport | None = None,
    estimates: tuple[EvidenceEstimate, ...] = ESTIMATES,
) -> tuple[SurvivalComparison, ...]:
    """Each time point of ``estimates`` with the registry's Kaplan-Meier values at that time.

    Registry figures (from ``report``; none without one): local tumour progression-free
    survival per tumour (patient-level bootstrap interval) and per patient, and
    progression-free survival per patient.
    """
    out = []
    for months in sorted({e.time_months for e in estimates}):
        published = tuple(e for e in estimates if e.time_months == months)
        registry: tuple[tuple[str, Landmark], ...] = ()
        if report is not None:
            t = report.ltp_free_tumour
            registry = (
                (
                    "LTP-free survival per tumour (patient-level bootstrap CI)",
                    _landmark_at(t.cluster_landmarks or t.landmarks, months),
                ),
                (
                    "LTP-free survival per patient",
                    _landmark_at(report.ltp_free_patient.landmarks, months),
                ),
                (
                    "Progression-free survival per patient",
                    _landmark_at(report.progression_free.landmarks, months),
                ),
            )
        out.append(SurvivalComparison(months, published, registry))
    return tuple(out)
