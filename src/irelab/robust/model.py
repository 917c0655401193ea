"""The uncertainty model: how far a delivered plan may differ from the planned one.

Two kinds of uncertainty, each with a default taken from published measurements (what could be
checked is said; the stored copies reached the abstracts, not the tables):

Placement (per probe; the tip moves, the shaft tilts about the tip):

* ``lateral_sd_mm`` = 2.95 mm, the standard deviation of the tip's displacement along each of
  the two axes normal to the probe. Tinguely P, Paolucci I, Ruiter SJS, et al. Stereotactic and
  robotic minimally invasive thermal ablation of malignant liver tumors: a systematic review and
  meta-analysis. Front Oncol 11:713685, 2021 (22 studies pooled): weighted mean lateral
  targeting error 3.7 mm (95 % CI 3.2-4.2), *verified in the abstract*. A lateral error that is
  an isotropic normal in the plane has a Rayleigh-distributed length of mean
  ``sigma sqrt(pi / 2)``, so ``sigma = 3.7 / 1.2533 = 2.95 mm``. These are navigated
  (stereotactic) insertions of thermal-ablation needles, not IRE probes: no pooled clinical
  figure for IRE probes was found.
* ``correlation`` = 0.79, the share of that variance common to all probes (registration and
  organ motion move every probe alike; each probe adds its own). The own part comes from the
  one IRE-specific measurement found, Stereotactic navigation versus ultrasound guidance in
  placing IRE applicators in a liver phantom, Sci Rep 11, 2021 (eight interventionists, four
  probes around each of 30 phantom tumours, CT navigation): median absolute deviation of a
  pair's distance from plan 1.3 mm, *verified in the abstract*. For independent normal errors of
  standard deviation ``s`` per axis the distance of two probes changes by ``N(0, 2 s^2)``, whose
  median absolute value is ``0.6745 sqrt(2) s``: ``s = 1.36 mm``, and ``1 - s^2 / 2.95^2 =
  0.79``. Combining a clinical and a phantom study this way is our design choice.
* ``depth_sd_mm`` = 2.5 mm along the probe. *Design choice*: no clinical figure was found. A
  phantom study of navigated insertions into a non-rigid liver phantom (Int J Med Robot
  10(1):35-43, 2014; abstract) reports a Euclidean tip error of 4.6-4.9 mm (SD 1.2-1.7) and a
  lateral component of 2.3-4.2 mm (SD 1.3-2.0); the longitudinal remainder,
  ``sqrt(E[euclid^2] - E[lateral^2])``, lies between 1.0 and 4.5 mm RMS depending on the
  method, and 2.5 mm is near its middle. Depth errors share ``correlation`` with lateral ones.
* ``angle_sd_deg`` = 1.52 degrees per axis, independent between probes. The IRE phantom study
  above: mean angle between the two probes of a pair 2.7 degrees (95 % CI 2.4-3.1) with CT
  navigation, *verified in the abstract*. Two independent isotropic tilts of ``s`` per axis
  make an angle whose mean is ``s sqrt(pi)``: ``s = 2.7 / 1.772 = 1.52``. Ultrasound guidance
  gave 5.5 degrees (``s = 3.1``): pass ``--angle-sd-deg 3.1`` for it.

Tissue (one draw per patient, a factor on the case's value):

* Conductivity, by tissue kind, lognormal with mean 1 and coefficient of variation: liver 0.46,
  tumour 0.24. Sarreshtehdari A, Garcia-Sanchez T, Sanchez-Velazquez P, et al. Electrical
  conductivity measurement in human liver tissue: assessment on normal vs. tumor tissue and
  under in vivo vs. ex vivo conditions. Biosensors 14(8):382, 2024 (20 patients at resection,
  3 kHz): in vivo normal liver 0.13 +- 0.06 S/m, tumour 0.41 +- 0.10 S/m, *verified in the
  abstract* (0.06 / 0.13 = 0.46, 0.10 / 0.41 = 0.24; "tumour" there pools metastases,
  cholangiocarcinoma and hepatocellular carcinoma). The factor scales both ``sigma0`` and
  ``sigma1`` (the shape of sigma(E) is kept: an assumption); tissues of other kinds (blood,
  bile) keep their conductivity.
* Lethal threshold, one factor for every electroporable tissue (``sigma0 != sigma1``), uniform
  within +-9.1 %. Retrospective comparison of simulated and CT-segmented ablations in 10
  patients, Technol Cancer Res Treat 2025, doi 10.1177/15330338251384207: the best match lay at
  500-600 V/cm for every patient, *verified in the abstract*; a uniform factor over that band
  relative to its centre is ``1 +- 50 / 550``.

Every default can be replaced in the case file (``uncertainty:``, read by :mod:`irelab.case`)
or on the command line; the result names the values used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
from scipy import stats

from irelab.case import Case
from irelab.case.schema import SpreadSpec, UncertaintySpec

__all__ = ["Distribution", "PlacementSpread", "Spread", "UncertaintyModel",
           "DEFAULT_PLACEMENT", "DEFAULT_CONDUCTIVITY", "DEFAULT_THRESHOLD", "DEFAULT_SEED"]


class Distribution(StrEnum):
    """How a tissue factor is drawn."""

    LOGNORMAL = "lognormal"
    UNIFORM = "uniform"


@dataclass(frozen=True)
class Spread:
    """A positive factor on a tissue parameter: lognormal with mean 1 and coefficient of
    variation ``spread``, or uniform on ``[1 - spread, 1 + spread]``."""

    distribution: Distribution
    spread: float
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "distribution", Distribution(self.distribution))
        if not (math.isfinite(self.spread) and self.spread >= 0):
            raise ValueError(f"a spread must be a non-negative number, got {self.spread}")
        if self.distribution == Distribution.UNIFORM and self.spread >= 1:
            raise ValueError("a uniform spread must stay below 1 (the factor must be positive)")

    def factor(self, u: np.ndarray) -> np.ndarray:
        """The factor at the quantiles ``u`` (in (0, 1))."""
        u = np.asarray(u, dtype=float)
        if self.distribution == Distribution.UNIFORM:
            return 1.0 + self.spread * (2.0 * u - 1.0)
        s = math.sqrt(math.log1p(self.spread**2))
        return np.exp(s * stats.norm.ppf(u) - s * s / 2)


@dataclass(frozen=True)
class PlacementSpread:
    """Placement error of every probe: standard deviations (mm, degrees) and the share of the
    tip displacement's variance that all probes have in common."""

    lateral_sd_mm: float
    depth_sd_mm: float
    angle_sd_deg: float
    correlation: float

    def __post_init__(self) -> None:
        for name in ("lateral_sd_mm", "depth_sd_mm", "angle_sd_deg"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {value}")
        if not 0 <= self.correlation <= 1:
            raise ValueError(f"correlation must be in [0, 1], got {self.correlation}")


_TINGUELY = ("Tinguely P et al., Front Oncol 11:713685, 2021: mean lateral targeting error "
             "3.7 mm (meta-analysis, navigated liver ablation)")
_IRE_PHANTOM = ("Stereotactic navigation versus ultrasound guidance in placing IRE applicators "
                "in a liver phantom, Sci Rep 11, 2021: pair distance median deviation 1.3 mm, "
                "pair angle mean 2.7 degrees (CT navigation)")
_DEPTH = ("design choice within the 1.0-4.5 mm RMS longitudinal error implied by Int J Med "
          "Robot 10(1):35-43, 2014 (navigated insertions, liver phantom)")
_SARRESHTEHDARI = ("Sarreshtehdari A et al., Biosensors 14(8):382, 2024: human liver in vivo "
                   "at 3 kHz, normal 0.13 +- 0.06 S/m, tumour 0.41 +- 0.10 S/m")
_THRESHOLD = ("Technol Cancer Res Treat 2025, doi 10.1177/15330338251384207: best-fit clinical "
              "threshold 500-600 V/cm in 10 patients")

DEFAULT_PLACEMENT = PlacementSpread(lateral_sd_mm=2.95, depth_sd_mm=2.5, angle_sd_deg=1.52,
                                    correlation=0.79)
"""Sources: see the module docstring (lateral: Tinguely 2021; correlation and angle: the IRE
phantom study; depth: a design choice)."""

PLACEMENT_SOURCES: Mapping[str, str] = {
    "lateral_sd_mm": _TINGUELY, "correlation": f"{_TINGUELY}; {_IRE_PHANTOM}",
    "depth_sd_mm": _DEPTH, "angle_sd_deg": _IRE_PHANTOM}

DEFAULT_CONDUCTIVITY: Mapping[str, Spread] = {
    "liver": Spread(Distribution.LOGNORMAL, 0.46, _SARRESHTEHDARI),
    "tumour": Spread(Distribution.LOGNORMAL, 0.24, _SARRESHTEHDARI),
}
"""Conductivity spread by tissue kind (the preset a tissue derives from)."""

DEFAULT_THRESHOLD = Spread(Distribution.UNIFORM, 0.091, _THRESHOLD)

DEFAULT_SEED = 0
"""Design choice: a fixed seed, so that the same plan gives the same report."""


def _spread(spec: SpreadSpec, source: str) -> Spread:
    return Spread(Distribution(spec.distribution), spec.spread, source)


@dataclass(frozen=True)
class UncertaintyModel:
    """Placement spread, conductivity spread by tissue name, the threshold spread and the seed.

    Build it with :meth:`for_case` (defaults, then the case's ``uncertainty:``, then
    overrides such as command-line options)."""

    placement: PlacementSpread = DEFAULT_PLACEMENT
    conductivity: Mapping[str, Spread] = field(default_factory=dict)
    threshold: Spread | None = DEFAULT_THRESHOLD
    seed: int = DEFAULT_SEED
    sources: Mapping[str, str] = field(default_factory=dict)
    """Where each number comes from, by key (``placement.lateral_sd_mm``, ...)."""

    @classmethod
    def for_case(cls, case: Case, *, seed: int | None = None,
                 placement: Mapping[str, float | None] | None = None,
                 origin: str = "the command line") -> UncertaintyModel:
        """The defaults for ``case``'s tissues, replaced by the case's ``uncertainty:`` and then
        by ``seed`` and ``placement`` (keys of :class:`PlacementSpread`; None keeps a value;
        ``origin`` names where they came from). Raises ValueError for a negative spread (the
        case's own values were checked when it was read)."""
        spec = case.uncertainty or UncertaintySpec()
        sources = {f"placement.{k}": v for k, v in PLACEMENT_SOURCES.items()}
        values = {k: getattr(DEFAULT_PLACEMENT, k) for k in PLACEMENT_SOURCES}
        for key, given in (spec.placement.model_dump(exclude_none=True).items()):
            values[key], sources[f"placement.{key}"] = given, case.source
        for key, given in (placement or {}).items():
            if given is not None:
                values[key], sources[f"placement.{key}"] = given, origin
        spread = PlacementSpread(**values)
        conductivity = {}
        for name in case.tissue_names:
            tissue = case.tissues[name]
            given = spec.conductivity.get(name)
            if given is not None:
                conductivity[name] = _spread(given, case.source)
            elif tissue.kind in DEFAULT_CONDUCTIVITY:
                conductivity[name] = DEFAULT_CONDUCTIVITY[tissue.kind]
            if name in conductivity:
                sources[f"conductivity.{name}"] = conductivity[name].source
        threshold = DEFAULT_THRESHOLD
        if spec.threshold is not None:
            threshold = _spread(spec.threshold, case.source)
        sources["threshold"] = threshold.source
        chosen = seed if seed is not None else spec.seed
        return cls(placement=spread, conductivity=conductivity, threshold=threshold,
                   seed=DEFAULT_SEED if chosen is None else int(chosen), sources=sources)

    def with_seed(self, seed: int) -> UncertaintyModel:
        return replace(self, seed=int(seed))

    def to_json(self) -> dict:
        """The model as used, with each number's source."""
        p = self.placement
        return {
            "seed": self.seed,
            "placement": {"lateral_sd_mm": p.lateral_sd_mm, "depth_sd_mm": p.depth_sd_mm,
                          "angle_sd_deg": p.angle_sd_deg, "correlation": p.correlation},
            "conductivity": {name: {"distribution": str(s.distribution), "spread": s.spread}
                             for name, s in self.conductivity.items()},
            "threshold": None if self.threshold is None else {
                "distribution": str(self.threshold.distribution),
                "spread": self.threshold.spread},
            "sources": dict(self.sources),
        }
