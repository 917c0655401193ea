"""Site and role rules: investigators see only their site, monitors read pseudonymised only."""

from __future__ import annotations

import datetime as dt

from registry_cases import PATIENT, auth


def test_investigator_cannot_see_another_sites_patient(client, course, snapshot) -> None:
    """inv_b gets 404 for site A's records, exactly as for an id that does not exist."""
    before = snapshot()
    pid = course["patient"]
    missing = client.get("/api/patients/99999", headers=auth("inv_b"))
    other = client.get(f"/api/patients/{pid}", headers=auth("inv_b"))
    assert other.status_code == missing.status_code == 404
    assert other.json()["detail"] == f"no patient {pid}"
    assert client.get("/api/patients", headers=auth("inv_b")).json() == []
    for name, key in (
        ("tumours", "tumour"),
        ("procedures", "procedure"),
        ("adverse_events", "ae"),
        ("followups", "followup"),
    ):
        assert client.get(f"/api/{name}/{course[key]}", headers=auth("inv_b")).status_code == 404
        assert client.get(f"/api/{name}", headers=auth("inv_b")).json() == []
    assert snapshot() == before


def test_investigator_cannot_write_another_sites_records(client, course, snapshot) -> None:
    before = snapshot()
    h = auth("inv_b")
    pid = course["patient"]
    assert (
        client.patch(
            f"/api/patients/{pid}", json={"version": 1, "age_years": 70}, headers=h
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/api/patients/{pid}/retire", json={"version": 1, "reason": "x"}, headers=h
        ).status_code
        == 404
    )
    r = client.post(
        "/api/procedures",
        json={
            "patient_id": pid,
            "date": "2024-05-01",
            "approach": "open",
            "n_probes": 2,
            "n_pairs": 1,
            "pulses": 90,
        },
        headers=h,
    )
    assert r.status_code == 404
    r = client.post("/api/patients", json={**PATIENT, "study_id": "B-9", "site": "A"}, headers=h)
    assert r.status_code == 403
    assert snapshot() == before


def test_data_manager_sees_all_sites(client, course) -> None:
    r = client.get("/api/patients", headers=auth("dm"))
    assert [p["study_id"] for p in r.json()] == ["IRE-A-001"]


def test_monitor_cannot_write(client, course, snapshot) -> None:
    before = snapshot()
    h = auth("mon")
    pid = course["patient"]
    assert (
        client.post(
            "/api/patients", json={**PATIENT, "study_id": "M-1", "site": "A"}, headers=h
        ).status_code
        == 403
    )
    assert (
        client.patch(
            f"/api/patients/{pid}", json={"version": 1, "age_years": 70}, headers=h
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/patients/{pid}/retire", json={"version": 1, "reason": "x"}, headers=h
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/api/followups",
            json={
                "patient_id": pid,
                "date": "2024-06-01",
                "modality": "CT",
                "finding": "extrahepatic",
            },
            headers=h,
        ).status_code
        == 403
    )
    assert client.post("/api/import/patients", content="study_id\n", headers=h).status_code == 403
    assert snapshot() == before


def test_monitor_reads_pseudonymised_and_date_shifted(client, course) -> None:
    client.patch(
        f"/api/patients/{course['patient']}",
        json={"version": 1, "notes": "seen by Dr Smith"},
        headers=auth("inv_a"),
    )
    real = client.get(f"/api/patients/{course['patient']}", headers=auth("dm")).json()
    seen = client.get(f"/api/patients/{course['patient']}", headers=auth("mon")).json()
    assert real["notes"] == "seen by Dr Smith" and "notes" not in seen
    # no usernames or record-keeping times: entry times of day would give the shift away
    assert not {"created_at", "created_by", "updated_at", "updated_by", "retired_at"} & set(seen)
    shift = dt.date.fromisoformat(seen["inclusion_date"]) - dt.date.fromisoformat(
        real["inclusion_date"]
    )
    assert 30 <= abs(shift.days) <= 365
    proc_real = client.get(f"/api/procedures/{course['procedure']}", headers=auth("dm")).json()
    proc_seen = client.get(f"/api/procedures/{course['procedure']}", headers=auth("mon")).json()
    assert (
        dt.date.fromisoformat(proc_seen["date"]) - dt.date.fromisoformat(proc_real["date"]) == shift
    )
    assert "date_shift_days" not in seen
    assert client.get("/api/audit", headers=auth("mon")).status_code == 403
