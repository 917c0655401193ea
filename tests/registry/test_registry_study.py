"""The bridge to the outcome analysis: StudyData stored through the service and loaded back."""

from __future__ import annotations

import pandas as pd
import pytest

from irelab.outcomes import synthetic_cohort
from irelab.registry.accounts import add_site, add_user
from irelab.registry.database import Registry
from irelab.registry.service import Invalid
from irelab.registry.study import load_study_data, store_study_data

N_PATIENTS = 8
SEED = 7


@pytest.fixture
def seeded(db_url):
    registry = Registry.open(db_url, upgrade=False)
    data = synthetic_cohort(n_patients=N_PATIENTS, seed=SEED)
    with registry.session("dm") as session:
        store_study_data(session, data, "dm")
    with registry.session("admin") as session:
        add_user(session, "inv_syn", "password123", "investigator", "SYN-SITE-A", rounds=4)
    yield registry, data
    registry.close()


def _values(frame: pd.DataFrame, drop: tuple[str, ...]) -> list[tuple]:
    kept = frame.drop(columns=list(drop)).astype(object).where(frame.notna(), None)
    return sorted(map(tuple, kept.itertuples(index=False)), key=repr)


def test_round_trip_keeps_every_value_but_the_record_ids(seeded) -> None:
    registry, data = seeded
    with registry.session("dm") as session:
        back = load_study_data(session, "dm")
    ids = {
        "patients": (),
        "tumours": ("tumour_id",),
        "procedures": ("procedure_id",),
        "treatments": ("procedure_id", "tumour_id"),
        "adverse_events": ("ae_id", "procedure_id"),
        "followups": ("followup_id", "tumour_id"),
    }
    for name, drop in ids.items():
        original, loaded = getattr(data, name), getattr(back, name)
        assert len(loaded) == len(original), name
        assert _values(loaded, drop) == _values(original, drop), name


def test_monitor_gets_shifted_dates_with_intervals_kept(seeded) -> None:
    registry, _ = seeded
    with registry.session("dm") as session:
        real = load_study_data(session, "dm")
    with registry.session("mon") as session:
        seen = load_study_data(session, "mon")
    shift = (seen.patients["inclusion_date"] - real.patients["inclusion_date"]).dt.days
    assert (shift.abs() >= 30).all()
    merged = real.procedures.merge(seen.procedures, on="procedure_id", suffixes=("", "_m"))
    per_patient = dict(zip(real.patients["study_id"], shift, strict=True))
    assert (
        (merged["date_m"] - merged["date"]).dt.days == merged["study_id"].map(per_patient)
    ).all()


def test_investigator_loads_only_their_site(seeded) -> None:
    registry, data = seeded
    with registry.session("inv_syn") as session:
        own = load_study_data(session, "inv_syn")
    expected = set(data.patients.loc[data.patients["site"] == "SYN-SITE-A", "study_id"])
    assert set(own.patients["study_id"]) == expected
    assert set(own.procedures["study_id"]) <= expected


def test_store_refuses_impossible_dates_and_stores_nothing(db_url, snapshot) -> None:
    data = synthetic_cohort(n_patients=3, seed=SEED)
    bad = data.followups.copy()
    bad.loc[bad.index[0], "date"] = pd.Timestamp("2014-01-01")  # before the first procedure
    data = type(data)(**{**data.__dict__, "followups": bad})
    registry = Registry.open(db_url, upgrade=False)
    before = snapshot()
    with pytest.raises(Invalid, match="date"):
        with registry.session("dm") as session:
            add_site(session, "X", "X")
            store_study_data(session, data, "dm")
    registry.close()
    assert snapshot() == before
