"""Local tumour progression by minimal ablative margin, and predicted against achieved zones.

The minimal ablative margin is the thinnest rim of ablated tissue around the tumour (negative
where tumour lies outside the zone), as ``irelab compare`` measures it and the registry stores it
per treatment (``ablation_zones``). The ablation literature links it to local tumour progression
(LTP); the groups are those it uses:

- **<= 0 mm** (no margin), **0-5 mm** and **>= 5 mm**. Wang X, Sofocleous CT, Erinjeri JP et al.
  Margin size is an independent predictor of local tumor progression after ablation of colon
  cancer liver metastases. Cardiovasc Intervent Radiol 2013;36:166-175 (abstract read): 94
  colorectal liver metastases after radiofrequency ablation, margins 0, 1-5, 6-10 and 11-15 mm,
  2-year LTP-free survival 26, 46, 74 and 80 %, LTP risk 46 % lower per 5 mm of margin.
  Chlorogiannis DD, Sotirchos VS, Georgiades C et al. The importance of optimal thermal
  ablation margins in colorectal liver metastases: a systematic review and meta-analysis of 21
  studies. Cancers 2023;15:5806 (abstract read): margins < 5 mm, risk ratio of LTP 3.60 (95 %
  CI 2.58-5.03) against >= 5 mm. Laimer G, Verdonschot KHM, Kopf L et al. Multicenter and
  inter-software evaluation of ablative margins after thermal ablation of colorectal liver
  metastases. Eur Radiol 2025;35(2) (abstract read): no LTP with a 3D margin >= 5 mm in one of
  the two software. All are thermal ablation (radiofrequency, microwave), not IRE: whether IRE
  zones behave alike is what a registry like this one can find out; we verified only the
  abstracts' figures quoted here.

**Which margin.** A tumour is at risk of LTP once complete ablation is documented (Ahmed et al.
2014, :mod:`irelab.outcomes.endpoints`); its margin is that of the ablation that achieved it: the
zone of its latest session on or before the first imaging showing complete ablation. At-risk
tumours without such a zone are counted and left out.

**Analyses.** Kaplan-Meier LTP-free survival per group (:func:`irelab.outcomes.survival.
kaplan_meier`) and the log-rank test across groups (lifelines ``multivariate_logrank_test``;
tumours as independent). A Cox proportional-hazards model (lifelines ``CoxPHFitter``, Efron ties)
of LTP on the margin (per mm) and the tumour size (per 10 mm), with the robust (sandwich)
variance clustered by patient, since tumours of one patient share biology and follow-up. Its
proportional-hazards assumption is checked per covariate with lifelines'
``proportional_hazard_test`` (scaled Schoenfeld residuals against the rank of time, Grambsch PM,
Therneau TM, Biometrika 1994;81:515-526): the report states where it is rejected at
:data:`PH_ALPHA`. Fewer than :data:`EVENTS_PER_COVARIATE` events per covariate is flagged
(Peduzzi P, Concato J, Feinstein AR, Holford TR, J Clin Epidemiol 1995;48:1503-1510), and no
model is fitted below :data:`MIN_EVENTS` events.

**Agreement** over every stored zone: the distributions of Dice, HD95 and the volume ratio, and
the achieved against the predicted margin as a Bland-Altman analysis (Bland JM, Altman DG.
Statistical methods for assessing agreement between two methods of clinical measurement.
Lancet 1986;i:307-310): bias (mean of achieved - predicted) with its t interval, 95 % limits of
agreement bias +- 1.96 SD (the normal quantile of the report's 95 %) with the approximate
standard error sqrt(3 s^2 / n) of each limit (same paper); records are treated as independent.
The cross-table of predicted against achieved margin group shows how often the plan's group
held.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from irelab.outcomes.proportions import CONFIDENCE
from irelab.outcomes.survival import SurvivalEstimate, TimeToEvent, kaplan_meier

if TYPE_CHECKING:
    import pandas as pd

    from irelab.outcomes.data import StudyData
    from irelab.outcomes.endpoints import Endpoints

#: Group edges (mm): <= 0, (0, 5), >= 5 (module docstring).
NO_MARGIN_MM = 0.0
SAFE_MARGIN_MM = 5.0
MARGIN_GROUPS = ("<= 0 mm", "0-5 mm", ">= 5 mm")
#: Significance level of the proportional-hazards check (the usual 5 %).
PH_ALPHA = 0.05
#: Events per covariate below which a Cox model is flagged as unreliable (Peduzzi et al. 1995).
EVENTS_PER_COVARIATE = 10
#: Fewest events for which a Cox model is fitted at all (design choice: with two covariates,
#: fewer events give hazard ratios without meaning).
MIN_EVENTS = 5
#: The Cox model's covariates: column -> how the report names its hazard ratio.
COX_TERMS = {"margin_mm": "Minimal ablative margin, per mm", "size_10mm": "Tumour size, per 10 mm"}


def margin_group(margin_mm: np.ndarray) -> np.ndarray:
    """The index into :data:`MARGIN_GROUPS` of each margin (module docstring)."""
    margin_mm = np.asarray(margin_mm, dtype=float)
    return np.where(margin_mm <= NO_MARGIN_MM, 0, np.where(margin_mm < SAFE_MARGIN_MM, 1, 2))


@dataclass(frozen=True)
class MarginGroup:
    """One margin group: its tumours at risk of LTP and their LTP-free Kaplan-Meier."""

    label: str
    ltp_free: SurvivalEstimate
    data: TimeToEvent


@dataclass(frozen=True)
class CoxTerm:
    """A covariate of the Cox model: hazard ratio with its interval and test, and the
    proportional-hazards check (scaled Schoenfeld residuals against rank of time)."""

    name: str
    hazard_ratio: float
    low: float
    high: float
    p: float
    ph_statistic: float | None
    ph_p: float | None

    @property
    def proportional(self) -> bool | None:
        """False where the check rejects proportional hazards at :data:`PH_ALPHA`."""
        return None if self.ph_p is None else self.ph_p >= PH_ALPHA


@dataclass(frozen=True)
class CoxModel:
    """The fitted Cox model of LTP on margin and size (module docstring)."""

    terms: tuple[CoxTerm, ...]
    tumours: int
    patients: int
    events: int
    concordance: float
    notes: tuple[str, ...] = ()
    """Warnings of the fit and the caveats found (few events, proportional hazards rejected)."""

    def term(self, column: str) -> CoxTerm:
        return self.terms[list(COX_TERMS).index(column)]


@dataclass(frozen=True)
class Distribution:
    """n, median with quartiles, range and mean of a measure."""

    n: int
    median: float
    q1: float
    q3: float
    low: float
    high: float
    mean: float


@dataclass(frozen=True)
class BlandAltman:
    """Achieved - predicted: bias and 95 % limits of agreement, each with its 95 % interval."""

    n: int
    bias: float
    bias_ci: tuple[float, float]
    sd: float
    lower: float
    lower_ci: tuple[float, float]
    upper: float
    upper_ci: tuple[float, float]


@dataclass(frozen=True)
class MarginAnalysis:
    """What the report shows of margins and agreement; None/empty where there are no data."""

    at_risk: int
    """Tumours at risk of LTP (complete ablation documented)."""
    without_margin: int
    """Of those, tumours without a margin of the ablation that achieved it (left out)."""
    groups: tuple[MarginGroup, ...]
    logrank_statistic: float | None
    logrank_p: float | None
    cox: CoxModel | None
    cox_note: str
    """Why there is no model (empty when there is one)."""
    zones: int
    dice_values: np.ndarray
    dice: Distribution | None
    hd95_mm: Distribution | None
    volume_ratio: Distribution | None
    margin_agreement: BlandAltman | None
    predicted_margin_mm: np.ndarray
    achieved_margin_mm: np.ndarray
    """The margin pairs behind :attr:`margin_agreement` (for its figure)."""
    group_table: tuple[tuple[int, ...], ...]
    """Counts of predicted (rows) against achieved (columns) margin group, in group order."""


def _distribution(values: pd.Series) -> Distribution | None:
    values = values.dropna().to_numpy(float)
    if values.size == 0:
        return None
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    return Distribution(int(values.size), float(median), float(q1), float(q3),
                        float(values.min()), float(values.max()), float(values.mean()))


def bland_altman(achieved: np.ndarray, predicted: np.ndarray) -> BlandAltman | None:
    """Bland-Altman bias and limits of ``achieved - predicted`` (module docstring); None for
    fewer than 3 pairs."""
    from scipy import stats

    diff = np.asarray(achieved, float) - np.asarray(predicted, float)
    n = diff.size
    if n < 3:
        return None
    bias, sd = float(diff.mean()), float(diff.std(ddof=1))
    tail = 1 - (1 - CONFIDENCE) / 2
    z, t = float(stats.norm.ppf(tail)), float(stats.t.ppf(tail, n - 1))
    half_bias = t * sd / np.sqrt(n)
    half_limit = t * np.sqrt(3 * sd**2 / n)
    lower, upper = bias - z * sd, bias + z * sd
    half_bias, half_limit = float(half_bias), float(half_limit)
    return BlandAltman(
        n, bias, (bias - half_bias, bias + half_bias), sd,
        lower, (lower - half_limit, lower + half_limit),
        upper, (upper - half_limit, upper + half_limit),
    )  # fmt: skip


def tumour_margins(data: StudyData, ends: Endpoints) -> pd.DataFrame:
    """One row per tumour at risk of LTP: its endpoint columns and ``margin_mm`` (NaN where no
    zone of the ablation that achieved complete ablation is stored)."""
    import pandas as pd

    tum = ends.tumours[ends.tumours["complete_documented"]].copy()
    fu = data.followups.assign(date=pd.to_datetime(data.followups["date"]))
    complete = (
        fu[fu["finding"] == "complete_ablation"]
        .groupby("tumour_id")["date"]
        .min()
        .rename("done")
        .reset_index()
    )
    zones = data.ablation_zones.merge(
        data.procedures[["procedure_id", "date"]], on="procedure_id"
    ).assign(date=lambda f: pd.to_datetime(f["date"]))
    zones = zones.merge(complete, on="tumour_id")
    zones = zones[zones["date"] <= zones["done"]].sort_values(["tumour_id", "date"])
    margin = zones.groupby("tumour_id")["minimal_margin_mm"].last()
    tum["margin_mm"] = tum["tumour_id"].map(margin).astype(float)
    return tum.reset_index(drop=True)


def _logrank(groups: tuple[MarginGroup, ...]) -> tuple[float | None, float | None]:
    from lifelines.statistics import multivariate_logrank_test

    used = [g for g in groups if g.data.months.size > 0]
    if len(used) < 2 or sum(int(g.data.events.sum()) for g in used) == 0:
        return None, None
    result = multivariate_logrank_test(
        np.concatenate([g.data.months for g in used]),
        np.concatenate([np.full(g.data.months.size, g.label) for g in used]),
        np.concatenate([g.data.events for g in used]),
    )
    return float(result.test_statistic), float(result.p_value)


def cox_model(tumours: pd.DataFrame) -> tuple[CoxModel | None, str]:
    """Cox model of LTP on margin and size of ``tumours`` (columns ``ltp_months``,
    ``ltp_event``, ``margin_mm``, ``size_mm``, ``study_id``); (None, why) when not fitted."""
    import pandas as pd
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError
    from lifelines.statistics import proportional_hazard_test

    frame = pd.DataFrame(
        {
            "months": tumours["ltp_months"].to_numpy(float),
            "event": tumours["ltp_event"].to_numpy(bool).astype(int),
            "margin_mm": tumours["margin_mm"].to_numpy(float),
            "size_10mm": tumours["size_mm"].to_numpy(float) / 10.0,
            "patient": tumours["study_id"].astype(str).to_numpy(),
        }
    )
    if frame.empty:
        return None, "not fitted: no tumour at risk of LTP has a stored ablation zone"
    events = int(frame["event"].sum())
    if events < MIN_EVENTS:
        return None, f"not fitted: {events} LTP events (at least {MIN_EVENTS} needed)"
    if frame["margin_mm"].nunique() < 2:
        return None, "not fitted: every tumour has the same margin"
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cph = CoxPHFitter(alpha=1 - CONFIDENCE).fit(
                frame, "months", "event", cluster_col="patient"
            )
            ph = proportional_hazard_test(cph, frame, time_transform="rank").summary
        except (ConvergenceError, np.linalg.LinAlgError, ValueError) as exc:
            return None, f"not fitted: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    notes += sorted({f"lifelines: {str(w.message).splitlines()[0][:200]}" for w in caught})
    summary = cph.summary
    low_col, high_col = (f"exp(coef) {side} {100 * CONFIDENCE:.0f}%" for side in ("lower",
                                                                                  "upper"))
    terms = tuple(
        CoxTerm(
            label,
            float(summary.at[column, "exp(coef)"]),
            float(summary.at[column, low_col]),
            float(summary.at[column, high_col]),
            float(summary.at[column, "p"]),
            float(ph.at[column, "test_statistic"]) if column in ph.index else None,
            float(ph.at[column, "p"]) if column in ph.index else None,
        )
        for column, label in COX_TERMS.items()
    )
    if events < EVENTS_PER_COVARIATE * len(COX_TERMS):
        notes.append(
            f"{events} events for {len(COX_TERMS)} covariates: fewer than "
            f"{EVENTS_PER_COVARIATE} per covariate, the hazard ratios are unreliable"
        )
    for term in terms:
        if term.proportional is False:
            notes.append(
                f"{term.name}: proportional hazards rejected (p = {term.ph_p:.3g}); its hazard "
                "ratio is an average over follow-up"
            )
    model = CoxModel(
        terms=terms, tumours=int(len(frame)), patients=int(frame["patient"].nunique()),
        events=events, concordance=float(cph.concordance_index_), notes=tuple(notes),
    )  # fmt: skip
    return model, ""


def margin_analysis(data: StudyData, ends: Endpoints) -> MarginAnalysis:
    """Every figure of the module docstring for ``data`` (validated) and its endpoints."""
    at_risk = tumour_margins(data, ends)
    known = at_risk[at_risk["margin_mm"].notna()]
    index = margin_group(known["margin_mm"].to_numpy(float))
    groups = []
    for i, label in enumerate(MARGIN_GROUPS):
        rows = known[index == i]
        series = TimeToEvent(
            rows["ltp_months"].to_numpy(float),
            rows["ltp_event"].to_numpy(bool),
            rows["study_id"].to_numpy(),
        )
        groups.append(MarginGroup(label, kaplan_meier(f"LTP-free ({label})", "tumours", series),
                                  series))
    groups = tuple(groups)
    statistic, p = _logrank(groups)
    cox, why = cox_model(known)
    zones = data.ablation_zones
    paired = zones[["minimal_margin_mm", "predicted_minimal_margin_mm"]].dropna()
    achieved = paired["minimal_margin_mm"].to_numpy(float)
    predicted = paired["predicted_minimal_margin_mm"].to_numpy(float)
    table = np.zeros((len(MARGIN_GROUPS), len(MARGIN_GROUPS)), dtype=int)
    np.add.at(table, (margin_group(predicted), margin_group(achieved)), 1)
    return MarginAnalysis(
        at_risk=int(len(at_risk)),
        without_margin=int(len(at_risk) - len(known)),
        groups=groups,
        logrank_statistic=statistic,
        logrank_p=p,
        cox=cox,
        cox_note=why,
        zones=int(len(zones)),
        dice_values=zones["dice"].to_numpy(float),
        dice=_distribution(zones["dice"]),
        hd95_mm=_distribution(zones["hd95_mm"]),
        volume_ratio=_distribution(zones["volume_ratio"]),
        margin_agreement=bland_altman(achieved, predicted),
        predicted_margin_mm=predicted,
        achieved_margin_mm=achieved,
        group_table=tuple(tuple(int(c) for c in row) for row in table),
    )
