"""CSV export by role, all-or-nothing import with row-level errors, the data dictionary."""

from __future__ import annotations

import csv
import datetime as dt
import io

from registry_cases import auth

PATIENTS_CSV = """study_id,sex,age_years,inclusion_date,vital_status,last_contact_date,notes
IRE-A-010,M,58,2024-03-01,alive,2024-09-01,first
IRE-A-011,F,71,2024-03-05,alive,2024-09-03,
"""


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_import_stores_every_row_of_a_valid_file(client) -> None:
    r = client.post("/api/import/patients", content=PATIENTS_CSV, headers=auth("inv_a"))
    assert r.status_code == 201 and r.json() == {"table": "patients", "imported": 2}
    ids = [p["study_id"] for p in client.get("/api/patients", headers=auth("dm")).json()]
    assert ids == ["IRE-A-010", "IRE-A-011"]


def test_import_rejects_the_whole_file_with_row_level_errors(client, snapshot) -> None:
    """Rows 1 and 4 are valid; 2 has a bad sex, 3 repeats row 1's study ID (caught by the
    registry rules), 5 has an unparseable date. Nothing of the file may be stored."""
    text = (
        PATIENTS_CSV.splitlines()[0]
        + "\n"
        + "\n".join(
            [
                "IRE-A-020,M,58,2024-03-01,alive,2024-09-01,",
                "IRE-A-021,X,58,2024-03-01,alive,2024-09-01,",
                "IRE-A-020,F,60,2024-03-01,alive,2024-09-01,",
                "IRE-A-023,F,60,2024-03-01,alive,2024-09-01,",
                "IRE-A-024,F,60,2024-02-30,alive,2024-09-01,",
            ]
        )
        + "\n"
    )
    before = snapshot()
    r = client.post("/api/import/patients", content=text, headers=auth("inv_a"))
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [(2, "sex"), (5, "inclusion_date")]
    assert "'F' or 'M'" in errors[0]["expected"]
    assert snapshot() == before
    # with the schema errors fixed, the duplicate is found by the registry rules
    fixed = text.replace("IRE-A-021,X", "IRE-A-021,M").replace("2024-02-30", "2024-02-28")
    r = client.post("/api/import/patients", content=fixed, headers=auth("inv_a"))
    assert r.status_code == 422
    assert [(e["row"], e["column"]) for e in r.json()["errors"]] == [(3, "study_id")]
    assert snapshot() == before


def test_import_rejects_impossible_dates_of_child_rows(client, course, snapshot) -> None:
    text = "study_id,tumour_id,date,modality,finding\n" + (
        f"IRE-A-001,{course['tumour']},2024-05-01,CT,complete_ablation\n"
        f"IRE-A-001,{course['tumour']},2024-01-15,CT,complete_ablation\n"
    )
    before = snapshot()
    r = client.post("/api/import/followups", content=text, headers=auth("inv_a"))
    assert r.status_code == 422
    assert [(e["row"], e["column"]) for e in r.json()["errors"]] == [(2, "date")]
    assert snapshot() == before


def test_import_rejects_unknown_columns_and_other_sites_patients(client, course, snapshot):
    before = snapshot()
    r = client.post(
        "/api/import/patients", content="study_id,name\nX1,Jane\n", headers=auth("inv_a")
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["column"] == "name"
    text = f"study_id,origin,size_mm,segment\nIRE-A-001,colorectal,12,{3}\n"
    r = client.post("/api/import/tumours", content=text, headers=auth("inv_b"))
    assert r.status_code == 422
    assert r.json()["errors"][0] == {
        "row": 1,
        "column": "study_id",
        "expected": "expected a registered study ID",
    }
    assert snapshot() == before


def test_export_as_data_manager_is_complete_and_has_no_secrets(client, course) -> None:
    client.patch(
        f"/api/patients/{course['patient']}",
        json={"version": 1, "notes": "n1"},
        headers=auth("inv_a"),
    )
    text = client.get("/api/export/patients.csv", headers=auth("dm")).text
    (row,) = _rows(text)
    assert row["study_id"] == "IRE-A-001" and row["inclusion_date"] == "2024-01-10"
    assert row["notes"] == "n1"
    assert "date_shift_days" not in row
    assert client.get("/api/export/users.csv", headers=auth("dm")).status_code == 404


def test_export_as_monitor_is_pseudonymised_and_date_shifted(client, course) -> None:
    client.patch(
        f"/api/patients/{course['patient']}",
        json={"version": 1, "notes": "n1"},
        headers=auth("inv_a"),
    )
    real = {
        t: _rows(client.get(f"/api/export/{t}.csv", headers=auth("dm")).text)
        for t in ("patients", "procedures", "followups")
    }
    seen = {
        t: _rows(client.get(f"/api/export/{t}.csv", headers=auth("mon")).text)
        for t in ("patients", "procedures", "followups")
    }
    api = client.get(f"/api/patients/{course['patient']}", headers=auth("mon")).json()

    def days(a: str, b: str) -> int:
        return (dt.date.fromisoformat(a) - dt.date.fromisoformat(b)).days

    shift = days(seen["patients"][0]["inclusion_date"], real["patients"][0]["inclusion_date"])
    assert 30 <= abs(shift) <= 365
    assert seen["patients"][0]["inclusion_date"] == api["inclusion_date"]
    assert (
        days(seen["patients"][0]["last_contact_date"], real["patients"][0]["last_contact_date"])
        == shift
    )
    assert days(seen["procedures"][0]["date"], real["procedures"][0]["date"]) == shift
    assert days(seen["followups"][0]["date"], real["followups"][0]["date"]) == shift
    assert "notes" not in seen["patients"][0] and "created_at" not in seen["patients"][0]
    assert "date_shift_days" not in seen["patients"][0]
    trail = client.get("/api/audit", headers=auth("dm")).json()
    exports = [e for e in trail if e["action"] == "export" and e["username"] == "mon"]
    assert [e["after"]["pseudonymised"] for e in exports] == [True, True, True]


def test_export_respects_site_and_admin_gets_nothing(client, course) -> None:
    assert _rows(client.get("/api/export/patients.csv", headers=auth("inv_b")).text) == []
    assert client.get("/api/export/patients.csv", headers=auth("admin")).status_code == 403


def test_data_dictionary_lists_every_exported_column(client) -> None:
    entries = _rows(client.get("/api/dictionary.csv", headers=auth("mon")).text)
    by_key = {(e["table"], e["column"]): e for e in entries}
    assert by_key[("procedures", "approach")]["allowed"] == "percutaneous, open, laparoscopic"
    assert "Ventricular tachycardia" in by_key[("adverse_events", "term")]["allowed"]
    assert by_key[("followups", "finding")]["description"].startswith("imaging finding")
    exported = _rows(client.get("/api/export/adverse_events.csv", headers=auth("dm")).text)
    header = client.get("/api/export/adverse_events.csv", headers=auth("dm")).text.splitlines()[0]
    assert {c for (t, c) in by_key if t == "adverse_events"} == set(header.split(","))
    assert exported == []
