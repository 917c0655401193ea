"""Site calibration: the lethal threshold (and a conductivity scale) that best explains a set of
predicted-vs-achieved comparisons, with bootstrap confidence intervals.

Lethal threshold: one threshold ``T`` for the fitted tissues (by default every tissue that is a
target or background, i.e. liver and tumour; critical tissues keep theirs), chosen to maximise
the mean Dice of the comparisons, each comparison's prediction redone at ``T`` from its stored
field (the conductivity is held, so no solve is needed). Dice against ``T`` is a step function,
computed for every ``T`` on a grid of :data:`STEP_V_PER_CM` at once from the sorted fields; the
estimate is the middle of the best plateau.

Conductivity scale: a uniform scale of every tissue's conductivity leaves the potential, and so
the zone, unchanged and multiplies the current by the scale, so zones cannot inform it and
currents determine it: the geometric mean of measured / predicted first-pulse current over every
delivered pair (comparisons made with a delivery log). It is written into the fitted tissues
only (liver and tumour; blood and bile keep theirs, which moves the zone slightly near vessels).

Intervals: bootstrap over comparisons (resampled with replacement, ``bootstrap`` times,
seeded), the estimate refitted on each resample. The plain 2.5th-97.5th percentile interval is
too narrow for few comparisons (it acts as a normal interval with the standard error shrunk by
sqrt((n-1)/n) and z in place of Student's t); we take the expanded percentile interval, the
percentiles at Phi(+-sqrt(n/(n-1)) t_{n-1, 0.975}) (Hesterberg TC, What teachers should know
about the bootstrap, The American Statistician 69(4):371-386, 2015, recalled, not re-read):
for 6 comparisons the 0.24th and 99.76th percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from irelab.case import Tissue
from irelab.errors import InputError
from irelab.field import TissueRole
from irelab.validation.comparison_file import StoredComparison

__all__ = ["Calibration", "MIN_COMPARISONS", "calibrate", "dice_curves"]

STEP_V_PER_CM = 5.0
RANGE_V_PER_CM = (200.0, 1500.0)
"""Thresholds searched (design choice: the liver literature's 362-750 V/cm with room either
side; a fit at an end of the range is flagged)."""

MIN_COMPARISONS = 5
"""Fewer comparisons than this are too few to calibrate (design choice: the percentile
bootstrap over n items has at most n^n distinct resamples and is unreliable below about 5; the
output says so and the command exits 1)."""

WIDE_INTERVAL = 0.25
"""An interval wider than 25 % of the estimate is flagged as not pinning the threshold down."""

POOR_DICE = 0.5
"""A best mean Dice below 0.5 is flagged (check the registration and the segmentation)."""


def expanded_percentiles(n: int) -> tuple[float, float]:
    """The percentiles (0-100) of the expanded 95 % percentile interval for ``n`` items."""
    if n < 2:
        return (0.0, 100.0)
    low = stats.norm.cdf(math.sqrt(n / (n - 1)) * stats.t.ppf(0.025, n - 1)) * 100.0
    return (float(low), float(100.0 - low))


def _interval(draws: np.ndarray, n: int) -> tuple[float, float]:
    low, high = expanded_percentiles(n)
    return (float(np.percentile(draws, low)), float(np.percentile(draws, high)))


def thresholds_grid() -> np.ndarray:
    lo, hi = RANGE_V_PER_CM
    return np.arange(lo, hi + STEP_V_PER_CM / 2, STEP_V_PER_CM)


def _fitted_labels(stored: StoredComparison, names: Sequence[str] | None) -> np.ndarray:
    if names is None:
        return np.array([t.role != TissueRole.CRITICAL for t in stored.tissues])
    return np.array([t.name in names for t in stored.tissues])


def dice_curves(comparisons: Sequence[StoredComparison], thresholds: np.ndarray,
                tissues: Sequence[str] | None = None) -> np.ndarray:
    """Dice of each comparison (rows) at each threshold (columns) for the fitted tissues."""
    curves = np.empty((len(comparisons), thresholds.size))
    for i, c in enumerate(comparisons):
        tissue = ~c.conductor
        fitted = _fitted_labels(c, tissues)[c.labels] & tissue
        own = np.array([t.lethal_V_per_cm for t in c.tissues])[c.labels]
        other = ~fitted & tissue & (c.e_max_V_per_cm >= own)
        achieved = c.achieved & tissue
        e_all = np.sort(c.e_max_V_per_cm[fitted])
        e_hit = np.sort(c.e_max_V_per_cm[fitted & achieved])
        above_all = e_all.size - np.searchsorted(e_all, thresholds, side="left")
        above_hit = e_hit.size - np.searchsorted(e_hit, thresholds, side="left")
        overlap = above_hit + int((other & achieved).sum())
        total = above_all + int(other.sum()) + int(achieved.sum())
        curves[i] = np.where(total > 0, 2.0 * overlap / np.maximum(total, 1), 1.0)
    return curves


def _best(mean_dice: np.ndarray) -> np.ndarray:
    """Index of the middle of the best plateau along the last axis."""
    first = np.argmax(mean_dice, axis=-1)
    last = mean_dice.shape[-1] - 1 - np.argmax(mean_dice[..., ::-1], axis=-1)
    return (first + last) // 2


@dataclass(frozen=True)
class Calibration:
    """The fitted threshold (and scale), their intervals, and what the data could support."""

    threshold_V_per_cm: float
    interval_V_per_cm: tuple[float, float]
    mean_dice: float
    mean_dice_before: float
    """Mean Dice at the thresholds the comparisons were made with."""
    comparisons: int
    tissues: tuple[Tissue, ...]
    """The fitted tissues with the calibrated values (what the tissue file holds)."""
    bootstrap: int
    seed: int
    conductivity_scale: float | None = None
    conductivity_interval: tuple[float, float] | None = None
    warnings: tuple[str, ...] = ()

    @property
    def too_few(self) -> bool:
        return self.comparisons < MIN_COMPARISONS

    def to_json(self) -> dict:
        return {"lethal_threshold_V_per_cm": self.threshold_V_per_cm,
                "interval_95_V_per_cm": [round(v, 1) for v in self.interval_V_per_cm],
                "mean_dice": round(self.mean_dice, 4),
                "mean_dice_before": round(self.mean_dice_before, 4),
                "comparisons": self.comparisons, "tissues": [t.name for t in self.tissues],
                "bootstrap": self.bootstrap, "seed": self.seed,
                "conductivity_scale": None if self.conductivity_scale is None
                else round(self.conductivity_scale, 4),
                "conductivity_interval_95": None if self.conductivity_interval is None
                else [round(v, 4) for v in self.conductivity_interval],
                "warnings": list(self.warnings)}


def _tissue_models(comparisons: Sequence[StoredComparison], tissues: Sequence[str] | None
                   ) -> dict[str, Tissue]:
    models: dict[str, Tissue] = {}
    for c in comparisons:
        for tissue, fitted in zip(c.tissues, _fitted_labels(c, tissues), strict=True):
            if not fitted:
                continue
            seen = models.setdefault(tissue.name, tissue)
            if replace(seen, lethal_threshold_V_per_cm=None, source=None) != \
                    replace(tissue, lethal_threshold_V_per_cm=None, source=None):
                raise InputError(str(c.path), "tissues", f"the same conductivity model of "
                                 f"{tissue.name} in every comparison (calibrate each model "
                                 "apart)")
    if not models:
        raise InputError("irelab calibrate", "--tissue", "tissues present in the comparisons",
                         ", ".join(tissues or ()))
    return models


def _scale(comparisons: Sequence[StoredComparison], rng: np.random.Generator, bootstrap: int
           ) -> tuple[float, tuple[float, float]]:
    logs = [np.log([m / p for p, m in c.currents()]) for c in comparisons]
    if not any(len(x) for x in logs):
        raise InputError("irelab calibrate", "--fit-conductivity", "comparisons made with a "
                         "delivery log (measured currents)")

    def estimate(rows) -> float:
        pooled = np.concatenate([logs[i] for i in rows])
        return float(np.exp(pooled.mean())) if pooled.size else np.nan

    n = len(comparisons)
    draws = np.array([estimate(rng.integers(0, n, n)) for _ in range(bootstrap)])
    return estimate(range(n)), _interval(draws[np.isfinite(draws)], n)


def calibrate(comparisons: Sequence[StoredComparison], tissues: Sequence[str] | None = None,
              bootstrap: int = 1000, seed: int = 0, fit_conductivity: bool = False,
              sources: str = "") -> Calibration:
    """Fit the lethal threshold (and with ``fit_conductivity`` the conductivity scale)."""
    if not comparisons:
        raise InputError("irelab calibrate", "COMPARISONS", "at least one comparison")
    if bootstrap < 100:
        raise InputError("irelab calibrate", "--bootstrap", "at least 100 resamples", bootstrap)
    models = _tissue_models(comparisons, tissues)
    grid = thresholds_grid()
    curves = dice_curves(comparisons, grid, tissues)
    best = int(_best(curves.mean(axis=0)))
    rng = np.random.default_rng(seed)
    n = len(comparisons)
    resampled = curves[rng.integers(0, n, size=(bootstrap, n))].mean(axis=1)
    interval = _interval(grid[_best(resampled)], n)
    threshold = float(grid[best])
    scale = scale_interval = None
    if fit_conductivity:
        scale, scale_interval = _scale(comparisons, rng, bootstrap)
    warnings = []
    if n < MIN_COMPARISONS:
        warnings.append(f"too few comparisons to calibrate: {n} (at least {MIN_COMPARISONS}); "
                        "the interval is not reliable")
    if best in (0, grid.size - 1):
        warnings.append(f"the best threshold is at the end of the searched range "
                        f"{RANGE_V_PER_CM[0]:g}-{RANGE_V_PER_CM[1]:g} V/cm")
    if interval[1] - interval[0] > WIDE_INTERVAL * threshold:
        warnings.append(f"the 95 % interval {interval[0]:g}-{interval[1]:g} V/cm is wider than "
                        f"{WIDE_INTERVAL:.0%} of the estimate: the data do not pin it down")
    mean_dice = float(curves[:, best].mean())
    if mean_dice < POOR_DICE:
        warnings.append(f"the best mean Dice is {mean_dice:.2f}: check the registration and "
                        "the segmentations before using this calibration")
    note = (f"site calibration ({sources or f'{n} comparisons'}): lethal threshold "
            f"{threshold:g} V/cm (95 % bootstrap interval {interval[0]:g}-{interval[1]:g}, "
            f"{bootstrap} resamples, seed {seed}) maximising the mean Dice of {n} comparisons")
    if scale is not None:
        note += (f"; conductivity x {scale:.3f} (95 % interval {scale_interval[0]:.3f}-"
                 f"{scale_interval[1]:.3f}) from measured / predicted first-pulse currents")
    calibrated = tuple(
        replace(t, lethal_threshold_V_per_cm=threshold,
                sigma0_S_per_m=t.sigma0_S_per_m * (scale or 1.0),
                sigma1_S_per_m=t.sigma1_S_per_m * (scale or 1.0),
                source=f"{note}; conductivity model: {t.source_text}")
        for t in models.values())
    before = float(np.mean([c.dice for c in comparisons]))
    return Calibration(threshold, interval, mean_dice, before, n, calibrated, bootstrap, seed,
                       scale, scale_interval, tuple(warnings))
