"""The report's margin sections as display rows and figures: local tumour progression by minimal
ablative margin (Kaplan-Meier per group, log-rank, Cox model with its proportional-hazards
check) and predicted against achieved ablation zones (distributions, Bland-Altman, the
cross-table of margin groups). All numbers come from :mod:`irelab.outcomes.margins`; this module
only formats them for ``report.html.j2``, writes the figures, and gives the headline figures
as JSON values (:func:`margin_summary`, for ``irelab registry report --json``).
"""

from __future__ import annotations

from pathlib import Path

from irelab.outcomes.margins import (
    COX_TERMS,
    EVENTS_PER_COVARIATE,
    MARGIN_GROUPS,
    MIN_EVENTS,
    PH_ALPHA,
    CoxModel,
    Distribution,
    MarginAnalysis,
)
from irelab.outcomes.report_format import NOT_ESTIMABLE, Figures, landmark_text


def _distribution(name: str, unit: str, d: Distribution | None) -> list[str]:
    if d is None:
        return [name, "0", NOT_ESTIMABLE, NOT_ESTIMABLE, NOT_ESTIMABLE]
    return [
        name + (f", {unit}" if unit else ""),
        str(d.n),
        f"{d.median:.2f} ({d.q1:.2f}-{d.q3:.2f})",
        f"{d.low:.2f}-{d.high:.2f}",
        f"{d.mean:.2f}",
    ]


def _median(d: Distribution | None) -> float | None:
    return None if d is None else d.median


def margin_summary(m: MarginAnalysis) -> dict[str, object]:
    """The headline figures of the margin sections as JSON values (None where not estimable):
    tumours at risk and without margin, per group the tumours and LTP events, the log-rank p,
    the Cox model's hazard ratios (keys of :data:`~irelab.outcomes.margins.COX_TERMS`) with
    their 95 % intervals, p and proportional-hazards verdict, the zone count, the medians of
    Dice, HD95 and volume ratio, and the Bland-Altman bias and limits of the margins (mm)."""
    cox = m.cox
    ba = m.margin_agreement
    return {
        "at_risk": m.at_risk,
        "without_margin": m.without_margin,
        "groups": [
            {"label": g.label, "tumours": g.ltp_free.n, "ltp_events": g.ltp_free.events}
            for g in m.groups
        ],
        "logrank_p": m.logrank_p,
        "cox": None
        if cox is None
        else {
            "tumours": cox.tumours,
            "patients": cox.patients,
            "events": cox.events,
            "concordance": cox.concordance,
            "hazard_ratios": {
                column: {"estimate": t.hazard_ratio, "low": t.low, "high": t.high, "p": t.p,
                         "proportional": t.proportional}
                for column, t in zip(COX_TERMS, cox.terms, strict=True)
            },
            "notes": list(cox.notes),
        },
        "cox_note": m.cox_note,
        "zones": m.zones,
        "dice_median": _median(m.dice),
        "hd95_median_mm": _median(m.hd95_mm),
        "volume_ratio_median": _median(m.volume_ratio),
        "margin_bias_mm": None if ba is None else ba.bias,
        "margin_limits_mm": None if ba is None else [ba.lower, ba.upper],
    }


def _cox_rows(cox: CoxModel | None) -> list[list[str]]:
    if cox is None:
        return []
    return [
        [
            t.name,
            f"{t.hazard_ratio:.3f} ({t.low:.3f}-{t.high:.3f})",
            f"{t.p:.3g}",
            NOT_ESTIMABLE if t.ph_statistic is None else f"chi2 {t.ph_statistic:.2f}",
            NOT_ESTIMABLE if t.ph_p is None else f"{t.ph_p:.3g}",
            {None: NOT_ESTIMABLE, True: "not rejected", False: "rejected"}[t.proportional],
        ]
        for t in cox.terms
    ]


def synthetic_effect() -> str:
    """What the synthetic cohort generator's default parameters put into the data, for a report
    of synthetic data to show beside the Cox model's estimates."""
    from irelab.outcomes.synthetic import CohortParameters

    p = CohortParameters()
    return (
        f"The synthetic cohort generator (default parameters) draws each tumour's LTP with a "
        f"hazard ratio of {p.ltp_hr_per_mm_margin:.3f} per mm of achieved minimal margin and "
        f"{p.ltp_hr_per_10mm:.2f} per 10 mm of tumour size, given the patient's frailty (gamma, "
        f"variance {p.frailty_variance:g}); a Cox model without the frailty estimates ratios "
        "somewhat nearer 1"
    )


def margin_context(
    m: MarginAnalysis, out_dir: Path, note: str, *, synthetic: bool = False
) -> dict[str, object]:
    """The template variables of the margin sections; writes their figures into ``out_dir``.
    ``synthetic``: the data came from the synthetic cohort generator (:func:`synthetic_effect`
    is shown)."""
    from irelab.outcomes.figures import bland_altman_figure, histogram_figure, km_figure

    figures = Figures()
    add = figures.add

    add(
        km_figure(
            out_dir / "ltp_by_margin.png",
            [(g.label, g.data) for g in m.groups],
            "LTP-free survival by minimal ablative margin",
            "LTP-free probability",
            note,
        ),
        "LTP-free survival per tumour by achieved minimal ablative margin (Kaplan-Meier, 95 % "
        "bands).",
    )
    add(
        bland_altman_figure(
            out_dir / "margin_agreement.png",
            m.achieved_margin_mm,
            m.predicted_margin_mm,
            m.margin_agreement,
            "Minimal ablative margin: achieved against predicted",
            note,
        ),
        "Bland-Altman plot of the achieved against the predicted minimal margin (bias dashed, "
        "95 % limits of agreement dotted).",
    )
    add(
        histogram_figure(
            out_dir / "dice.png",
            m.dice_values,
            "Dice of predicted and achieved ablation zones",
            "Dice",
            note,
        ),
        "Dice of every stored ablation zone against its prediction.",
    )
    cox = m.cox
    ba = m.margin_agreement
    return {
        "margin_counts": (
            f"{m.at_risk} tumours at risk of LTP; {m.at_risk - m.without_margin} with the margin "
            f"of the ablation that achieved complete ablation"
            + (f" ({m.without_margin} without, left out)" if m.without_margin else "")
        ),
        "margin_groups": [
            [g.label, str(g.ltp_free.n), str(g.ltp_free.events),
             *(landmark_text(x) for x in g.ltp_free.landmarks)]
            for g in m.groups
        ],
        "margin_logrank": (
            "not computable"
            if m.logrank_p is None
            else f"chi2 {m.logrank_statistic:.2f}, p = {m.logrank_p:.3g}"
        ),
        "cox_rows": _cox_rows(cox),
        "cox_summary": (
            m.cox_note
            if cox is None
            else f"{cox.tumours} tumours of {cox.patients} patients, {cox.events} LTP events; "
            f"concordance {cox.concordance:.3f}"
        ),
        "cox_notes": [] if cox is None else list(cox.notes),
        "synthetic_effect": synthetic_effect() if synthetic else "",
        "cox_rules": (
            f"proportional hazards rejected where the check's p < {PH_ALPHA:g}; fewer than "
            f"{EVENTS_PER_COVARIATE} events per covariate flagged; no model below {MIN_EVENTS} "
            "events"
        ),
        "zone_count": m.zones,
        "zone_rows": [
            _distribution("Dice", "", m.dice),
            _distribution("HD95", "mm", m.hd95_mm),
            _distribution("Volume ratio (achieved / predicted)", "", m.volume_ratio),
        ],
        "bland_altman": (
            []
            if ba is None
            else [
                ["Pairs (achieved and predicted margin)", str(ba.n)],
                ["Bias (achieved - predicted), mm",
                 f"{ba.bias:.2f} ({ba.bias_ci[0]:.2f} to {ba.bias_ci[1]:.2f})"],
                ["SD of the differences, mm", f"{ba.sd:.2f}"],
                ["Lower 95 % limit of agreement, mm",
                 f"{ba.lower:.2f} ({ba.lower_ci[0]:.2f} to {ba.lower_ci[1]:.2f})"],
                ["Upper 95 % limit of agreement, mm",
                 f"{ba.upper:.2f} ({ba.upper_ci[0]:.2f} to {ba.upper_ci[1]:.2f})"],
            ]
        ),
        "group_header": list(MARGIN_GROUPS),
        "group_table": [
            [f"predicted {label}", *(str(c) for c in row)]
            for label, row in zip(MARGIN_GROUPS, m.group_table, strict=True)
        ],
        "margin_figures": figures,
    }
