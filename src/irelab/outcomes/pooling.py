"""Random-effects pooling of published proportions (logit scale, DerSimonian-Laird).

Proportions are pooled on the logit scale with inverse-variance weights and a
DerSimonian-Laird random-effects variance (DerSimonian R, Laird N. Control Clin Trials
1986;7:177-188) by ``statsmodels.stats.meta_analysis.combine_effects(..., method_re='dl')``;
the pooled logit and its normal 95 % interval are back-transformed. The variance of a logit
proportion is 1/e + 1/(n - e); a series with 0 or n events gets the continuity correction of
0.5 added to events and non-events (Haldane JBS, Ann Hum Genet 1956;20:309-311). What is
pooled, and with which caveats, is in :mod:`irelab.outcomes.evidence`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from irelab.outcomes.proportions import CONFIDENCE

if TYPE_CHECKING:
    from irelab.outcomes.evidence import EvidenceRow, Outcome

#: Continuity correction added to events and non-events when a series has 0 or all events.
CONTINUITY_CORRECTION = 0.5


@dataclass(frozen=True)
class PooledEstimate:
    """Random-effects pooled proportion (logit scale, back-transformed) of ``series`` series.

    ``unverified`` counts the pooled rows whose provenance is not a series' own abstract.
    """

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
    unverified: int = 0


def logit_effects(events: np.ndarray, totals: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Logit proportions and their variances; 0.5 added where a series has 0 or all events."""
    events = np.asarray(events, dtype=float)
    totals = np.asarray(totals, dtype=float)
    edge = (events == 0) | (events == totals)
    e = np.where(edge, events + CONTINUITY_CORRECTION, events)
    f = np.where(edge, totals - events + CONTINUITY_CORRECTION, totals - events)
    return np.log(e / f), 1.0 / e + 1.0 / f, bool(edge.any())


def pool(rows: Sequence[EvidenceRow]) -> PooledEstimate:
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
        unverified=sum(not r.verified for r in rows),
    )
