"""Figures of the outcome report (matplotlib, Agg backend, imported lazily).

Each function writes one PNG and returns its path, or None when there is nothing to plot.
Kaplan-Meier curves are drawn by lifelines (``plot_survival_function`` with the 95 % band) with
numbers at risk under the axis (``lifelines.plotting.add_at_risk_counts``); the cumulative
incidence by ``AalenJohansenFitter.plot_cumulative_density`` (fitted without ``timeline=``, as in
:mod:`irelab.outcomes.survival`); the Bland-Altman plot of predicted against achieved margins by
statsmodels' ``mean_diff_plot`` with the limits of :func:`irelab.outcomes.margins.bland_altman`
(statsmodels draws its own limits with the SD of ddof 0; the report's use the sample SD).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irelab.outcomes.margins import BlandAltman
from irelab.outcomes.proportions import CONFIDENCE
from irelab.outcomes.survival import TimeToEvent, untie_competing

#: Landmark ticks of the time axes, months.
_XTICKS = (0, 6, 12, 18, 24, 36, 48, 60)
_DPI = 110


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _xticks(months: np.ndarray) -> list[int]:
    top = float(np.max(months)) if months.size else 24.0
    return [t for t in _XTICKS if t <= top + 1e-9] or [0]


def _time_axes(ax, months: np.ndarray, ylim: float, xlabel: str, ylabel: str, title: str):
    """The months axis (landmark ticks up to the longest follow-up), labels and grid."""
    ticks = _xticks(months)
    ax.set_xticks(ticks)
    ax.set_xlim(0, max(ticks[-1], 1))
    ax.set_ylim(0, ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return ticks


def _finish(fig, path: Path, footnote: str) -> Path:
    plt = _pyplot()
    if footnote:
        fig.text(0.01, 0.005, footnote, fontsize=7, ha="left", va="bottom")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def km_figure(
    path: Path,
    curves: list[tuple[str, TimeToEvent]],
    title: str,
    ylabel: str,
    footnote: str = "",
) -> Path | None:
    """Kaplan-Meier curves with 95 % bands and numbers at risk; None if every curve is empty."""
    from lifelines import KaplanMeierFitter
    from lifelines.plotting import add_at_risk_counts

    curves = [(label, d) for label, d in curves if np.asarray(d.months).size > 0]
    if not curves:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    fitters = []
    for label, data in curves:
        kmf = KaplanMeierFitter(alpha=1 - CONFIDENCE, label=label)
        kmf.fit(np.asarray(data.months, float), np.asarray(data.events, bool))
        kmf.plot_survival_function(ax=ax, ci_show=True, show_censors=True)
        fitters.append(kmf)
    months = np.concatenate([np.asarray(d.months, float) for _, d in curves])
    ticks = _time_axes(ax, months, 1.02, "Months", ylabel, title)
    add_at_risk_counts(*fitters, ax=ax, xticks=ticks, rows_to_show=["At risk"])
    return _finish(fig, path, footnote)


def cif_figure(
    path: Path, data: TimeToEvent, of_interest: int, title: str, footnote: str = ""
) -> Path | None:
    """Aalen-Johansen cumulative incidence with its 95 % band; None if there are no data."""
    from lifelines import AalenJohansenFitter

    events = np.asarray(data.events, int)
    if events.size == 0:
        return None
    months = untie_competing(data.months, events, of_interest)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    ajf = AalenJohansenFitter(alpha=1 - CONFIDENCE, label="LTP (death competing)")
    with np.errstate(divide="ignore", invalid="ignore"):
        ajf.fit(months, events, event_of_interest=of_interest)
    ajf.plot_cumulative_density(ax=ax, ci_show=True)
    xlabel = "Months from first ablation of the tumour"
    _time_axes(ax, months, 1.0, xlabel, "Cumulative incidence", title)
    return _finish(fig, path, footnote)


def bland_altman_figure(
    path: Path,
    achieved: np.ndarray,
    predicted: np.ndarray,
    agreement: BlandAltman | None,
    title: str,
    footnote: str = "",
) -> Path | None:
    """Achieved - predicted against their mean, with bias and 95 % limits; None without
    limits (fewer than 3 pairs)."""
    from statsmodels.graphics.agreement import mean_diff_plot

    if agreement is None:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    mean_diff_plot(np.asarray(achieved, float), np.asarray(predicted, float), sd_limit=0, ax=ax)
    for value, text in ((agreement.lower, "lower limit"), (agreement.upper, "upper limit")):
        ax.axhline(value, color="gray", linewidth=1, linestyle=":")
        ax.annotate(f"{text}: {value:.1f} mm", xy=(0.01, value), xycoords=("axes fraction",
                    "data"), fontsize=9, va="bottom")
    span = max(abs(agreement.lower), abs(agreement.upper)) * 1.3
    ax.set_ylim(-span, span)
    ax.set_xlabel("Mean of achieved and predicted minimal margin (mm)", fontsize=10)
    ax.set_ylabel("Achieved - predicted (mm)", fontsize=10)
    ax.tick_params(labelsize=9)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _finish(fig, path, footnote)


def histogram_figure(
    path: Path, values: np.ndarray, title: str, xlabel: str, footnote: str = ""
) -> Path | None:
    """Histogram of ``values`` (NaN left out); None when there are none."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    ax.hist(values, bins="auto", color="#4c72b0", edgecolor="white")
    ax.axvline(float(np.median(values)), color="black", linestyle="--", linewidth=1,
               label=f"median {np.median(values):.2f}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Records")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _finish(fig, path, footnote)
