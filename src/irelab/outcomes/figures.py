"""Figures of the outcome report (matplotlib, Agg backend, imported lazily).

Each function writes one PNG and returns its path, or None when there is nothing to plot.
Kaplan-Meier curves are drawn by lifelines (``plot_survival_function`` with the 95 % band) with
numbers at risk under the axis (``lifelines.plotting.add_at_risk_counts``); the cumulative
incidence by ``AalenJohansenFitter.plot_cumulative_density`` (fitted without ``timeline=``, as in
:mod:`irelab.outcomes.survival`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
    ticks = _xticks(months)
    ax.set_xticks(ticks)
    ax.set_xlim(0, max(ticks[-1], 1))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Months")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    add_at_risk_counts(*fitters, ax=ax, xticks=ticks, rows_to_show=["At risk"])
    if footnote:
        fig.text(0.01, 0.005, footnote, fontsize=7, ha="left", va="bottom")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


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
    ticks = _xticks(months)
    ax.set_xticks(ticks)
    ax.set_xlim(0, max(ticks[-1], 1))
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("Months from first ablation of the tumour")
    ax.set_ylabel("Cumulative incidence")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if footnote:
        fig.text(0.01, 0.005, footnote, fontsize=7, ha="left", va="bottom")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path
