"""Time-to-event estimates: Kaplan-Meier, cluster bootstrap, Aalen-Johansen cumulative incidence.

Point estimates and their naive intervals come from lifelines (``KaplanMeierFitter``: product-
limit with the exponential-Greenwood log(-log) interval; ``AalenJohansenFitter``: cumulative
incidence with the delta-method log(-log) interval of Collett, Modelling Survival Data in
Medical Research, 3rd ed.). Values at 6, 12 and 24 months are read from the fitted step
functions by step lookup (the last step at or before the time).

Two things are written here, and why:

- **Cluster (patient-level) bootstrap** of the per-tumour Kaplan-Meier estimate. lifelines has
  no clustered variance, and tumours of one patient share the patient's biology and follow-up,
  so the naive interval is too narrow when they are correlated. Patients are resampled with
  replacement (Field CA, Welsh AH. Bootstrapping clustered data. J R Stat Soc B 2007;69:369-390;
  the percentile interval). To keep 1000-2000 resamples fast, each resample is a vector of
  patient multiplicities and the weighted product-limit estimate is evaluated for all resamples
  at once with matrix products; with all weights 1 it equals lifelines' estimate (tested).
- **Tie handling for Aalen-Johansen**: lifelines 0.30.3 jitters event times at random (and
  warns) when events of different types share a time. The cumulative incidence is invariant to
  the order of simultaneous events of different types (the increment of each type is
  S(t-) d_k / n either way), so we move competing events a negligible ``_TIE_SHIFT_MONTHS``
  earlier instead: deterministic and identical estimates. We never pass ``timeline=`` to
  ``AalenJohansenFitter.fit``: in lifelines 0.30.3 it gives wrong values (open upstream fix).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from irelab.outcomes.proportions import CONFIDENCE

#: Landmark times of the report, months.
LANDMARKS_MONTHS: tuple[float, ...] = (6.0, 12.0, 24.0)

#: Default number of cluster-bootstrap resamples and its seed.
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20240611

#: How far a competing event tied with an event of interest is moved earlier (months): far
#: below the one-day resolution of registry dates (1 day = 0.033 months).
_TIE_SHIFT_MONTHS = 1e-6


@dataclass(frozen=True)
class Landmark:
    """A step-function value at ``months`` with its interval; None where not estimable."""

    months: float
    estimate: float | None
    low: float | None
    high: float | None
    at_risk: int


@dataclass(frozen=True)
class SurvivalEstimate:
    """A Kaplan-Meier (or cumulative incidence) summary of one endpoint.

    ``landmarks`` carry lifelines' naive interval; ``cluster_landmarks`` (per-tumour endpoints
    only) the patient-level bootstrap percentile interval around the same point estimate.
    ``median_months`` is None when the curve does not fall to 0.5.
    """

    name: str
    unit: str
    n: int
    events: int
    landmarks: tuple[Landmark, ...]
    median_months: float | None = None
    cluster_landmarks: tuple[Landmark, ...] = ()
    resamples: int = 0


@dataclass(frozen=True)
class TimeToEvent:
    """Durations (months), event indicators/codes and cluster labels of one analysis."""

    months: np.ndarray
    events: np.ndarray
    clusters: np.ndarray | None = None



def _landmarks(months: np.ndarray, estimate, interval) -> tuple[Landmark, ...]:
    """The step function ``estimate`` (a lifelines one-column frame) and its confidence
    ``interval`` read at each landmark; none past the last follow-up. The bounds are taken as
    the min and max of the interval's columns: lifelines 0.30.3 labels its two CIF bounds the
    wrong way round."""
    timeline = estimate.index.to_numpy()
    values = estimate.iloc[:, 0].to_numpy()
    ci = interval.to_numpy()
    marks = []
    for t in LANDMARKS_MONTHS:
        i = _step_index(timeline, t)
        if t > months.max() or i < 0:
            marks.append(Landmark(t, None, None, None, _at_risk(months, t)))
            continue
        bounds = ci[i][np.isfinite(ci[i])]
        low = float(bounds.min()) if bounds.size else None
        high = float(bounds.max()) if bounds.size else None
        marks.append(Landmark(t, float(values[i]), low, high, _at_risk(months, t)))
    return tuple(marks)

def _step_index(timeline: np.ndarray, months: float) -> int:
    """Index of the last step at or before ``months`` (-1 before the first)."""
    return int(np.searchsorted(timeline, months, side="right")) - 1


def _at_risk(months: np.ndarray, t: float) -> int:
    return int(np.sum(months >= t))


def kaplan_meier(name: str, unit: str, data: TimeToEvent) -> SurvivalEstimate:
    """Kaplan-Meier of ``data`` (lifelines) with naive 95 % intervals at :data:`LANDMARKS_MONTHS`.

    A landmark beyond the longest observed time is not estimable (None).
    """
    from lifelines import KaplanMeierFitter

    months = np.asarray(data.months, dtype=float)
    events = np.asarray(data.events, dtype=bool)
    if months.size == 0:
        empty = tuple(Landmark(t, None, None, None, 0) for t in LANDMARKS_MONTHS)
        return SurvivalEstimate(name, unit, 0, 0, empty)
    kmf = KaplanMeierFitter(alpha=1 - CONFIDENCE).fit(months, events)
    marks = _landmarks(months, kmf.survival_function_, kmf.confidence_interval_)
    median = kmf.median_survival_time_
    median = float(median) if np.isfinite(median) else None
    return SurvivalEstimate(name, unit, int(months.size), int(events.sum()), marks, median)


def weighted_product_limit(
    months: np.ndarray, events: np.ndarray, weights: np.ndarray, at: np.ndarray
) -> np.ndarray:
    """Product-limit survival at times ``at`` for each row of ``weights`` (vectorised).

    ``weights`` has shape (resamples, n): the multiplicity of each observation in each resample.
    Returns shape (resamples, len(at)). With ``weights`` all ones this is the Kaplan-Meier
    estimate (events before censoring at tied times, as in lifelines).
    """
    times = np.unique(months[events])
    if times.size == 0:
        return np.ones((weights.shape[0], len(at)))
    died = (months[:, None] == times[None, :]) & events[:, None]  # (n, k)
    risk = months[:, None] >= times[None, :]  # (n, k)
    d = weights @ died  # (B, k)
    r = weights @ risk
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(r > 0, 1.0 - d / r, 1.0)
    surv = np.cumprod(factor, axis=1)
    idx = np.searchsorted(times, at, side="right") - 1
    out = np.where(idx[None, :] >= 0, surv[:, np.clip(idx, 0, None)], 1.0)
    return out


def cluster_bootstrap(
    data: TimeToEvent,
    at: tuple[float, ...] = LANDMARKS_MONTHS,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> np.ndarray:
    """Kaplan-Meier at ``at`` for ``resamples`` patient-level bootstrap samples.

    Clusters (patients) are drawn with replacement, ``len(clusters)`` per sample; every
    observation of a drawn cluster enters with the cluster's multiplicity. Returns shape
    (resamples, len(at)).
    """
    if data.clusters is None:
        raise ValueError("cluster_bootstrap needs cluster labels")
    labels, inverse = np.unique(np.asarray(data.clusters), return_inverse=True)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(labels.size, np.full(labels.size, 1.0 / labels.size), size=resamples)
    weights = counts[:, inverse].astype(float)
    return weighted_product_limit(
        np.asarray(data.months, float), np.asarray(data.events, bool), weights, np.asarray(at)
    )


def kaplan_meier_clustered(
    name: str,
    unit: str,
    data: TimeToEvent,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> SurvivalEstimate:
    """:func:`kaplan_meier` plus the patient-level bootstrap percentile interval at landmarks."""
    from dataclasses import replace

    naive = kaplan_meier(name, unit, data)
    if naive.n == 0:
        return naive
    boot = cluster_bootstrap(data, LANDMARKS_MONTHS, resamples, seed)
    alpha = 1 - CONFIDENCE
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
    marks = tuple(
        Landmark(m.months, m.estimate, None, None, m.at_risk)
        if m.estimate is None
        else Landmark(m.months, m.estimate, float(low[j]), float(high[j]), m.at_risk)
        for j, m in enumerate(naive.landmarks)
    )
    return replace(naive, cluster_landmarks=marks, resamples=resamples)


def untie_competing(months: np.ndarray, events: np.ndarray, of_interest: int) -> np.ndarray:
    """``months`` with competing events that tie with an event of interest moved earlier.

    See the module docstring: the cumulative incidence is unchanged, and lifelines' random
    jitter (and its warning) is avoided.
    """
    months = np.asarray(months, dtype=float).copy()
    events = np.asarray(events)
    interest_times = months[events == of_interest]
    competing = (events != of_interest) & (events != 0) & np.isin(months, interest_times)
    months[competing] -= _TIE_SHIFT_MONTHS
    return months


def cumulative_incidence(
    name: str, unit: str, data: TimeToEvent, of_interest: int
) -> SurvivalEstimate:
    """Aalen-Johansen cumulative incidence of event code ``of_interest`` (others compete).

    Fitted with lifelines' ``AalenJohansenFitter`` WITHOUT ``timeline=`` (see the module
    docstring); landmark values by step lookup on the fitted function.
    """
    from lifelines import AalenJohansenFitter

    events = np.asarray(data.events, dtype=int)
    if events.size == 0:
        empty = tuple(Landmark(t, None, None, None, 0) for t in LANDMARKS_MONTHS)
        return SurvivalEstimate(name, unit, 0, 0, empty)
    months = untie_competing(data.months, events, of_interest)
    ajf = AalenJohansenFitter(alpha=1 - CONFIDENCE, calculate_variance=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ajf.fit(months, events, event_of_interest=of_interest)
    marks = _landmarks(months, ajf.cumulative_density_, ajf.confidence_interval_)
    n_events = int(np.sum(events == of_interest))
    return SurvivalEstimate(name, unit, int(events.size), n_events, marks)
