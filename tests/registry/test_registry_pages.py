"""Server-rendered pages: cookie session, CSRF, forms through the service rules, escaping."""

from __future__ import annotations

import pytest
from registry_cases import auth, login_page, set_cookie_header
from registry_cases import csrf_of as _csrf

from irelab.registry.deps import SESSION_COOKIE


def _login(client, user: str = "inv_a") -> str:
    r = login_page(client, user)
    assert r.status_code == 303
    cookie = set_cookie_header(r, SESSION_COOKIE)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    return cookie


NEW_PATIENT = {
    "study_id": "WEB-1",
    "sex": "M",
    "age_years": "70",
    "inclusion_date": "2024-04-01",
    "vital_status": "alive",
    "last_contact_date": "2024-10-01",
    "notes": "<b>bold</b>",
}


def test_pages_need_a_login(client) -> None:
    r = client.get("/patients", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_wrong_password_on_the_login_page(client) -> None:
    r = login_page(client, "inv_a", "nope")
    assert r.status_code == 401 and "wrong username or password" in r.text
    assert SESSION_COOKIE not in client.cookies


def test_form_without_csrf_token_is_refused_and_stores_nothing(client, snapshot) -> None:
    _login(client)
    before = snapshot()
    r = client.post("/patients/new", data=NEW_PATIENT)
    assert r.status_code == 403 and "CSRF" in r.text
    r = client.post("/patients/new", data={**NEW_PATIENT, "csrf": "0" * 64})
    assert r.status_code == 403
    assert snapshot() == before


def test_enter_a_patient_through_the_form(client) -> None:
    _login(client)
    token = _csrf(client.get("/patients/new").text)
    r = client.post("/patients/new", data={**NEW_PATIENT, "csrf": token})
    assert r.status_code == 200 and "Patient WEB-1" in r.text
    assert "&lt;b&gt;bold&lt;/b&gt;" in r.text and "<b>bold</b>" not in r.text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"last_contact_date": "2023-01-01"}, "last_contact_date"),
        ({"sex": "Q"}, "sex"),
        ({"study_id": "IRE-A-001"}, "already registered"),
    ],
)
def test_form_errors_are_shown_and_nothing_is_stored(
    client, course, snapshot, change, message
) -> None:
    _login(client)
    token = _csrf(client.get("/patients/new").text)
    before = snapshot()
    r = client.post("/patients/new", data={**NEW_PATIENT, **change, "csrf": token})
    assert r.status_code in (409, 422) and message in r.text
    assert snapshot() == before


def test_other_sites_patient_page_is_not_found(client, course) -> None:
    _login(client, "inv_b")
    r = client.get(f"/patients/{course['patient']}")
    assert r.status_code == 404 and "IRE-A-001" not in r.text


def test_monitor_pages_have_no_entry_forms(client, course) -> None:
    _login(client, "mon")
    page = client.get(f"/patients/{course['patient']}").text
    assert "IRE-A-001" in page and "/new" not in page
    token = _csrf(page)
    r = client.post(
        f"/patients/{course['patient']}/followups/new",
        data={"date": "2024-06-01", "modality": "CT", "finding": "extrahepatic", "csrf": token},
    )
    assert r.status_code == 403


def test_report_page_shows_the_registry_tables(client, course) -> None:
    _login(client, "dm")
    page = client.get("/report")
    assert page.status_code == 200
    assert "Ventricular tachycardia" in page.text and "IRE-A-001" in page.text


def test_report_page_embeds_the_outcome_report(client, course) -> None:
    _login(client, "dm")
    page = client.get("/report").text
    assert 'id="report-error"' not in page, page
    index = client.get("/report/files/index.html")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert client.get("/report/files/../../etc/passwd").status_code == 404
    client.cookies.clear()
    assert client.get("/report/files/index.html", follow_redirects=False).status_code == 303


def test_report_is_rewritten_only_after_a_data_change(client, course, tmp_path) -> None:
    _login(client, "dm")
    client.get("/report")
    (folder,) = (tmp_path / "reports").iterdir()  # one folder per account, named by its id
    assert folder.name.startswith("user-")
    index = folder / "index.html"
    first = index.stat().st_mtime_ns
    index.write_text("cached")  # a rewrite would replace this
    client.get("/report")
    assert index.read_text(encoding="utf-8") == "cached"
    client.patch(
        f"/api/tumours/{course['tumour']}", json={"version": 1, "size_mm": 25}, headers=auth("dm")
    )
    client.get("/report")
    assert index.read_text(encoding="utf-8") != "cached" and index.stat().st_mtime_ns >= first
