"""Robust plans: how likely a plan is to cover its target when needles land off their planned
tips and tissues differ from their textbook values, studied by Monte Carlo on Dask, and plans
that hold with a stated probability.

Stages: :mod:`~irelab.robust.model` (the uncertainty model and its sources),
:mod:`~irelab.robust.sampling` (Sobol samples), :mod:`~irelab.robust.perturb` (a sample as a
case), :mod:`~irelab.robust.evaluate` (one sample's solve and score),
:mod:`~irelab.robust.cluster` (Dask), :mod:`~irelab.robust.statistics` (what the samples say),
:mod:`~irelab.robust.study` (the pipeline), :mod:`~irelab.robust.planning` (robust planning) and
:mod:`~irelab.robust.output` (files). Dask and SALib are the optional ``irelab[robust]``
dependencies, imported only when samples run.
"""

from irelab.robust.cluster import SCHEDULER_ENV, ClusterSettings, dask_client, run_samples
from irelab.robust.evaluate import (
    EvaluationSettings,
    NominalFields,
    SampleOutcome,
    evaluate_plan,
)
from irelab.robust.model import (
    DEFAULT_CONDUCTIVITY,
    DEFAULT_PLACEMENT,
    DEFAULT_THRESHOLD,
    Distribution,
    PlacementSpread,
    Spread,
    UncertaintyModel,
)
from irelab.robust.perturb import perturbed_case
from irelab.robust.planning import RobustPlanResult, RobustPlanStep, plan_robust
from irelab.robust.sampling import Parameter, Perturbation, SampleSet, draw_samples
from irelab.robust.statistics import Aggregator, Interval, RobustStatistics, Sensitivity
from irelab.robust.study import RobustOptions, RobustResult, robust_study

__all__ = [
    "DEFAULT_CONDUCTIVITY",
    "DEFAULT_PLACEMENT",
    "DEFAULT_THRESHOLD",
    "SCHEDULER_ENV",
    "Aggregator",
    "ClusterSettings",
    "Distribution",
    "EvaluationSettings",
    "Interval",
    "NominalFields",
    "Parameter",
    "Perturbation",
    "PlacementSpread",
    "RobustOptions",
    "RobustPlanResult",
    "RobustPlanStep",
    "RobustResult",
    "RobustStatistics",
    "SampleOutcome",
    "SampleSet",
    "Sensitivity",
    "Spread",
    "UncertaintyModel",
    "dask_client",
    "draw_samples",
    "evaluate_plan",
    "perturbed_case",
    "plan_robust",
    "robust_study",
    "run_samples",
]
