"""Bad input: impossible dates, unknown CTCAE terms, duplicate study IDs, injection strings.
After every refused request the stored data is compared with a snapshot taken before it."""

from __future__ import annotations

import sqlite3

import pytest
from registry_cases import ADVERSE_EVENT, INJECTIONS, PATIENT, auth, login_page


def _refused(client, snapshot, method, url, body, user, status, field=None) -> dict:
    before = snapshot()
    r = client.request(method, url, json=body, headers=auth(user))
    assert r.status_code == status, r.text
    assert snapshot() == before
    detail = r.json()
    if field is not None:
        assert detail.get("field") == field or field in str(detail["detail"]), detail
    return detail


def test_followup_before_the_procedure_is_422_naming_date(client, course, snapshot) -> None:
    body = {
        "patient_id": course["patient"],
        "tumour_id": course["tumour"],
        "date": "2024-01-20",
        "modality": "MRI",
        "finding": "complete_ablation",
    }
    detail = _refused(client, snapshot, "POST", "/api/followups", body, "inv_a", 422, "date")
    assert "before the procedure on 2024-02-01" in detail["detail"]


def test_procedure_before_inclusion_is_422(client, course, snapshot) -> None:
    body = {
        "patient_id": course["patient"],
        "date": "2023-12-31",
        "approach": "open",
        "n_probes": 2,
        "n_pairs": 1,
        "pulses": 90,
    }
    detail = _refused(client, snapshot, "POST", "/api/procedures", body, "inv_a", 422, "date")
    assert "before inclusion" in detail["detail"]


def test_moving_a_procedure_after_its_followup_is_422(client, course, snapshot) -> None:
    body = {"version": 1, "date": "2024-04-01"}
    _refused(
        client,
        snapshot,
        "PATCH",
        f"/api/procedures/{course['procedure']}",
        body,
        "inv_a",
        422,
        "date",
    )


def test_death_before_procedure_is_422_naming_death_date(client, course, snapshot) -> None:
    body = {"version": 1, "vital_status": "dead", "death_date": "2024-01-20"}
    _refused(
        client,
        snapshot,
        "PATCH",
        f"/api/patients/{course['patient']}",
        body,
        "inv_a",
        422,
        "death_date",
    )


def test_dead_without_death_date_is_422(client, course, snapshot) -> None:
    _refused(
        client,
        snapshot,
        "PATCH",
        f"/api/patients/{course['patient']}",
        {"version": 1, "vital_status": "dead"},
        "inv_a",
        422,
        "death_date",
    )


@pytest.mark.parametrize("term", ["Heart attack", "ventricular tachycardia", "'; DROP TABLE x"])
def test_unknown_ctcae_term_is_422(client, course, snapshot, term) -> None:
    body = {**ADVERSE_EVENT, "procedure_id": course["procedure"], "term": term}
    detail = _refused(client, snapshot, "POST", "/api/adverse_events", body, "inv_a", 422)
    assert detail["detail"][0]["loc"] == ["body", "term"]
    assert "CTCAE v5.0 term" in detail["detail"][0]["msg"]


def test_out_of_range_grades_are_422(client, course, snapshot) -> None:
    body = {
        "procedure_id": course["procedure"],
        "term": "Pain",
        "ctcae_grade": 6,
        "cirse_grade": 7,
        "onset_day": 0,
        "serious": False,
        "relation": "related",
        "outcome": "resolved",
    }
    detail = _refused(client, snapshot, "POST", "/api/adverse_events", body, "inv_a", 422)
    assert {e["loc"][-1] for e in detail["detail"]} == {"ctcae_grade", "cirse_grade"}


def test_duplicate_study_id_is_409(client, course, snapshot) -> None:
    for user, body in (("inv_a", PATIENT), ("dm", {**PATIENT, "site": "B"})):
        detail = _refused(client, snapshot, "POST", "/api/patients", body, user, 409, "study_id")
        assert "already registered" in detail["detail"]


def test_study_id_must_be_a_code_not_free_text(client, snapshot) -> None:
    _refused(
        client, snapshot, "POST", "/api/patients", {**PATIENT, "study_id": "Jane Doe"}, "inv_a", 422
    )


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_in_every_free_text_field_are_stored_verbatim(
    client, course, db_path, snapshot, text
) -> None:
    """Every free-text field takes the string as data; no other row changes; pages escape it."""
    h = auth("inv_a")
    targets = [
        ("patients", "patient"),
        ("tumours", "tumour"),
        ("procedures", "procedure"),
        ("adverse_events", "ae"),
        ("followups", "followup"),
    ]
    before = snapshot()
    for name, key in targets:
        r = client.patch(
            f"/api/{name}/{course[key]}", json={"version": 1, "notes": text}, headers=h
        )
        assert r.status_code == 200, r.text
        assert r.json()["notes"] == text
    r = client.post(
        "/api/tumours",
        json={"patient_id": course["patient"], "origin": text, "size_mm": 10, "segment": 2},
        headers=h,
    )
    assert r.status_code == 201 and r.json()["origin"] == text
    extra_tumour = r.json()["id"]
    r = client.post(
        f"/api/tumours/{extra_tumour}/retire", json={"version": 1, "reason": text}, headers=h
    )
    assert r.json()["retire_reason"] == text
    after = snapshot()
    # only the targeted rows changed and the new tumour was added; every table still exists
    assert set(after) == set(before)
    assert len(after["patients"]) == len(before["patients"]) == 1
    with sqlite3.connect(db_path) as connection:
        for name, key in targets:
            stored = connection.execute(
                f"SELECT notes FROM {name} WHERE id = ?", (course[key],)
            ).fetchone()
            assert stored == (text,)
        assert connection.execute("SELECT count(*) FROM tumours").fetchone() == (2,)
    # rendered escaped by the web page (Jinja autoescape)
    assert login_page(client, "inv_a").status_code == 303
    page = client.get(f"/patients/{course['patient']}").text
    assert text not in page
    assert (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
        in page
    )
