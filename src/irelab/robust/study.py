"""A robustness study of a plan: draw samples, run them on Dask, aggregate them.

The pipeline's stages live in their own modules: :mod:`~irelab.robust.model` (what varies),
:mod:`~irelab.robust.sampling` (the samples), :mod:`~irelab.robust.evaluate` (one sample),
:mod:`~irelab.robust.cluster` (where they run) and :mod:`~irelab.robust.statistics` (what they
say). :func:`robust_study` composes them; :mod:`irelab.robust.output` writes the result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from irelab.case import Case, case_text
from irelab.delivery.generator import GeneratorConfig, first_pulse_current_limit_A
from irelab.errors import InputError
from irelab.field import Grid, TissueRole
from irelab.robust.cluster import ClusterSettings, dask_client, run_samples
from irelab.robust.evaluate import EvaluationSettings, SampleOutcome
from irelab.robust.model import UncertaintyModel
from irelab.robust.sampling import SampleSet, draw_samples
from irelab.robust.statistics import Aggregator, RobustStatistics

__all__ = ["RobustOptions", "RobustResult", "check_plan", "robust_study", "MAX_SAMPLES",
           "DEFAULT_SAMPLES", "DEFAULT_THERMAL_SAMPLES"]

DEFAULT_SAMPLES = 200
"""Samples of a study by default: the 95 % interval of a coverage probability near 0.95 is then
about +-0.035 wide (Clopper-Pearson, 190 of 200: 0.910-0.976)."""

MAX_SAMPLES = 100_000
"""A sanity bound on ``--samples`` (each sample is a full solve of the plan)."""

DEFAULT_THERMAL_SAMPLES = 20
"""The thermal model runs on the first this many samples only: it costs most of what a sample's
field solves cost (measured on the 30 mm demo plan at 1 mm, 10 pairs at 3 placements: 8.5-12.0
s of CPU against 13.6-14.0 s for the solves, load 1.1-1.3; the solver's kept coarsest LU and
adaptive forcing since took the solves to 12.5-13.9 s at load 4.4-5.7, against 14.8-18.8 s
before at that load), and the first samples of a scrambled Sobol sequence are themselves a
balanced sample of the model. With 200 samples this adds about 7 % to the study; its interval
is correspondingly wider. Design choice;
``--thermal-samples`` changes it (0 turns it off)."""

Progress = Callable[[int, int, SampleOutcome], None]
Stop = Callable[[Sequence[SampleOutcome]], bool]


@dataclass(frozen=True)
class RobustOptions:
    """A study's size and settings (the uncertainty model is separate)."""

    samples: int = DEFAULT_SAMPLES
    thermal_samples: int = DEFAULT_THERMAL_SAMPLES
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)

    def check(self, source: str) -> None:
        if not 1 <= self.samples <= MAX_SAMPLES:
            raise InputError(source, "--samples", f"a whole number of samples from 1 to "
                             f"{MAX_SAMPLES:,}", self.samples)
        if self.thermal_samples < 0:
            raise InputError(source, "--thermal-samples", "a number of samples at least 0",
                             self.thermal_samples)
        if self.cluster.workers is not None and self.cluster.workers < 1:
            raise InputError(source, "--workers", "at least one worker", self.cluster.workers)
        if not self.cluster.timeout_s > 0:
            raise InputError(source, "--scheduler-timeout-s", "a positive number of seconds",
                             self.cluster.timeout_s)


@dataclass(frozen=True, eq=False)
class RobustResult:
    """A plan's study: the model used, the samples, the unperturbed plan's outcome and the
    statistics, on ``grid``. ``stopped_after``: the number of samples the statistics hold when
    the study's stop rule ended it early (None: every sample ran)."""

    case: Case
    model: UncertaintyModel
    options: RobustOptions
    grid: Grid
    samples: SampleSet
    nominal: SampleOutcome
    statistics: RobustStatistics
    outcomes: tuple[SampleOutcome, ...]
    stopped_after: int | None = None

    @property
    def probability(self) -> float:
        return self.statistics.coverage_probability.estimate

    def tumour_mask(self) -> np.ndarray:
        names = self.case.tissue_names
        return np.isin(self.case.labels(self.grid),
                       [names.index(n) for n in self.case.tissues_with(TissueRole.TARGET)])


def check_plan(case: Case, spacing_mm: float | None = None) -> None:
    """One :class:`InputError` unless ``case`` is a plan with a target tissue on a grid finer
    than its probes.

    The grid must be finer than the thinnest probe's diameter: a probe then always crosses
    grid edges wherever a sample moves it (a 1.1 mm needle between the edges of a 2 mm grid
    would hold no voxel and carry no current, and the sample would look like a miss)."""
    if case.protocol is None or not case.protocol.pairs or not case.probes:
        raise InputError(case.source, "protocol.pairs", "a plan: probes and at least one pair "
                         "(run irelab plan first)")
    if not case.tissues_with(TissueRole.TARGET):
        raise InputError(case.source, "anatomy", "a tissue with role: target (the tumour whose "
                         "coverage is studied)")
    spacing = spacing_mm or case.domain.spacing_mm
    thinnest = min(p.diameter_mm for p in case.probes)
    if spacing >= thinnest:
        raise InputError(case.source, "domain.spacing_mm", f"a grid spacing below the "
                         f"thinnest probe's diameter ({thinnest:g} mm), so that a moved probe "
                         "always meets the grid", spacing)


def robust_study(case: Case, model: UncertaintyModel, options: RobustOptions,
                 progress: Progress | None = None, stop: Stop | None = None) -> RobustResult:
    """Monte Carlo of ``case`` (a plan) under ``model``: ``progress(done, total, outcome)`` is
    told after every sample. With ``stop``, the study ends at the first ``k`` for which
    ``stop(first k outcomes in sample order)`` holds and its statistics are those of the
    first ``k`` samples (the same ``k`` whatever the order the samples finish in)."""
    options.check(case.source)
    check_plan(case, options.evaluation.spacing_mm)
    samples = draw_samples(model, case, options.samples)
    grid = case.grid(options.evaluation.spacing_mm)
    thermal = min(options.thermal_samples, options.samples)
    aggregator = Aggregator(samples, grid.shape, thermal,
                            first_pulse_current_limit_A(GeneratorConfig(), case.protocol.pulses))
    stopped: list[int] = []

    def collect(outcome: SampleOutcome) -> bool:
        aggregator.add(outcome)
        if progress is not None:
            progress(aggregator.received, len(samples), outcome)
        if stop is not None and (k := aggregator.advance(stop)) is not None:
            stopped.append(k)
        return bool(stopped)

    with dask_client(options.cluster) as client:
        nominal = run_samples(client, case_text(case), case.source, str(case.base_dir),
                              samples.perturbations, options.evaluation, collect,
                              thermal_samples=thermal)
    first = stopped[0] if stopped else None
    return RobustResult(case=case, model=model, options=options, grid=grid, samples=samples,
                        nominal=nominal, statistics=aggregator.statistics(first),
                        outcomes=tuple(aggregator.outcomes(first)), stopped_after=first)
