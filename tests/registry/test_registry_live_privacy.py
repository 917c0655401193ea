"""Privacy, sessions, roles and first use against the real server (uvicorn subprocess, real
HTTP), on SQLite and PostgreSQL; on PostgreSQL also with two server processes on one database.

What used to happen: a logout left the token valid for 8 h; monitors read usernames, free-text
tumour origins and entry times of day (from which a patient's date shift follows); an admin
could create a clinical account and read patient data with it; usernames '.' and '..' were
accepted and named the report folder; lists and the audit trail came whole; no cache or
content-security headers; /docs open to anyone; an admin's first page was a refusal.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import httpx
import pytest
from live_server import SECOND_ADMIN, add_account
from registry_cases import PASSWORD, PATIENT, auth, csrf_of

from irelab.registry.login import MAX_LOGIN_FAILURES
from irelab.registry.service import DEFAULT_PAGE_SIZE


def _token(url: str, user: str, password: str = PASSWORD) -> str:
    r = httpx.post(f"{url}/api/auth/token", data={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _web(url: str, user: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60)
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": user, "password": PASSWORD, "csrf": token})
    assert r.status_code == 303, r.text
    return client


@pytest.fixture
def browser_as(live):  # a factory of logged-in clients, closed after the test
    clients: list[httpx.Client] = []

    def login(user: str) -> httpx.Client:
        clients.append(_web(live.url, user))
        return clients[-1]

    yield login
    for client in clients:
        client.close()


def test_logout_revokes_the_token_on_the_server(live, browser_as) -> None:
    token = _token(live.url, "dm")
    assert httpx.get(f"{live.url}/api/auth/me", headers=_bearer(token)).status_code == 200
    assert httpx.post(f"{live.url}/api/auth/logout", headers=_bearer(token)).status_code == 204
    assert httpx.get(f"{live.url}/api/auth/me", headers=_bearer(token)).status_code == 401
    web = browser_as("inv_a")
    cookie = web.cookies.get("irelab_session")
    page_token = csrf_of(web.get("/patients/new").text)
    assert web.post("/logout", data={"csrf": page_token}).status_code == 303
    replay = httpx.get(f"{live.url}/patients", cookies={"irelab_session": cookie})
    assert replay.status_code == 303 and replay.headers["location"] == "/login"


def test_monitors_get_whole_shifted_dates_and_no_free_text_or_usernames(live) -> None:
    study = f"PRIV-{live.backend}"
    pid = httpx.post(
        f"{live.url}/api/patients",
        json={**PATIENT, "study_id": study, "notes": "Mrs Jones, room 4"},
        headers=auth("inv_a"),
    ).json()["id"]
    for origin in ("colorectal", "Dr Smith's referral, colon"):
        body = {"patient_id": pid, "origin": origin, "size_mm": 20, "segment": 4}
        assert httpx.post(f"{live.url}/api/tumours", json=body, headers=auth("inv_a")).is_success
    real = httpx.get(f"{live.url}/api/patients/{pid}", headers=auth("dm")).json()
    seen = httpx.get(f"{live.url}/api/patients/{pid}", headers=auth("mon")).json()
    assert set(seen) == {
        "id", "version", "retired", "study_id", "site_id", "sex", "age_years",
        "inclusion_date", "vital_status", "last_contact_date", "death_date",
    }  # fmt: skip
    shift = dt.date.fromisoformat(seen["inclusion_date"]) - dt.date.fromisoformat(
        real["inclusion_date"]
    )
    assert 30 <= abs(shift.days) <= 365
    tumours = httpx.get(
        f"{live.url}/api/tumours", params={"patient_id": pid}, headers=auth("mon")
    ).json()
    assert sorted(t["origin"] for t in tumours) == ["colorectal", "other"]
    text = httpx.get(f"{live.url}/api/export/patients.csv", headers=auth("mon")).text
    header = next(csv.reader(io.StringIO(text)))
    assert "created_at" not in header and "created_by" not in header and "notes" not in header
    assert "Mrs Jones" not in text and "inv_a" not in text


def test_an_admin_cannot_grant_themselves_clinical_access(live) -> None:
    name = f"alias_{live.backend}"
    body = {"username": name, "password": "a fresh password", "role": "data_manager"}
    created = httpx.post(f"{live.url}/api/users", json=body, headers=auth("admin"))
    assert created.status_code == 201 and created.json()["approved_at"] is None
    login = httpx.post(
        f"{live.url}/api/auth/token", data={"username": name, "password": "a fresh password"}
    )
    assert login.status_code == 403 and "approval" in login.text
    user = created.json()
    approve = f"{live.url}/api/users/{user['id']}/approve"
    own = httpx.post(approve, json={"version": user["version"]}, headers=auth("admin"))
    assert own.status_code == 403
    assert httpx.get(f"{live.url}/api/patients", headers=auth("admin")).status_code == 403
    second = httpx.post(approve, json={"version": user["version"]}, headers=auth(SECOND_ADMIN))
    assert second.status_code == 200 and second.json()["approved_by"] == SECOND_ADMIN
    trail = httpx.get(
        f"{live.url}/api/audit",
        params={"table": "users", "record_id": user["id"]},
        headers=auth("dm"),
    ).json()
    assert [e["action"] for e in trail] == ["create", "update"]
    assert trail[0]["username"] == "admin" and trail[1]["username"] == SECOND_ADMIN


@pytest.mark.parametrize("name", [".", "..", "../dm", "a/b", "-x", ".hidden", "x" * 65])
def test_unsafe_usernames_are_refused(live, name: str) -> None:
    body = {"username": name, "password": "a fresh password", "role": "monitor"}
    assert httpx.post(f"{live.url}/api/users", json=body, headers=auth("admin")).status_code == 422


def test_every_list_is_paged_with_a_next_link(live) -> None:
    for i in range(DEFAULT_PAGE_SIZE + 5):
        body = {**PATIENT, "study_id": f"PAGE-{live.backend}-{i}"}
        assert httpx.post(f"{live.url}/api/patients", json=body, headers=auth("inv_b")).is_success
    seen: list[int] = []
    url: str | None = "/api/patients"
    with httpx.Client(base_url=live.url, headers=auth("inv_b")) as client:
        while url:
            r = client.get(url)
            assert r.status_code == 200 and len(r.json()) <= DEFAULT_PAGE_SIZE
            seen += [p["id"] for p in r.json()]
            url = r.links.get("next", {}).get("url")
        assert len(seen) == len(set(seen)) >= DEFAULT_PAGE_SIZE + 5 and seen == sorted(seen)
        for path in ("/api/audit", "/api/users", "/api/sites", "/api/tumours"):
            user = {"/api/audit": "dm", "/api/users": "admin"}.get(path, "dm")
            r = client.get(path, headers=auth(user))
            assert r.status_code == 200 and len(r.json()) <= DEFAULT_PAGE_SIZE
        assert len(client.get("/api/audit", headers=auth("dm")).json()) == DEFAULT_PAGE_SIZE
        assert client.get("/api/patients", params={"limit": 10_000}).status_code == 422


def test_security_headers_on_pages_exports_api_and_errors(live, browser_as) -> None:
    web = browser_as("inv_a")
    answers = [
        web.get("/patients"),
        web.get("/patients/new"),
        web.get("/patients/999999"),  # 404 page
        httpx.get(f"{live.url}/api/patients", headers=auth("dm")),
        httpx.get(f"{live.url}/api/export/patients.csv", headers=auth("dm")),
        httpx.get(f"{live.url}/api/patients"),  # 401
        httpx.get(f"{live.url}/api/patients/abc", headers=auth("dm")),  # 422
        httpx.post(f"{live.url}/api/patients", content=b"x" * 2_000_000),  # 413
    ]
    for r in answers:
        assert r.headers["cache-control"] == "no-store", r.request.url
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
    assert [r.status_code for r in answers[2:]] == [404, 200, 200, 401, 422, 413]


def test_api_docs_need_a_login_in_production(live, browser_as) -> None:
    r = httpx.get(f"{live.url}/docs")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert httpx.get(f"{live.url}/openapi.json").status_code == 401
    web = browser_as("dm")
    assert web.get("/docs").status_code == 200
    assert "/api/patients" in web.get("/openapi.json").json()["paths"]


def test_first_use_admin_pages_logout_and_plain_errors(live, browser_as) -> None:
    admin = browser_as("admin")
    home = admin.get("/", follow_redirects=True)
    assert home.status_code == 200 and "User accounts" in home.text and 'id="logout"' in home.text
    sites = admin.get("/admin/sites")
    token = csrf_of(sites.text)
    code = f"S{live.backend[:2].upper()}"
    r = admin.post("/admin/sites", data={"code": code, "name": "Third site", "csrf": token})
    assert r.status_code == 303 and code in admin.get("/admin/sites").text
    bad = admin.post(
        "/admin/users",
        data={"username": "..", "password": "short", "role": "monitor", "csrf": token},
    )
    assert bad.status_code == 422 and "Nothing was saved" in bad.text
    web = browser_as("inv_a")
    token = csrf_of(web.get("/patients/new").text)
    form = {
        "study_id": "has space",
        "sex": "F",
        "age_years": "140",
        "inclusion_date": "2099-01-01",
        "vital_status": "alive",
        "last_contact_date": "2024-06-01",
        "csrf": token,
    }
    r = web.post("/patients/new", data=form)
    assert r.status_code == 422
    for sentence in ("Age (years): must be at most 110.", "Study ID: may hold", "Inclusion date:"):
        assert sentence in r.text, sentence
    assert "Input should be" not in r.text


PLAN = """name: two-pairs
domain: {size_mm: [60, 60, 60], spacing_mm: 2}
probes:
  - {name: P1, tip_mm: [-7.5, 0, -10], direction: [0, 0, 1], exposed_mm: 20}
  - {name: P2, tip_mm: [7.5, 0, -10], direction: [0, 0, 1], exposed_mm: 20}
  - {name: P3, tip_mm: [0, 12, -10], direction: [0, 0, 1], exposed_mm: 20}
protocol:
  pulses: 90
  pulse_width_us: 90
  pairs:
    - {anode: P1, cathode: P2, voltage_V: 1500, predicted_current_A: 23.5}
    - {anode: P2, cathode: P3, voltage_V: 1800}
"""


def test_a_procedure_from_an_uploaded_plan(live, browser_as) -> None:
    pid = httpx.post(
        f"{live.url}/api/patients",
        json={**PATIENT, "study_id": f"UPL-{live.backend}"},
        headers=auth("inv_a"),
    ).json()["id"]
    web = browser_as("inv_a")
    page = web.get(f"/patients/{pid}/procedures/upload")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    fields = {"date": "2024-02-01", "approach": "percutaneous", "csrf": csrf_of(page.text)}
    r = web.post(
        f"/patients/{pid}/procedures/upload",
        data=fields,
        files={"plan": ("plan.yaml", PLAN.encode(), "application/yaml")},
    )
    assert r.status_code == 303, r.text[:2000]
    procs = httpx.get(
        f"{live.url}/api/procedures", params={"patient_id": pid}, headers=auth("inv_a")
    ).json()
    assert [(p["n_probes"], p["n_pairs"], p["pulses"]) for p in procs] == [(3, 2, 180)]
    bad = web.post(
        f"/patients/{pid}/procedures/upload",
        data=fields,
        files={"plan": ("plan.yaml", b"probes: [", "application/yaml")},
    )
    assert bad.status_code == 422 and "plan.yaml" in bad.text and "/tmp" not in bad.text


def test_two_servers_on_one_postgres_share_throttle_and_logouts(live) -> None:
    if live.other is None:
        pytest.skip("two server processes share one database on PostgreSQL")
    name = "shared_lock"
    add_account(live.db, name, "monitor")
    for _ in range(MAX_LOGIN_FAILURES):
        r = httpx.post(f"{live.url}/api/auth/token", data={"username": name, "password": "no"})
        assert r.status_code == 401
    r = httpx.post(f"{live.other}/api/auth/token", data={"username": name, "password": PASSWORD})
    assert r.status_code == 429
    token = _token(live.other, "dm")
    assert httpx.get(f"{live.url}/api/auth/me", headers=_bearer(token)).status_code == 200
    assert httpx.post(f"{live.other}/api/auth/logout", headers=_bearer(token)).status_code == 204
    assert httpx.get(f"{live.url}/api/auth/me", headers=_bearer(token)).status_code == 401


def test_serve_with_two_workers_on_postgres(postgres_base, tmp_path) -> None:
    """`irelab registry serve --workers 2`: one migration, one secret for both workers, and a
    logout holds whichever worker answers next."""
    import os
    import subprocess
    import sys

    from live_server import PROBE_TIMEOUT_S, START_TRIES, free_port, postgres_database, seed

    with postgres_database(postgres_base) as url:
        seed(url)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("IRELAB_REGISTRY_")}
        command = [sys.executable, "-m", "irelab.cli.main", "registry", "serve", "--workers",
                   "2", "--port", str(port), "--database-url", url,
                   "--report-dir", str(tmp_path)]  # fmt: skip
        server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(START_TRIES):
                try:
                    token = _token(base, "dm")
                    break
                except httpx.TransportError:
                    try:
                        server.wait(timeout=PROBE_TIMEOUT_S)
                    except subprocess.TimeoutExpired:
                        pass
            answers = [httpx.get(f"{base}/api/auth/me", headers=_bearer(token)) for _ in range(8)]
            assert {r.status_code for r in answers} == {200}
            assert httpx.post(f"{base}/api/auth/logout", headers=_bearer(token)).status_code == 204
            answers = [httpx.get(f"{base}/api/auth/me", headers=_bearer(token)) for _ in range(8)]
            assert {r.status_code for r in answers} == {401}
        finally:
            server.terminate()
            server.wait(timeout=60)
