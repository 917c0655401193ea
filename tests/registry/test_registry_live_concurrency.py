"""A busy site against the real server (uvicorn subprocess, real HTTP, concurrent clients), on
SQLite and on PostgreSQL: nothing is refused or lost because requests overlap.

What used to happen (SQLite, routes writing on the event loop, deferred transactions): wrong web
logins during reads answered 500 and went uncounted, so the throttle let the right password in;
valid patient forms answered 500 with nothing stored; a large CSV import froze every other
request; 200 creates from 8 threads got 63 spurious 409s. Each test counts outcomes, never
times: "did not freeze" is checked as reads finishing while the import is still running.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from live_server import add_account
from registry_cases import PASSWORD, auth, csrf_of

from irelab.registry.login import MAX_LOGIN_FAILURES

#: Concurrent clients of each test (the load the registry was tried with).
CLIENTS = 8
#: Reader threads running beside the writes.
READERS = 4
#: Rows of the large import: enough that it runs for many reads' time (3,000 froze the server
#: for 10 s before); fewer than that keeps the suite's time down on 2 cores.
IMPORT_ROWS = 1000


def _web_login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf": token}
    )


class _Readers:
    """Threads that list patients until stopped; they count their answers by status."""

    def __init__(self, url: str, user: str = "dm") -> None:
        self.url, self.user = url, user
        self.stop = threading.Event()
        self.statuses: list[int] = []
        self.threads = [threading.Thread(target=self._run) for _ in range(READERS)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, headers=auth(self.user), timeout=60) as client:
            while not self.stop.is_set():
                self.statuses.append(client.get("/api/patients").status_code)

    def __enter__(self) -> _Readers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def test_wrong_logins_during_reads_are_all_counted_and_lock(live) -> None:
    name = f"victim_{live.backend}"
    add_account(live.db, name, "investigator", "A")
    with _Readers(live.url) as readers, httpx.Client(base_url=live.url, timeout=60) as web:
        statuses = [_web_login(web, name, "wrong guess").status_code for _ in range(6)]
        right = _web_login(web, name, PASSWORD).status_code
    assert statuses == [401] * MAX_LOGIN_FAILURES + [429]
    assert right == 429  # the throttle holds: the right password is refused too
    assert readers.statuses and set(readers.statuses) == {200}
    trail = httpx.get(
        f"{live.url}/api/audit", params={"table": "users", "limit": 500}, headers=auth("dm")
    ).json()
    failures = [e for e in trail if e["username"] == name and e["action"] == "login-failure"]
    assert len(failures) == MAX_LOGIN_FAILURES


def test_patient_forms_submitted_at_once_are_all_stored(live) -> None:
    def submit(i: int) -> int:
        with httpx.Client(base_url=live.url, timeout=60) as web:
            assert _web_login(web, "inv_a", PASSWORD).status_code == 303
            token = csrf_of(web.get("/patients/new").text)
            form = {
                "study_id": f"FORM-{live.backend}-{i}",
                "sex": "F",
                "age_years": "61",
                "inclusion_date": "2024-03-01",
                "vital_status": "alive",
                "last_contact_date": "2024-06-01",
                "csrf": token,
            }
            return web.post("/patients/new", data=form).status_code

    with _Readers(live.url), ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(submit, range(6)))
    assert statuses == [303] * 6
    listed = httpx.get(
        f"{live.url}/api/patients", params={"limit": 500}, headers=auth("dm")
    ).json()
    ids = {p["study_id"] for p in listed}
    assert all(f"FORM-{live.backend}-{i}" in ids for i in range(6))


def test_200_creates_from_8_threads_are_all_stored(live) -> None:
    def create(i: int) -> int:
        body = {
            "study_id": f"BULK-{live.backend}-{i}",
            "sex": "M",
            "age_years": 55,
            "inclusion_date": "2023-05-01",
            "last_contact_date": "2023-09-01",
        }
        with httpx.Client(base_url=live.url, headers=auth("inv_a"), timeout=60) as client:
            return client.post("/api/patients", json=body).status_code

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(create, range(200)))
    assert statuses.count(201) == 200, sorted(set(statuses))


def test_a_large_import_does_not_hold_up_other_requests(live) -> None:
    """A thousand rows in one file: reads keep being answered while the import runs, and every row
    is stored."""
    rows = "\n".join(
        f"IMP-{live.backend}-{i},A,F,60,2022-01-01,alive,2022-06-01" for i in range(IMPORT_ROWS)
    )
    text = "study_id,site,sex,age_years,inclusion_date,vital_status,last_contact_date\n" + rows
    done = threading.Event()
    during: list[int] = []

    def read() -> None:
        with httpx.Client(base_url=live.url, headers=auth("dm"), timeout=120) as client:
            while not done.is_set():
                status = client.get("/api/patients", params={"limit": 5}).status_code
                if not done.is_set():
                    during.append(status)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        r = httpx.post(
            f"{live.url}/api/import/patients", content=text, headers=auth("dm"), timeout=600
        )
    finally:
        done.set()
        reader.join()
    assert r.status_code == 201 and r.json()["imported"] == IMPORT_ROWS, r.text[:500]
    assert during and set(during) == {200}
