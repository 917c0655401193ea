"""Evidence context: published IRE series for liver tumours, pooled, beside the registry.

What is in the table, and what is not
-------------------------------------
NICE interventional procedures guidance IPG445 ("Irreversible electroporation for treating
liver metastases", 2013) allows IRE only with special arrangements for research. Its procedure
section (2.1-2.2, retrieved) says general anaesthesia with a neuromuscular blocking agent is
essential and that cardiac synchronisation is used to minimise the risk of arrhythmia. Its
efficacy and safety sections and the interventional procedures overview with per-series
counts could NOT be retrieved while writing this module, so the counts the issue quotes from the
overview (arrhythmia 7/28 procedures, pneumothorax 7/50, local recurrence 3/54 tumours,
recurrence-free survival 95 % at 6 and 60 % at 12 months) are NOT in the table: we could not
tie them to a series. The same goes for Kingham TP et al. (J Am Coll Surg 2012;215:379-387) and
Cannon R et al. (J Surg Oncol 2013;107:544-549), whose abstracts we could not retrieve.

Every row below was read from the series' own abstract (source string on each row). Two of the
series (2014, 2015) post-date IPG445 and so are not among the series the guidance cites; they
are included as published context. Counts are exactly as the abstracts give them; one
denominator is derived by subtraction and marked so.

Pooling
-------
Where at least two series report the same outcome, proportions are pooled on the logit scale
with inverse-variance weights and a DerSimonian-Laird random-effects variance (DerSimonian R,
Laird N. Control Clin Trials 1986;7:177-188) by ``statsmodels.stats.meta_analysis.
combine_effects(..., method_re='dl')``, and the pooled logit and its normal 95 % interval are
back-transformed. The variance of a logit proportion is 1/e + 1/(n - e); a series with 0 or n
events gets the continuity correction of 0.5 added to events and non-events (Haldane JBS, Ann
Hum Genet 1956;20:309-311). Series count patients or procedures differently (unit column);
pooling across units is a crude summary and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np

from irelab.outcomes.proportions import CONFIDENCE, Proportion, proportion

if TYPE_CHECKING:
    from irelab.outcomes.analysis import OutcomeReport
    from irelab.outcomes.data import StudyData

#: Continuity correction added to events and non-events when a series has 0 or all events.
CONTINUITY_CORRECTION = 0.5


class Outcome(Enum):
    """Outcomes of the evidence table (the value is the label shown)."""

    ARRHYTHMIA = "Arrhythmia"
    ARRHYTHMIA_UNSYNCHRONISED = "Arrhythmia without ECG synchronisation"
    ARRHYTHMIA_SYNCHRONISED = "Arrhythmia with ECG synchronisation"
    BLEEDING = "Bleeding"
    ANY_COMPLICATION = "Any complication"
    NO_LOCAL_RECURRENCE = "Treated without local recurrence"


@dataclass(frozen=True)
class EvidenceRow:
    """One published count: ``events`` of ``total`` ``unit`` in ``series``."""

    series: str
    year: int
    outcome: Outcome
    events: int
    total: int
    unit: str
    source: str
    note: str = ""

    @property
    def rate(self) -> Proportion:
        return proportion(self.events, self.total)


_THOMSON = (
    "Thomson KR et al. Investigation of the safety of irreversible electroporation in humans. "
    "J Vasc Interv Radiol 2011;22:611-621 (PubMed 21439847), abstract"
)
_JVIR_2014 = (
    "Percutaneous IRE of colorectal liver metastases, J Vasc Interv Radiol 2014 "
    "(PubMed 24861662), abstract"
)
_ELLER = (
    "Eller A et al. Local control of perivascular malignant liver lesions using percutaneous "
    "irreversible electroporation: initial experiences. Cardiovasc Intervent Radiol 2015 "
    "(doi 10.1007/s00270-014-0898-x), abstract"
)

#: The built-in evidence table (see the module docstring for what is and is not in it).
EVIDENCE: tuple[EvidenceRow, ...] = (
    EvidenceRow(
        "Thomson 2011",
        2011,
        Outcome.ARRHYTHMIA,
        6,
        38,
        "patients",
        _THOMSON,
        "38 patients, 69 tumours of liver, kidney or lung; 4 transient ventricular "
        "arrhythmias before ECG synchronisation, 2 further arrhythmias after",
    ),
    EvidenceRow(
        "Thomson 2011",
        2011,
        Outcome.ARRHYTHMIA_UNSYNCHRONISED,
        4,
        8,
        "patients",
        _THOMSON,
        "denominator derived: 38 patients minus the 30 treated with ECG synchronisation",
    ),
    EvidenceRow(
        "Thomson 2011",
        2011,
        Outcome.ARRHYTHMIA_SYNCHRONISED,
        2,
        30,
        "patients",
        _THOMSON,
        "supraventricular tachycardia and atrial fibrillation",
    ),
    EvidenceRow(
        "JVIR 2014 (PMID 24861662)",
        2014,
        Outcome.ARRHYTHMIA,
        1,
        36,
        "procedures",
        _JVIR_2014,
        "29 patients, 58 colorectal liver metastases, 36 IRE sessions",
    ),
    EvidenceRow(
        "Eller 2015",
        2015,
        Outcome.ANY_COMPLICATION,
        4,
        14,
        "patients",
        _ELLER,
        "14 patients, 18 perivascular malignant liver lesions",
    ),
    EvidenceRow(
        "Eller 2015",
        2015,
        Outcome.BLEEDING,
        4,
        14,
        "patients",
        _ELLER,
        "abdominal bleeding (1 laparotomy, 1 conservative) and 2 haemothoraces",
    ),
    EvidenceRow(
        "Eller 2015",
        2015,
        Outcome.NO_LOCAL_RECURRENCE,
        10,
        14,
        "patients",
        _ELLER,
        "successfully treated, no local recurrence at mean follow-up 388 days",
    ),
)


@dataclass(frozen=True)
class PooledEstimate:
    """Random-effects pooled proportion (logit scale, back-transformed) of ``series`` series."""

    outcome: Outcome
    series: int
    events: int
    total: int
    estimate: float
    low: float
    high: float
    tau2: float
    i2: float
    units: tuple[str, ...]
    continuity_corrected: bool


def logit_effects(events: np.ndarray, totals: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Logit proportions and their variances; 0.5 added where a series has 0 or all events."""
    events = np.asarray(events, dtype=float)
    totals = np.asarray(totals, dtype=float)
    edge = (events == 0) | (events == totals)
    e = np.where(edge, events + CONTINUITY_CORRECTION, events)
    f = np.where(edge, totals - events + CONTINUITY_CORRECTION, totals - events)
    return np.log(e / f), 1.0 / e + 1.0 / f, bool(edge.any())


def pool(rows: tuple[EvidenceRow, ...] | list[EvidenceRow]) -> PooledEstimate:
    """DerSimonian-Laird random-effects pooled proportion of ``rows`` (one outcome, >= 2 rows)."""
    from scipy.special import expit
    from statsmodels.stats.meta_analysis import combine_effects

    outcomes = {r.outcome for r in rows}
    if len(rows) < 2 or len(outcomes) != 1:
        raise ValueError("pool needs at least two rows of one outcome")
    events = np.array([r.events for r in rows])
    totals = np.array([r.total for r in rows])
    effect, variance, corrected = logit_effects(events, totals)
    result = combine_effects(effect, variance, method_re="dl", use_t=False, alpha=1 - CONFIDENCE)
    low, high = result.conf_int(alpha=1 - CONFIDENCE, use_t=False)[1]
    return PooledEstimate(
        outcome=rows[0].outcome,
        series=len(rows),
        events=int(events.sum()),
        total=int(totals.sum()),
        estimate=float(expit(result.mean_effect_re)),
        low=float(expit(low)),
        high=float(expit(high)),
        tau2=float(result.tau2),
        i2=float(result.i2),
        units=tuple(sorted({r.unit for r in rows})),
        continuity_corrected=corrected,
    )


@dataclass(frozen=True)
class EvidenceComparison:
    """One outcome: the published rows, their pooled estimate (if >= 2) and the registry's."""

    outcome: Outcome
    rows: tuple[EvidenceRow, ...]
    pooled: PooledEstimate | None
    registry: Proportion | None
    registry_label: str


def evidence_comparisons(
    registry: dict[Outcome, tuple[str, Proportion]] | None = None,
    table: tuple[EvidenceRow, ...] = EVIDENCE,
) -> tuple[EvidenceComparison, ...]:
    """Group ``table`` by outcome, pool where possible, and attach the registry's figure.

    ``registry`` maps an outcome to (label, proportion) as computed from the registry (see
    :func:`irelab.outcomes.report.registry_figures`); outcomes without one show none.
    """
    registry = registry or {}
    out = []
    for outcome in Outcome:
        rows = tuple(r for r in table if r.outcome is outcome)
        if not rows:
            continue
        pooled = pool(rows) if len(rows) >= 2 else None
        label, value = registry.get(outcome, ("", None))
        out.append(EvidenceComparison(outcome, rows, pooled, value, label))
    return tuple(out)


#: CTCAE v5.0 terms counted as bleeding for the comparison with the published series.
BLEEDING_TERMS = ("Hematoma", "Hepatic hemorrhage", "Intra-abdominal hemorrhage")


def registry_figures(
    data: StudyData, report: OutcomeReport
) -> dict[Outcome, tuple[str, Proportion]]:
    """The registry's own figure for each evidence outcome (per procedure or per patient).

    ``data`` is the StudyData and ``report`` its :class:`~irelab.outcomes.OutcomeReport`.
    """
    from irelab.outcomes.adverse import IRE_HARMS

    procs = data.procedures
    ae = data.adverse_events
    arrhythmic = set(ae.loc[ae["term"].isin(IRE_HARMS["Arrhythmia"]), "procedure_id"])
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
        Outcome.BLEEDING: ("per procedure", share(bleeding, everything)),
        Outcome.ANY_COMPLICATION: (
            "per procedure, any CTCAE grade",
            report.adverse_events.ctcae[0].rate,
        ),
        Outcome.NO_LOCAL_RECURRENCE: (
            "patients without LTP (crude)",
            proportion(int((~at_risk["ltp_event"].astype(bool)).sum()), int(len(at_risk))),
        ),
    }
