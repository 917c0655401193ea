"""Endpoint definitions and the full analysis on small and synthetic data."""

from __future__ import annotations

import pytest

from irelab.outcomes import StudyData, analyse, synthetic_cohort
from irelab.outcomes.endpoints import DAYS_PER_MONTH, derive_endpoints

EXACT = 1e-9


def test_endpoints_follow_the_reporting_standard(small_study: StudyData) -> None:
    """See the ``small_study`` fixture for the course of each tumour."""
    ends = derive_endpoints(small_study)
    t = ends.tumours.set_index("tumour_id")
    assert t["technical_success"].to_dict() == {"T1": True, "T2": False, "T3": True, "T4": True}
    assert t["primary_efficacy"].to_dict() == {"T1": True, "T2": False, "T3": True, "T4": False}
    assert t["assisted_efficacy"].to_dict() == {"T1": True, "T2": True, "T3": True, "T4": False}
    assert t["complete_documented"].to_dict() == {"T1": True, "T2": True, "T3": True, "T4": False}
    assert t["ltp_event"].to_dict() == {"T1": True, "T2": False, "T3": False, "T4": False}
    assert t.loc["T1", "ltp_months"] == pytest.approx(180 / DAYS_PER_MONTH, abs=EXACT)
    assert t.loc["T2", "ltp_months"] == pytest.approx(300 / DAYS_PER_MONTH, abs=EXACT)
    assert t.loc["T3", "ltp_months"] == pytest.approx(120 / DAYS_PER_MONTH, abs=EXACT)
    assert t.loc["T3", "cr_event"] == 2  # death at day 250 competes
    assert t.loc["T3", "cr_months"] == pytest.approx(250 / DAYS_PER_MONTH, abs=EXACT)
    p = ends.patients.set_index("study_id")
    assert p.loc["P1", "ltp_event"] and not p.loc["P2", "ltp_event"]
    assert p.loc["P2", "ltp_months"] == pytest.approx(120 / DAYS_PER_MONTH, abs=EXACT)
    assert p.loc["P1", "os_months"] == pytest.approx(400 / DAYS_PER_MONTH, abs=EXACT)
    assert p.loc["P2", "os_event"] and not p.loc["P1", "os_event"]
    # PFS: P1 at its LTP (day 180); P2 at new intrahepatic disease (day 120), not at T4's
    # 'LTP' finding on day 30, which is not LTP (no complete ablation documented before it).
    assert p.loc["P1", "pfs_months"] == pytest.approx(180 / DAYS_PER_MONTH, abs=EXACT)
    assert p.loc["P2", "pfs_months"] == pytest.approx(120 / DAYS_PER_MONTH, abs=EXACT)


def test_analyse_small_study_counts(small_study: StudyData) -> None:
    report = analyse(small_study, resamples=200, seed=1)
    eff = report.efficacy
    assert (eff.technical_success.events, eff.technical_success.total) == (3, 4)
    assert (eff.primary_efficacy.events, eff.primary_efficacy.total) == (2, 4)
    assert (eff.assisted_efficacy.events, eff.assisted_efficacy.total) == (3, 4)
    assert (eff.local_tumour_progression.events, eff.local_tumour_progression.total) == (1, 3)
    ae = report.adverse_events
    rows = {r.label: (r.rate.events, r.rate.total) for r in ae.ctcae}
    assert rows["Any grade"] == (2, 3) and rows["Grade >= 3"] == (1, 3)
    harms = {r.label: r.rate.events for r in ae.harms}
    assert harms == {
        "Arrhythmia": 1,
        "Pneumothorax": 1,
        "Portal vein thrombosis": 0,
        "Transient ALT/bilirubin rise": 0,
        "Post-ablation syndrome": 1,
    }
    assert report.cohort.repeat_procedures == 1
    size = {g.label: g.tumours for g in report.subgroups[0].groups}
    assert size == {"<= 30 mm": 2, "30-50 mm": 1, "> 50 mm": 1}


def test_analyse_synthetic_cohort_is_plausible() -> None:
    report = analyse(synthetic_cohort(), resamples=500)
    assert report.cohort.patients == 60
    assert 0.8 < report.efficacy.technical_success.estimate <= 1.0
    km = report.ltp_free_tumour
    assert len(km.cluster_landmarks) == 3 and km.resamples == 500
    for naive, boot in zip(km.landmarks, km.cluster_landmarks, strict=True):
        assert boot.estimate == naive.estimate
        assert boot.low <= boot.estimate <= boot.high
    cif = report.ltp_incidence.landmarks[1].estimate
    assert cif <= 1 - km.landmarks[1].estimate + 1e-12  # death competes: CIF <= 1 - KM
    assert report.subgroups[0].logrank_p is not None


def test_analyse_copes_with_empty_and_unfollowed_data() -> None:
    """A fresh registry (no rows) and a treated tumour without imaging give empty estimates."""
    from outcomes_study import make_study, patient, procedure, treatment, tumour

    from irelab.outcomes.data import empty_study_data

    empty = analyse(empty_study_data(), resamples=10)
    assert empty.cohort.patients == 0 and empty.efficacy.technical_success.estimate is None
    assert all(m.estimate is None for m in empty.ltp_free_tumour.landmarks)
    one = make_study(
        {
            "patients": [patient("P1")],
            "tumours": [tumour("T1", "P1")],
            "procedures": [procedure("X1", "P1", 0)],
            "treatments": [treatment("X1", "T1")],
        }
    )
    report = analyse(one, resamples=10)
    assert report.efficacy.technical_success.events == 1
    assert report.efficacy.primary_efficacy.total == 0
    assert report.ltp_free_tumour.n == 0 and report.overall_survival.n == 1
