"""Subgroups: tumour size (<= 30, 30-50, > 50 mm) and cardiac synchronisation (yes / no).

Each subgroup gets the per-tumour LTP-free Kaplan-Meier (lifelines), the primary and assisted
technique efficacy (Wilson intervals), and each grouping a log-rank test across its groups
(lifelines ``multivariate_logrank_test``). The log-rank test treats tumours as independent; with
several tumours per patient its p-value is approximate (stated in the report). Size bands are
the analysis plan's (<= 3, 3-5, > 5 cm; a design choice); cardiac synchronisation is that of
the tumour's first session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from irelab.outcomes.proportions import Proportion, proportion
from irelab.outcomes.survival import SurvivalEstimate, TimeToEvent, kaplan_meier

if TYPE_CHECKING:
    import pandas as pd

#: Upper edges of the size bands, mm (<= 3, 3-5, > 5 cm; design choice of the analysis plan).
SIZE_EDGES_MM = (30.0, 50.0)
SIZE_LABELS = ("<= 30 mm", "30-50 mm", "> 50 mm")


@dataclass(frozen=True)
class SubgroupResult:
    """One subgroup: its label, tumour count, efficacies and LTP-free Kaplan-Meier."""

    label: str
    tumours: int
    primary_efficacy: Proportion
    assisted_efficacy: Proportion
    ltp_free: SurvivalEstimate
    data: TimeToEvent


@dataclass(frozen=True)
class SubgroupComparison:
    """A grouping (e.g. tumour size) with its groups and the log-rank test across them."""

    name: str
    groups: tuple[SubgroupResult, ...]
    logrank_statistic: float | None
    logrank_p: float | None


def size_band(size_mm: pd.Series) -> pd.Series:
    """The size band label of each tumour (<= 30, 30-50, > 50 mm)."""
    import pandas as pd

    bins = [-np.inf, *SIZE_EDGES_MM, np.inf]
    return pd.cut(size_mm, bins=bins, labels=SIZE_LABELS, right=True).astype(str)


def _group(label: str, tumours: pd.DataFrame) -> SubgroupResult:
    followed = tumours[tumours["has_followup"]]
    at_risk = tumours[tumours["complete_documented"]]
    data = TimeToEvent(
        at_risk["ltp_months"].to_numpy(float),
        at_risk["ltp_event"].to_numpy(bool),
        at_risk["study_id"].to_numpy(),
    )
    return SubgroupResult(
        label,
        int(len(tumours)),
        proportion(int(followed["primary_efficacy"].sum()), len(followed)),
        proportion(int(followed["assisted_efficacy"].sum()), len(followed)),
        kaplan_meier(f"LTP-free ({label})", "tumours", data),
        data,
    )


def _compare(name: str, tumours: pd.DataFrame, labels: pd.Series, order) -> SubgroupComparison:
    from lifelines.statistics import multivariate_logrank_test

    groups = tuple(_group(str(lab), tumours[labels == lab]) for lab in order)
    used = [g for g in groups if g.data.months.size > 0]
    stat = p = None
    if len(used) >= 2 and sum(int(g.data.events.sum()) for g in used) > 0:
        months = np.concatenate([g.data.months for g in used])
        events = np.concatenate([g.data.events for g in used])
        names = np.concatenate([np.full(g.data.months.size, g.label) for g in used])
        result = multivariate_logrank_test(months, names, events)
        stat, p = float(result.test_statistic), float(result.p_value)
    return SubgroupComparison(name, groups, stat, p)


def subgroup_comparisons(tumours: pd.DataFrame) -> tuple[SubgroupComparison, ...]:
    """Size-band and cardiac-synchronisation comparisons of the per-tumour endpoint table."""
    sync = tumours["cardiac_sync"].map({True: "ECG-synchronised", False: "Not synchronised"})
    return (
        _compare("Tumour size", tumours, size_band(tumours["size_mm"]), SIZE_LABELS),
        _compare(
            "Cardiac synchronisation", tumours, sync, ("ECG-synchronised", "Not synchronised")
        ),
    )
