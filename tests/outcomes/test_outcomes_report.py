"""The HTML study report: key tables, figures, escaping and the synthetic label."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from irelab.errors import InputError
from irelab.outcomes import StudyData, analyse, synthetic_cohort, write_report


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    data = synthetic_cohort(n_patients=30, seed=3)
    # no synthetic=True: data whose study ids all start with SYN- are labelled anyway
    index = write_report(data, tmp_path_factory.mktemp("demo"), report=analyse(data, resamples=200))
    return index, index.read_text(encoding="utf-8")


def test_report_has_key_tables_and_figures(demo_report: tuple[Path, str]) -> None:
    index, html = demo_report
    assert index.name == "index.html"
    for anchor in ("cohort", "efficacy", "survival", "adverse-events", "subgroups", "margins",
                   "margin-groups", "cox", "agreement", "bland-altman", "evidence"):
        assert f'id="{anchor}"' in html
    for text in (
        "Primary technique efficacy",
        "Assisted technique efficacy",
        "patient-level bootstrap CI",
        "naive (Greenwood) CI",
        "Aalen-Johansen",
        "Overall survival",
        "Progression-free survival",
        "Grade &gt;= 3",
        "Portal vein thrombosis",
        "Log-rank",
        "Thomson 2011",
        "DerSimonian-Laird",
    ):
        assert text in html
    for text in ("Minimal ablative margin, per mm", "Tumour size, per 10 mm", "not rejected",
                 "&lt;= 0 mm", "&gt;= 5 mm", "Bias (achieved - predicted), mm", "Wang X et al."):
        assert text in html, text
    pngs = sorted(p.name for p in index.parent.glob("*.png"))
    assert {"ltp_free_tumour.png", "ltp_incidence.png", "survival.png", "ltp_by_margin.png",
            "margin_agreement.png", "dice.png"} <= set(pngs)
    for name in pngs:
        assert f'src="{name}"' in html
        assert (index.parent / name).stat().st_size > 5000


def test_report_evidence_tables_mark_as_quoted_figures(demo_report: tuple[Path, str]) -> None:
    html = demo_report[1]
    section = html[html.index('id="evidence"') : html.index('id="figures"')]
    for anchor in ("evidence-series", "evidence-pooled", "evidence-survival", "as-quoted-footnote"):
        assert f'id="{anchor}"' in section
    for count in ("7/28", "7/50", "3/54"):
        row = next(r for r in section.split("<tr>") if f"<td>{count}:" in r)
        assert "as quoted \u2020" in row and "IPG445 overview (series not identified)" in row
    assert "not identified/verified here" in section
    assert section.count("series abstract") >= 6  # the verified rows
    # pooled arrhythmia of 3 series incl. the quoted one, plus the verified-only sensitivity
    assert "3 series, 14/102 patients/procedures" in section
    assert "includes 1 as-quoted row(s)" in section and "Verified series only: " in section
    # quoted recurrence-free survival beside the registry's Kaplan-Meier figures at 6 and 12 mo
    for months, value in (("6", "95 %"), ("12", "60 %")):
        assert f"<td>{months}</td><td>Recurrence-free survival: " in section
        assert f"<td>{value}</td>" in section
        assert f"<td>{months}</td><td>This registry: LTP-free survival per tumour" in section
        assert f"<td>{months}</td><td>This registry: Progression-free survival" in section


def test_synthetic_report_is_labelled(demo_report: tuple[Path, str]) -> None:
    html = demo_report[1]
    assert "<title>SYNTHETIC DEMO DATA:" in html
    assert 'id="synthetic-banner">SYNTHETIC DEMO DATA<' in html
    # the margin effect the generator put in (0.54 ** (1/5) per mm), beside the Cox estimates
    assert 'id="synthetic-margin-effect"' in html and "0.884 per mm" in html


def test_report_escapes_data(small_study: StudyData, tmp_path: Path) -> None:
    patients = small_study.patients.copy()
    patients.loc[0, "site"] = "<script>alert('x')</script>"
    data = StudyData(**{**small_study.__dict__, "patients": patients})
    html = write_report(
        data, tmp_path, title="<b>t</b>", report=analyse(data, resamples=20)
    ).read_text(encoding="utf-8")
    assert "<script>" not in html and "<b>t</b>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "SYNTHETIC DEMO DATA" not in html


def test_bad_data_writes_nothing(small_study: StudyData, tmp_path: Path) -> None:
    bad = small_study.patients.copy()
    bad.loc[0, "age_years"] = pd.NA
    data = StudyData(**{**small_study.__dict__, "patients": bad})
    out = tmp_path / "report"
    with pytest.raises(InputError, match="row 0, column age_years"):
        write_report(data, out)
    assert not out.exists()
