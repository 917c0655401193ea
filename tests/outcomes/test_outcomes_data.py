"""StudyData validation and the synthetic demo cohort."""

from __future__ import annotations

import pandas as pd
import pytest

from irelab.errors import InputError
from irelab.outcomes import StudyData, synthetic_cohort
from irelab.outcomes.data import SCHEMA, empty_study_data

#: Every frame of StudyData, as the schema declares them.
FRAMES = tuple(SCHEMA)


def _replace(data: StudyData, name: str, frame: pd.DataFrame) -> StudyData:
    return StudyData(**{n: (frame if n == name else getattr(data, n)) for n in FRAMES})


def test_small_study_validates(small_study: StudyData) -> None:
    assert small_study.validate() is small_study
    empty_study_data().validate()


def test_bad_value_names_frame_row_and_column(small_study: StudyData) -> None:
    patients = small_study.patients.copy()
    patients.loc[1, "sex"] = "X"
    with pytest.raises(InputError) as err:
        _replace(small_study, "patients", patients).validate()
    assert err.value.source == "StudyData.patients"
    assert err.value.key == "row 1, column sex"
    assert "'F', 'M'" in str(err.value)


def test_out_of_range_grade_and_segment_rejected(small_study: StudyData) -> None:
    ae = small_study.adverse_events.copy()
    ae.loc[2, "cirse_grade"] = 7
    with pytest.raises(InputError, match="row 2, column cirse_grade"):
        _replace(small_study, "adverse_events", ae).validate()
    tumours = small_study.tumours.copy()
    tumours.loc[0, "segment"] = 9
    with pytest.raises(InputError, match="row 0, column segment"):
        _replace(small_study, "tumours", tumours).validate()


def test_missing_column_duplicate_id_and_dangling_reference(small_study: StudyData) -> None:
    with pytest.raises(InputError, match="column finding"):
        _replace(small_study, "followups", small_study.followups.drop(columns="finding")).validate()
    tumours = small_study.tumours.copy()
    tumours.loc[1, "tumour_id"] = "T1"
    with pytest.raises(InputError, match="unique identifier"):
        _replace(small_study, "tumours", tumours).validate()
    fu = small_study.followups.copy()
    fu.loc[0, "tumour_id"] = "T99"
    with pytest.raises(InputError, match="row 0, column tumour_id: expected an existing tumours"):
        _replace(small_study, "followups", fu).validate()


def test_tumour_of_another_patient_rejected(small_study: StudyData) -> None:
    treat = small_study.treatments.copy()
    treat.loc[0, "tumour_id"] = "T3"
    with pytest.raises(InputError, match="procedure's patient"):
        _replace(small_study, "treatments", treat).validate()


def test_synthetic_cohort_is_valid_labelled_and_deterministic() -> None:
    a = synthetic_cohort(n_patients=25, seed=7)
    b = synthetic_cohort(n_patients=25, seed=7)
    c = synthetic_cohort(n_patients=25, seed=8)
    a.validate()
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not a.tumours.equals(c.tumours)
    assert len(a.patients) == 25
    assert a.patients["study_id"].str.startswith("SYN-").all()
    assert a.patients["site"].str.startswith("SYN-").all()
    # the registry's date-order rules: procedures and imaging within inclusion .. death
    deaths = a.patients.set_index("study_id")["death_date"]
    proc_dates = a.procedures.groupby("study_id")["date"].min()
    assert (proc_dates >= a.patients.set_index("study_id")["inclusion_date"]).all()
    fu_last = a.followups.groupby("study_id")["date"].max()
    dead = deaths.reindex(fu_last.index).notna()
    assert (fu_last[dead] <= deaths.reindex(fu_last.index)[dead]).all()
    assert (fu_last.index.map(proc_dates) <= fu_last).all()


def test_an_ablation_zone_needs_its_treatment_once(small_study: StudyData) -> None:
    """A zone is a treatment's (the tumour was treated in that procedure), at most one each:
    a zone moved to a procedure that did not treat its tumour, or stored twice, names its row."""
    from outcomes_study import zone

    from irelab.outcomes.data import SCHEMA

    pairs = small_study.treatments[["procedure_id", "tumour_id"]].itertuples(index=False)
    columns = list(SCHEMA["ablation_zones"])
    zones = pd.DataFrame([zone(p, t, 3.0) for p, t in pairs], columns=columns)
    _replace(small_study, "ablation_zones", zones).validate()  # one per treatment: valid
    twice = pd.concat([zones, zones.iloc[[0]]], ignore_index=True)
    with pytest.raises(InputError, match=f"row {len(zones)}, column tumour_id"):
        _replace(small_study, "ablation_zones", twice).validate()
    treated = set(zip(small_study.treatments["procedure_id"], small_study.treatments["tumour_id"],
                      strict=True))
    tumour = zones.loc[1, "tumour_id"]
    other = next(p for p in small_study.procedures["procedure_id"] if (p, tumour) not in treated)
    moved = zones.copy()
    moved.loc[1, "procedure_id"] = other
    with pytest.raises(InputError, match="row 1, column tumour_id"):
        _replace(small_study, "ablation_zones", moved).validate()
