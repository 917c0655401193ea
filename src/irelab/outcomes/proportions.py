"""Proportions with confidence intervals: the one place where binomial intervals are computed.

Every interval comes from ``statsmodels.stats.proportion.proportion_confint`` with the method
passed explicitly: statsmodels defaults to the Wald ('normal') interval, which is too narrow for
the small counts of ablation series and can leave [0, 1]. The Wilson score interval is the
default here (Newcombe RG, Two-sided confidence intervals for the single proportion: comparison
of seven methods, Stat Med 1998;17:857-872, method 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class IntervalMethod(Enum):
    """Binomial interval methods, by their statsmodels ``method=`` name."""

    WILSON = "wilson"
    CLOPPER_PEARSON = "beta"
    JEFFREYS = "jeffreys"


#: Coverage of every interval in the outcome report.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Proportion:
    """``events`` of ``total`` with a two-sided interval; ``estimate`` is None when total is 0."""

    events: int
    total: int
    estimate: float | None
    low: float | None
    high: float | None
    method: IntervalMethod = IntervalMethod.WILSON

    def text(self, digits: int = 1) -> str:
        """'7/28 (25.0 %, 95 % CI 12.7-43.4)' style, or '0/0' when nothing was counted."""
        if self.estimate is None or self.low is None or self.high is None:
            return f"{self.events}/{self.total}"
        return (
            f"{self.events}/{self.total} ({100 * self.estimate:.{digits}f} %, "
            f"{100 * CONFIDENCE:.0f} % CI {100 * self.low:.{digits}f}-{100 * self.high:.{digits}f})"
        )


def proportion(
    events: int, total: int, method: IntervalMethod = IntervalMethod.WILSON
) -> Proportion:
    """``events``/``total`` with its ``CONFIDENCE`` interval by ``method`` (Wilson by default)."""
    from statsmodels.stats.proportion import proportion_confint

    events, total = int(events), int(total)
    if total <= 0:
        return Proportion(events, total, None, None, None, method)
    low, high = proportion_confint(events, total, alpha=1 - CONFIDENCE, method=method.value)
    return Proportion(events, total, events / total, float(low), float(high), method)
