"""The standard outcome analysis of an IRE registry: :func:`analyse` -> :class:`OutcomeReport`.

Definitions, time origins and censoring are in :mod:`irelab.outcomes.endpoints` (Ahmed M et al.,
Radiology 2014;273:241-260); estimators in :mod:`irelab.outcomes.survival`; intervals in
:mod:`irelab.outcomes.proportions`; harms in :mod:`irelab.outcomes.adverse`; subgroups in
:mod:`irelab.outcomes.subgroups`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from irelab.outcomes.adverse import AdverseEventRates, adverse_event_rates
from irelab.outcomes.data import StudyData
from irelab.outcomes.endpoints import LTP_EVENT, Endpoints, derive_endpoints
from irelab.outcomes.proportions import Proportion, proportion
from irelab.outcomes.subgroups import SubgroupComparison, subgroup_comparisons
from irelab.outcomes.survival import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    SurvivalEstimate,
    TimeToEvent,
    cumulative_incidence,
    kaplan_meier,
    kaplan_meier_clustered,
)


@dataclass(frozen=True)
class CohortSummary:
    """Who and what the registry holds."""

    patients: int
    sites: int
    tumours: int
    treated_tumours: int
    procedures: int
    repeat_procedures: int
    women: int
    median_age_years: float | None
    median_size_mm: float | None
    percutaneous: Proportion
    cardiac_sync: Proportion
    general_anaesthesia: Proportion
    neuromuscular_block: Proportion
    deaths: int
    median_follow_up_months: float | None


@dataclass(frozen=True)
class Efficacy:
    """Technical success and technique efficacy per tumour (Ahmed et al. 2014)."""

    technical_success: Proportion
    primary_efficacy: Proportion
    assisted_efficacy: Proportion
    local_tumour_progression: Proportion


@dataclass(frozen=True)
class OutcomeReport:
    """Everything the study report shows; ``endpoints`` keeps the tables behind the curves."""

    cohort: CohortSummary
    efficacy: Efficacy
    ltp_free_tumour: SurvivalEstimate
    ltp_free_patient: SurvivalEstimate
    ltp_incidence: SurvivalEstimate
    overall_survival: SurvivalEstimate
    progression_free: SurvivalEstimate
    adverse_events: AdverseEventRates
    subgroups: tuple[SubgroupComparison, ...]
    endpoints: Endpoints


def _median(values) -> float | None:
    values = np.asarray(values, dtype=float)
    return float(np.median(values)) if values.size else None


def _cohort(data: StudyData, ends: Endpoints) -> CohortSummary:
    procs = data.procedures
    n_procs = int(len(procs))
    treated = int(len(ends.tumours))
    # median follow-up by the reverse Kaplan-Meier (Schemper M, Smith TL. Control Clin Trials
    # 1996;17:343-346): censoring is the event, death censors.
    reverse = kaplan_meier(
        "follow-up",
        "patients",
        TimeToEvent(
            ends.patients["os_months"].to_numpy(float), ~ends.patients["os_event"].to_numpy(bool)
        ),
    )
    repeat = data.treatments.loc[data.treatments["session"] >= 2, "procedure_id"].nunique()
    return CohortSummary(
        patients=int(len(data.patients)),
        sites=int(data.patients["site"].nunique()),
        tumours=int(len(data.tumours)),
        treated_tumours=treated,
        procedures=n_procs,
        repeat_procedures=int(repeat),
        women=int((data.patients["sex"] == "F").sum()),
        median_age_years=_median(data.patients["age_years"]),
        median_size_mm=_median(data.tumours["size_mm"]),
        percutaneous=proportion(int((procs["approach"] == "percutaneous").sum()), n_procs),
        cardiac_sync=proportion(int(procs["cardiac_sync"].astype(bool).sum()), n_procs),
        general_anaesthesia=proportion(
            int(procs["general_anaesthesia"].astype(bool).sum()), n_procs
        ),
        neuromuscular_block=proportion(
            int(procs["neuromuscular_block"].astype(bool).sum()), n_procs
        ),
        deaths=int((data.patients["vital_status"] == "dead").sum()),
        median_follow_up_months=reverse.median_months,
    )


def _efficacy(tum) -> Efficacy:
    followed = tum[tum["has_followup"]]
    at_risk = tum[tum["complete_documented"]]
    return Efficacy(
        technical_success=proportion(int(tum["technical_success"].sum()), len(tum)),
        primary_efficacy=proportion(int(followed["primary_efficacy"].sum()), len(followed)),
        assisted_efficacy=proportion(int(followed["assisted_efficacy"].sum()), len(followed)),
        local_tumour_progression=proportion(int(at_risk["ltp_event"].sum()), len(at_risk)),
    )


def analyse(
    data: StudyData, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> OutcomeReport:
    """The full outcome analysis of ``data`` (validated first; raises InputError if bad).

    ``resamples`` and ``seed`` set the patient-level bootstrap of the per-tumour LTP-free
    Kaplan-Meier.
    """
    data.validate()
    ends = derive_endpoints(data)
    tum, pts = ends.tumours, ends.patients
    at_risk = tum[tum["complete_documented"]]
    per_tumour = TimeToEvent(
        at_risk["ltp_months"].to_numpy(float),
        at_risk["ltp_event"].to_numpy(bool),
        at_risk["study_id"].to_numpy(),
    )
    pts_risk = pts[pts["ltp_at_risk"]]
    return OutcomeReport(
        cohort=_cohort(data, ends),
        efficacy=_efficacy(tum),
        ltp_free_tumour=kaplan_meier_clustered(
            "LTP-free survival", "tumours", per_tumour, resamples, seed
        ),
        ltp_free_patient=kaplan_meier(
            "LTP-free survival",
            "patients",
            TimeToEvent(
                pts_risk["ltp_months"].to_numpy(float), pts_risk["ltp_event"].to_numpy(bool)
            ),
        ),
        ltp_incidence=cumulative_incidence(
            "Cumulative incidence of LTP (death competing)",
            "tumours",
            TimeToEvent(at_risk["cr_months"].to_numpy(float), at_risk["cr_event"].to_numpy(int)),
            LTP_EVENT,
        ),
        overall_survival=kaplan_meier(
            "Overall survival",
            "patients",
            TimeToEvent(pts["os_months"].to_numpy(float), pts["os_event"].to_numpy(bool)),
        ),
        progression_free=kaplan_meier(
            "Progression-free survival",
            "patients",
            TimeToEvent(pts["pfs_months"].to_numpy(float), pts["pfs_event"].to_numpy(bool)),
        ),
        adverse_events=adverse_event_rates(data),
        subgroups=subgroup_comparisons(tum),
        endpoints=ends,
    )
