"""The study report: :func:`write_report` -> a self-contained ``index.html`` plus PNG figures.

The page is rendered from ``report.html.j2`` (next to this module, shipped as package data) by
Jinja2 with autoescaping on, so every value that comes from the data (site names, terms,
identifiers) is HTML-escaped. This module
only turns an :class:`~irelab.outcomes.OutcomeReport` into display rows (the margin sections'
in :mod:`irelab.outcomes.margin_report`); all numbers come from
:func:`irelab.outcomes.analyse` and :mod:`irelab.outcomes.evidence`; published figures not
verified against their own series are marked with a dagger and footnoted.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from irelab.errors import InputError
from irelab.outcomes.analysis import OutcomeReport, analyse
from irelab.outcomes.data import StudyData
from irelab.outcomes.endpoints import LTP_EVENT
from irelab.outcomes.evidence import (
    IPG445_AS_QUOTED,
    EvidenceComparison,
    SurvivalComparison,
    evidence_comparisons,
    registry_figures,
    survival_comparisons,
)
from irelab.outcomes.margin_report import margin_context
from irelab.outcomes.pooling import PooledEstimate
from irelab.outcomes.proportions import Proportion
from irelab.outcomes.report_format import NOT_ESTIMABLE, Figure, Figures, landmark_text
from irelab.outcomes.survival import Landmark, SurvivalEstimate, TimeToEvent

SYNTHETIC_BANNER = "SYNTHETIC DEMO DATA"
#: Study-id prefix of the synthetic cohort; data whose every study id has it are labelled
#: synthetic even when the caller did not say so.
SYNTHETIC_PREFIX = "SYN-"
def _pct(p: Proportion) -> str:
    if p.estimate is None or p.low is None or p.high is None:
        return f"{p.events}/{p.total}"
    return f"{p.events}/{p.total}: {100 * p.estimate:.1f} % ({100 * p.low:.1f}-{100 * p.high:.1f})"


def _num(value: float | None, digits: int = 1) -> str:
    return NOT_ESTIMABLE if value is None else f"{value:.{digits}f}"


def _survival_rows(report: OutcomeReport) -> list[list[str]]:
    def row(label: str, s: SurvivalEstimate, marks: tuple[Landmark, ...]) -> list[str]:
        return [
            label,
            s.unit,
            str(s.n),
            str(s.events),
            *(landmark_text(m) for m in marks),
            _num(s.median_months),
        ]

    t = report.ltp_free_tumour
    rows = [
        row("LTP-free survival, naive (Greenwood) CI", t, t.landmarks),
        row(
            f"LTP-free survival, patient-level bootstrap CI ({t.resamples} resamples)",
            t,
            t.cluster_landmarks or t.landmarks,
        ),
        row("LTP-free survival", report.ltp_free_patient, report.ltp_free_patient.landmarks),
        row(
            "Cumulative incidence of LTP, death competing (Aalen-Johansen)",
            report.ltp_incidence,
            report.ltp_incidence.landmarks,
        ),
        row("Overall survival", report.overall_survival, report.overall_survival.landmarks),
        row(
            "Progression-free survival", report.progression_free, report.progression_free.landmarks
        ),
    ]
    return rows


#: Marker of a published figure not verified against its series (footnote in the report).
AS_QUOTED_MARK = "\u2020"


def _provenance(verified: bool) -> str:
    return "series abstract" if verified else f"as quoted {AS_QUOTED_MARK}"


def _pooled(p: PooledEstimate) -> str:
    return (
        f"{100 * p.estimate:.1f} % ({100 * p.low:.1f}-{100 * p.high:.1f}); "
        f"{p.series} series, {p.events}/{p.total} {'/'.join(p.units)}; "
        f"tau2 {p.tau2:.2f}, I2 {100 * p.i2:.0f} %"
        + ("; continuity-corrected" if p.continuity_corrected else "")
        + (f"; includes {p.unverified} as-quoted row(s) {AS_QUOTED_MARK}" if p.unverified else "")
    )


def _evidence_rows(comparisons: tuple[EvidenceComparison, ...]) -> list[dict[str, object]]:
    out = []
    for c in comparisons:
        series = [
            [r.series, r.unit, _pct(r.rate), _provenance(r.verified), r.note, r.source]
            for r in c.rows
        ]
        pooled = "" if c.pooled is None else _pooled(c.pooled)
        if c.pooled_verified is not None:
            pooled += f". Verified series only: {_pooled(c.pooled_verified)}"
        registry = "" if c.registry is None else f"{_pct(c.registry)} ({c.registry_label})"
        out.append(
            {"outcome": c.outcome.value, "series": series, "pooled": pooled, "registry": registry}
        )
    return out


def _evidence_survival_rows(comparisons: tuple[SurvivalComparison, ...]) -> list[list[str]]:
    rows = []
    for c in comparisons:
        for e in c.published:
            n = "n not stated" if e.n is None else f"n = {e.n} {e.unit}"
            rows.append(
                [
                    f"{c.time_months:g}",
                    f"{e.outcome}: {e.series} ({n})",
                    f"{100 * e.estimate:.0f} %",
                    _provenance(e.verified),
                ]
            )
        for label, mark in c.registry:
            registry = f"This registry: {label}"
            rows.append([f"{c.time_months:g}", registry, landmark_text(mark), "Kaplan-Meier"])
    return rows


def _figures(report: OutcomeReport, out_dir: Path, synthetic: bool) -> list[Figure]:
    from irelab.outcomes.figures import cif_figure, km_figure

    note = SYNTHETIC_BANNER if synthetic else ""
    tum = report.endpoints.tumours
    pts = report.endpoints.patients
    at_risk = tum[tum["complete_documented"]]
    pts_risk = pts[pts["ltp_at_risk"]]
    figures = Figures()
    add = figures.add

    add(
        km_figure(
            out_dir / "ltp_free_tumour.png",
            [
                (
                    "Per tumour",
                    TimeToEvent(
                        at_risk["ltp_months"].to_numpy(float), at_risk["ltp_event"].to_numpy(bool)
                    ),
                )
            ],
            "Local tumour progression-free survival (per tumour)",
            "LTP-free probability",
            note,
        ),
        "LTP-free survival per tumour (Kaplan-Meier, naive 95 % band; the table gives the "
        "patient-level bootstrap interval).",
    )
    add(
        km_figure(
            out_dir / "ltp_free_patient.png",
            [
                (
                    "Per patient",
                    TimeToEvent(
                        pts_risk["ltp_months"].to_numpy(float), pts_risk["ltp_event"].to_numpy(bool)
                    ),
                )
            ],
            "Local tumour progression-free survival (per patient)",
            "LTP-free probability",
            note,
        ),
        "LTP-free survival per patient (first LTP of any tumour).",
    )
    add(
        cif_figure(
            out_dir / "ltp_incidence.png",
            TimeToEvent(at_risk["cr_months"].to_numpy(float), at_risk["cr_event"].to_numpy(int)),
            LTP_EVENT,
            "Cumulative incidence of LTP with death as a competing risk",
            note,
        ),
        "Cumulative incidence of LTP (Aalen-Johansen), death as competing event.",
    )
    add(
        km_figure(
            out_dir / "survival.png",
            [
                (
                    "Overall survival",
                    TimeToEvent(pts["os_months"].to_numpy(float), pts["os_event"].to_numpy(bool)),
                ),
                (
                    "Progression-free survival",
                    TimeToEvent(pts["pfs_months"].to_numpy(float), pts["pfs_event"].to_numpy(bool)),
                ),
            ],
            "Overall and progression-free survival",
            "Probability",
            note,
        ),
        "Overall and progression-free survival per patient from the first IRE procedure.",
    )
    for i, comparison in enumerate(report.subgroups):
        add(
            km_figure(
                out_dir / f"subgroup_{i + 1}.png",
                [(g.label, g.data) for g in comparison.groups],
                f"LTP-free survival by {comparison.name.lower()}",
                "LTP-free probability",
                note,
            ),
            f"LTP-free survival per tumour by {comparison.name.lower()}.",
        )
    return figures


def write_report(
    data: StudyData,
    out_dir: str | Path,
    *,
    title: str = "IRE registry outcome report",
    synthetic: bool = False,
    report: OutcomeReport | None = None,
) -> Path:
    """Analyse ``data`` and write ``out_dir/index.html`` with its PNG figures; returns the path.

    ``synthetic=True`` heads the page and every figure with "SYNTHETIC DEMO DATA" (also done
    when every study id starts with ``SYN-``, the synthetic cohort's prefix). Pass a
    ready ``report`` (from :func:`~irelab.outcomes.analyse` of the same data) to skip the
    analysis. The data are validated before anything is written.
    """
    import jinja2
    import lifelines
    import statsmodels

    out = Path(out_dir)
    data.validate()
    ids = data.patients["study_id"].astype(str)
    synthetic = synthetic or bool(len(ids) and ids.str.startswith(SYNTHETIC_PREFIX).all())
    report = report if report is not None else analyse(data)
    if out.exists() and not out.is_dir():
        raise InputError(str(out), "", "a directory for the report")
    out.mkdir(parents=True, exist_ok=True)
    figures = _figures(report, out, synthetic)
    margins = margin_context(
        report.margins, out, SYNTHETIC_BANNER if synthetic else "", synthetic=synthetic
    )
    figures += margins.pop("margin_figures")  # type: ignore[arg-type]
    c = report.cohort
    e = report.efficacy
    ae = report.adverse_events
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    context = {
        "title": (f"{SYNTHETIC_BANNER}: {title}" if synthetic else title),
        "synthetic": synthetic,
        "banner": SYNTHETIC_BANNER,
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": f"lifelines {lifelines.__version__}, statsmodels {statsmodels.__version__}",
        "cohort": [
            ["Patients", str(c.patients)],
            ["Sites", ", ".join(sorted({str(s) for s in data.patients["site"]})) or "none"],
            ["Women", str(c.women)],
            ["Median age, years", _num(c.median_age_years, 0)],
            ["Tumours (treated)", f"{c.tumours} ({c.treated_tumours})"],
            ["Median tumour size, mm", _num(c.median_size_mm)],
            ["Procedures (with repeat ablation)", f"{c.procedures} ({c.repeat_procedures})"],
            ["Percutaneous approach", _pct(c.percutaneous)],
            ["General anaesthesia", _pct(c.general_anaesthesia)],
            ["Neuromuscular block", _pct(c.neuromuscular_block)],
            ["ECG-synchronised delivery", _pct(c.cardiac_sync)],
            ["Deaths", str(c.deaths)],
            ["Median follow-up (reverse Kaplan-Meier), months", _num(c.median_follow_up_months)],
        ],
        "efficacy": [
            ["Technical success (first session)", "treated tumours", _pct(e.technical_success)],
            [
                "Primary technique efficacy",
                "tumours with follow-up imaging",
                _pct(e.primary_efficacy),
            ],
            [
                "Assisted technique efficacy",
                "tumours with follow-up imaging",
                _pct(e.assisted_efficacy),
            ],
            [
                "Local tumour progression (crude)",
                "tumours with documented complete ablation",
                _pct(e.local_tumour_progression),
            ],
        ],
        "survival": _survival_rows(report),
        "ctcae": [[r.label, _pct(r.rate)] for r in ae.ctcae],
        "cirse": [[r.label, _pct(r.rate)] for r in ae.cirse],
        "harms": [[r.label, _pct(r.rate)] for r in ae.harms],
        "serious": _pct(ae.serious),
        "ae_counts": f"{ae.events} adverse events in {ae.procedures} procedures",
        "subgroups": [
            {
                "name": s.name,
                "rows": [
                    [
                        g.label,
                        str(g.tumours),
                        _pct(g.primary_efficacy),
                        _pct(g.assisted_efficacy),
                        *(landmark_text(m) for m in g.ltp_free.landmarks),
                    ]
                    for g in s.groups
                ],
                "logrank": (
                    "not computable"
                    if s.logrank_p is None
                    else f"chi2 {s.logrank_statistic:.2f}, p = {s.logrank_p:.3g}"
                ),
            }
            for s in report.subgroups
        ],
        "evidence": _evidence_rows(evidence_comparisons(registry_figures(data, report))),
        "evidence_survival": _evidence_survival_rows(survival_comparisons(report)),
        "as_quoted_mark": AS_QUOTED_MARK,
        "as_quoted_source": IPG445_AS_QUOTED,
        "figures": figures,
        **margins,
    }
    html = env.get_template("report.html.j2").render(**context)
    index = out / "index.html"
    index.write_text(html, encoding="utf-8")
    return index
