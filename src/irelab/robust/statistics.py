"""Aggregating samples: coverage probability with its interval, distributions, the probability
map, thermal risk and the sensitivity indices.

Outcomes arrive in any order (from Dask workers, as they finish); :class:`Aggregator` files each
under its sample index and sums the lethal zones in integers, so the result depends only on the
samples, never on their order of arrival or on the number of workers.

Intervals: the probability of complete coverage (and of thermal damage) is a binomial
proportion; its interval is Clopper-Pearson's exact interval
(``statsmodels.stats.proportion.proportion_confint(method="beta")``), which never covers less
than its nominal level (Clopper CJ, Pearson ES, Biometrika 26:404-413, 1934). The samples are
scrambled Sobol points rather than independent draws; scrambling keeps each sample uniformly
distributed, so the proportion is unbiased, and for an indicator in many dimensions the
variance is close to that of independent draws (Owen AB, Ann Stat 25:1541-1562, 1997, bounds
it within a small factor), so the interval is stated as for independent samples.

Sensitivity: the first-order index ``S1`` of each parameter on the minimal margin, and on the
field reserve (:attr:`~irelab.robust.evaluate.SampleOutcome.field_reserve`), from the same
samples, by RBD-FAST as given-data estimator (SALib ``rbd_fast.analyze``; Plischke E, Reliab
Eng Syst Saf 95:354-360, 2010; bias correction of Tissot & Prieur 2012). ``S1`` is the share of
the margin's variance explained by that parameter alone; it also catches effects a linear
regression misses (a shift of the whole array shortens the margin whichever way it goes). The
indices of a parameter group (the array, each probe, the tissues) are summed for the summary.
The field reserve is the finer measure of what drives the misses: a missed sample's margin is
almost always the same half voxel short (on the 30 mm demo plan 24 of 25 misses in 32 samples
read -0.5 mm), while its reserve says how much field it lacked.
When most samples share one margin (e.g. every miss is the same half voxel short), some of
RBD-FAST's bootstrap resamples have no variance and the interval is undetermined: it is then
NaN here and ``null`` in JSON (which has no NaN), never a warning or an invalid file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from irelab.robust.evaluate import SampleOutcome
from irelab.robust.sampling import Parameter, SampleSet

__all__ = ["Aggregator", "Interval", "Distribution1D", "Sensitivity", "RobustStatistics",
           "CONFIDENCE_LEVEL", "MIN_SENSITIVITY_SAMPLES", "json_number"]


def json_number(value: float, digits: int) -> float | None:
    """``value`` rounded for JSON, or None where it is not a finite number (JSON has no NaN)."""
    return round(value, digits) if np.isfinite(value) else None


CONFIDENCE_LEVEL = 0.95
"""Two-sided level of every interval."""

INTERVAL_METHOD = "beta"
"""statsmodels' name of the Clopper-Pearson interval."""

MIN_SENSITIVITY_SAMPLES = 64
"""Fewer simulated samples give no sensitivity indices. RBD-FAST sums ``M = 10`` harmonics of
the output ordered by each parameter (SALib's default), and Tissot & Prieur's bias correction
divides by ``1 - 2 M / N``, so it needs ``N`` well above ``2 M = 20``; SALib's bootstrap of the
interval applies it to resamples of half the samples. 64 samples give resamples of 32
(``2 M / N = 0.63``); with 40 the resamples have 20 and the correction divides by zero (a
robustness study of 40 samples failed so), with 32-39 it has the wrong sign."""

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class Interval:
    """A proportion ``k / n`` with its two-sided interval."""

    successes: int
    trials: int
    low: float
    high: float
    method: str = "Clopper-Pearson"
    level: float = CONFIDENCE_LEVEL

    @property
    def estimate(self) -> float:
        return self.successes / self.trials if self.trials else float("nan")

    @classmethod
    def of(cls, successes: int, trials: int) -> Interval:
        from statsmodels.stats.proportion import proportion_confint

        if trials == 0:
            return cls(0, 0, float("nan"), float("nan"))
        low, high = proportion_confint(successes, trials, alpha=1 - CONFIDENCE_LEVEL,
                                       method=INTERVAL_METHOD)
        return cls(int(successes), int(trials), float(low), float(high))

    def to_json(self) -> dict:
        return {"estimate": json_number(self.estimate, 6), "successes": self.successes,
                "trials": self.trials, "low": json_number(self.low, 6),
                "high": json_number(self.high, 6), "method": self.method, "level": self.level}


@dataclass(frozen=True)
class Distribution1D:
    """Quantiles (5, 25, 50, 75, 95 %), mean and extremes of a quantity over the samples."""

    quantiles: tuple[float, ...]
    mean: float
    minimum: float
    maximum: float

    @classmethod
    def of(cls, values: np.ndarray) -> Distribution1D:
        values = np.asarray(values, dtype=float)
        values = values[np.isfinite(values)]
        if values.size == 0:
            nan = float("nan")
            return cls(tuple(nan for _ in QUANTILES), nan, nan, nan)
        return cls(tuple(float(q) for q in np.quantile(values, QUANTILES)),
                   float(values.mean()), float(values.min()), float(values.max()))

    def to_json(self, digits: int = 4) -> dict:
        return {"quantiles": {f"{int(q * 100)}": json_number(v, digits)
                              for q, v in zip(QUANTILES, self.quantiles, strict=True)},
                "mean": json_number(self.mean, digits), "min": json_number(self.minimum, digits),
                "max": json_number(self.maximum, digits)}


@dataclass(frozen=True)
class Sensitivity:
    """First-order index of one parameter on the minimal margin, with its bootstrap interval
    half-width."""

    parameter: str
    group: str
    s1: float
    conf: float


@dataclass(frozen=True, eq=False)
class RobustStatistics:
    """Everything the samples say about the plan."""

    samples: int
    simulated: int
    coverage_probability: Interval
    coverage: Distribution1D
    margin_mm: Distribution1D
    probability: np.ndarray
    """Per voxel: the share of samples whose lethal zone (or probe) holds it."""
    thermal: dict[str, Interval] | None
    """Per critical tissue, and ``any``: samples with thermal damage there (None: not run)."""
    sensitivity: tuple[Sensitivity, ...]
    not_converged: int
    coverage_values: np.ndarray
    margin_values: np.ndarray
    reserve_values: np.ndarray
    """Each sample's field reserve (:attr:`SampleOutcome.field_reserve`; NaN when not
    simulated)."""
    sensitivity_reserve: tuple[Sensitivity, ...]
    """First-order indices on the field reserve (module doc)."""
    current_over_limit: Interval | None = None
    """Simulated samples in which some pair's current would pass the generator's limit on some
    pulse (None: no limit given); see :class:`Aggregator`."""
    first_pulse_limit_A: float | None = None
    """The first-pulse current ``current_over_limit`` counts against (None: no limit given)."""
    coverage_probability_as_delivered: Interval | None = None
    """Samples whose tumour is covered with the pairs over the current limit re-delivered at
    the generator's suggested voltage (:mod:`irelab.robust.evaluate`; None: not evaluated)."""

    @property
    def field_reserve(self) -> Distribution1D:
        """The distribution of the samples' field reserve."""
        return Distribution1D.of(self.reserve_values)

    def groups(self) -> dict[str, float]:
        """Summed first-order indices per parameter group."""
        out: dict[str, float] = {}
        for s in self.sensitivity:
            out[s.group] = out.get(s.group, 0.0) + s.s1
        return out


class Aggregator:
    """Collects :class:`SampleOutcome` objects as they arrive and summarises them in sample
    order: all of them, or the first ``k`` when a study stops early (:meth:`advance`).

    ``first_pulse_limit_A``: the largest first-pulse current a pair may draw without its
    current passing the generator's limit later in its train (the delivery simulator's current
    model, as the planner uses it: :attr:`irelab.plan.targets.PlanLimits.initial_current_limit_A`).
    A sample's currents are first-pulse currents (its converged sigma(E)), so a sample above it
    is one whose delivery the generator would stop at that pair (over-current abort) and whose
    coverage assumes every pulse delivered as planned."""

    def __init__(self, samples: SampleSet, shape: tuple[int, int, int],
                 thermal_samples: int = 0, first_pulse_limit_A: float | None = None) -> None:
        self.samples = samples
        self.shape = shape
        self.thermal_samples = thermal_samples  # the thermal model ran on samples below this
        self.first_pulse_limit_A = first_pulse_limit_A
        self._outcomes: list[SampleOutcome | None] = [None] * len(samples)
        self.received = 0
        self.prefix = 0  # samples 0 .. prefix - 1 have all arrived and were offered to a stop

    def add(self, outcome: SampleOutcome) -> None:
        k = outcome.index
        if not 0 <= k < len(self._outcomes):
            raise ValueError(f"sample index {k} outside 0..{len(self._outcomes) - 1}")
        if self._outcomes[k] is not None:
            return  # a retried task that finished twice: the first result stands (identical)
        if outcome.shape != self.shape:
            raise ValueError(f"sample {k} was solved on a grid of {outcome.shape}, not "
                             f"{self.shape}")
        self._outcomes[k] = outcome
        self.received += 1

    def advance(self, stop: Callable[[Sequence[SampleOutcome]], bool]) -> int | None:
        """Extend the run of samples that have all arrived from sample 0 on, asking
        ``stop(first_k)`` for each new length ``k``; the first ``k`` for which it holds, else
        None. Which ``k`` that is depends only on the samples, not on their order of arrival:
        a sample arriving early waits until those before it have arrived."""
        while self.prefix < len(self._outcomes) and self._outcomes[self.prefix] is not None:
            self.prefix += 1
            if stop(self._outcomes[:self.prefix]):  # type: ignore[arg-type]
                return self.prefix
        return None

    def outcomes(self, first: int | None = None) -> list[SampleOutcome]:
        """The outcomes in sample order: all, or the first ``first``."""
        chosen = self._outcomes[:first]
        missing = [k for k, o in enumerate(chosen) if o is None]
        if missing:
            raise RuntimeError(f"samples {missing[:5]} have not arrived")
        return list(chosen)  # type: ignore[arg-type]

    def statistics(self, first: int | None = None) -> RobustStatistics:
        """The statistics of every sample, or of the first ``first`` (a study stopped early)."""
        outcomes = self.outcomes(first)
        n = len(outcomes)
        counts = np.zeros(int(np.prod(self.shape)), dtype=np.int32)  # in integers: exact
        for outcome in outcomes:
            counts += np.unpackbits(outcome.lethal_bits, count=counts.size)
        covered = sum(o.covered for o in outcomes)
        coverage = np.array([o.coverage for o in outcomes])
        margin = np.array([o.margin_mm if o.simulated else np.nan for o in outcomes])
        simulated = np.array([o.simulated for o in outcomes])
        reserve = np.array([o.field_reserve if o.simulated else np.nan for o in outcomes])
        over = None
        if self.first_pulse_limit_A is not None:
            over = Interval.of(sum(o.simulated and o.max_current_A > self.first_pulse_limit_A
                                   for o in outcomes), int(simulated.sum()))
        delivered = [o.covered_as_delivered for o in outcomes]
        as_delivered = (None if any(d is None for d in delivered)
                        else Interval.of(sum(bool(d) for d in delivered), n))
        return RobustStatistics(
            samples=n, simulated=int(simulated.sum()),
            coverage_probability=Interval.of(covered, n),
            coverage=Distribution1D.of(coverage), margin_mm=Distribution1D.of(margin),
            probability=(counts / n).reshape(self.shape),
            thermal=_thermal(outcomes[: self.thermal_samples]),
            sensitivity=_sensitivity(self.samples.parameters, self.samples.values[:n], margin,
                                     simulated),
            sensitivity_reserve=_sensitivity(self.samples.parameters, self.samples.values[:n],
                                             reserve, simulated & np.isfinite(reserve)),
            not_converged=sum(not o.converged for o in outcomes),
            coverage_values=coverage, margin_values=margin, reserve_values=reserve,
            current_over_limit=over, first_pulse_limit_A=self.first_pulse_limit_A,
            coverage_probability_as_delivered=as_delivered)


def _thermal(ran: Sequence[SampleOutcome]) -> dict[str, Interval] | None:
    """Thermal damage per critical tissue over the samples the thermal model ran on (a sample
    that could not be simulated counts as damage: unknown is not safe)."""
    if not ran:
        return None
    names = sorted({n for o in ran if o.critical_damage_mm3 for n, _ in o.critical_damage_mm3})
    out = {}
    for name in names:
        hit = sum((not o.simulated) or dict(o.critical_damage_mm3).get(name, 0.0) > 0
                  for o in ran)
        out[name] = Interval.of(hit, len(ran))
    out["any"] = Interval.of(sum((not o.simulated) or bool(o.thermal_damage) for o in ran),
                             len(ran))
    return out


def _sensitivity(parameters: Sequence[Parameter], values: np.ndarray, output: np.ndarray,
                 simulated: np.ndarray) -> tuple[Sensitivity, ...]:
    """RBD-FAST first-order indices of ``output`` (the margin or the field reserve, see the
    module docstring) over the ``simulated`` samples; ``values[k]``: the parameters of sample
    ``k``."""
    from SALib.analyze import rbd_fast

    x = values[simulated]
    y = output[simulated]
    if len(y) < MIN_SENSITIVITY_SAMPLES or not parameters or np.ptp(y) == 0:
        return ()
    problem = {"num_vars": len(parameters),
               "names": [p.name for p in parameters],
               "bounds": [[float(c.min()), float(c.max())] for c in x.T]}
    with np.errstate(invalid="ignore", divide="ignore"):  # a resample without variance: NaN
        result = rbd_fast.analyze(problem, x, y, seed=0)
    return tuple(Sensitivity(p.name, p.group, float(s), float(c))
                 for p, s, c in zip(parameters, result["S1"], result["S1_conf"],
                                    strict=True))
