"""Hostile input against the real server (uvicorn subprocess, real HTTP), on SQLite and
PostgreSQL: a 4xx, never a 500, replies that never echo the input, and the server keeps
answering everyone else.

Each case is one that used to answer 500 or worse: a 10 MB JSON body of 500k keys (a 77 MB
422 echo, 40 s of silence), NaN/Infinity, lone surrogates, ids >= 2**63, a 72-character
non-ASCII password, a non-UTF-8 CSV, a CSV cell over 131,072 characters, a required field
patched to null (a 409 quoting the SQL constraint), dates such as 0001-01-01, 9999-12-31 or a
procedure in 2099 (which then broke every monitor view and report).
"""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest
from registry_cases import PATIENT, auth

#: Replies to refused input stay small whatever was sent (bytes; a page of error text).
SMALL_REPLY_BYTES = 8192


def _patient(live, study_id: str, **changes: object) -> httpx.Response:
    body = {**PATIENT, "study_id": study_id, **changes}
    return httpx.post(f"{live.url}/api/patients", json=body, headers=auth("inv_a"), timeout=60)


def _raw(live, path: str, content: bytes, user: str = "inv_a", **headers: str) -> httpx.Response:
    return httpx.post(
        f"{live.url}{path}",
        content=content,
        headers={**auth(user), "content-type": "application/json", **headers},
        timeout=120,
    )


def test_a_10_mb_body_is_refused_unread_and_the_server_keeps_answering(live) -> None:
    body = json.dumps({f"k{i}": i for i in range(500_000)}).encode()
    assert len(body) > 9_000_000
    r = _raw(live, "/api/patients", body, user="mon")
    assert r.status_code == 413 and len(r.content) < SMALL_REPLY_BYTES

    def chunks():  # no Content-Length: the limit counts the streamed bytes
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    r = httpx.post(
        f"{live.url}/api/patients",
        content=chunks(),
        headers={**auth("mon"), "content-type": "application/json"},
        timeout=120,
    )
    assert r.status_code == 413
    assert httpx.get(f"{live.url}/api/patients", headers=auth("dm")).status_code == 200


def test_many_unknown_keys_get_a_short_reply_that_does_not_echo_them(live) -> None:
    body = json.dumps({**PATIENT, **{f"secret-{i}": "x" * 10 for i in range(20_000)}}).encode()
    r = _raw(live, "/api/patients", body)
    assert r.status_code == 422 and len(r.content) < SMALL_REPLY_BYTES
    assert "xxxxxxxxxx" not in r.text and r.json()["error_count"] == 20_000


@pytest.mark.parametrize(
    "text",
    [
        '{"age_years": NaN}',
        '{"age_years": Infinity}',
        '{"notes": "\\ud800"}',
        '{"study_id": "\\udfff-1"}',
    ],
)
def test_nan_infinity_and_lone_surrogates_are_422(live, text: str) -> None:
    body = {**PATIENT, "study_id": "NAN-1"}
    raw = json.dumps(body)[:-1] + ", " + text[1:]
    r = _raw(live, "/api/patients", raw.encode())
    assert r.status_code == 422, r.text
    assert "\\ud800" not in r.text and "NaN" not in r.text


@pytest.mark.parametrize("record", [2**63, 2**63 + 1, 2**31, -1, 0])
def test_ids_out_of_the_database_range_are_422(live, record: int) -> None:
    assert httpx.get(f"{live.url}/api/patients/{record}", headers=auth("dm")).status_code == 422
    body = {"patient_id": record, "origin": "colorectal", "size_mm": 20, "segment": 4}
    r = httpx.post(f"{live.url}/api/tumours", json=body, headers=auth("inv_a"))
    assert r.status_code == 422
    r = httpx.get(f"{live.url}/api/patients", params={"after": record}, headers=auth("dm"))
    assert r.status_code == 422


def test_a_password_over_72_bytes_is_refused_at_creation_and_login(live) -> None:
    password = "é" * 72  # 72 characters, 144 bytes
    body = {"username": f"long_{live.backend}", "password": password, "role": "monitor"}
    r = httpx.post(f"{live.url}/api/users", json=body, headers=auth("admin"))
    assert r.status_code == 422 and "72 bytes" in r.text and password not in r.text
    r = httpx.post(f"{live.url}/api/auth/token", data={"username": "dm", "password": password})
    assert r.status_code == 401


def test_non_utf8_and_oversized_csv_cells_are_422_with_row_errors(live, ) -> None:
    header = b"study_id,sex,age_years,inclusion_date,vital_status,last_contact_date,site\n"
    latin1 = header + "CSV-1,F,60,2024-01-01,alive,2024-02-01,A\nCSV-2,F,60,2024-01-01,alivé,"\
        "2024-02-01,A\n".encode("latin-1")
    r = _raw(live, "/api/import/patients", latin1, user="dm", **{"content-type": "text/csv"})
    assert r.status_code == 422 and "UTF-8" in r.text and "line 3" in r.text
    huge = header.decode() + "CSV-3,F,60,2024-01-01,alive,2024-02-01,A\n" + (
        'CSV-4,F,60,2024-01-01,alive,2024-02-01,"' + "x" * 140_000 + '"\n'
    )
    r = _raw(live, "/api/import/patients", huge.encode(), user="dm")
    assert r.status_code == 422 and "xxxxxxxxxx" not in r.text
    assert r.json()["errors"][0]["row"] == 2
    listed = httpx.get(f"{live.url}/api/patients", params={"limit": 500}, headers=auth("dm"))
    assert not {"CSV-1", "CSV-2", "CSV-3"} & {p["study_id"] for p in listed.json()}


def test_patching_a_required_field_to_null_is_422_without_sql(live) -> None:
    created = _patient(live, f"NULL-{live.backend}").json()
    r = httpx.patch(
        f"{live.url}/api/patients/{created['id']}",
        json={"version": created["version"], "age_years": None},
        headers=auth("inv_a"),
    )
    assert r.status_code == 422 and "age_years" in r.text
    assert "NOT NULL" not in r.text.upper() and "constraint" not in r.text.lower()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("inclusion_date", "0001-01-01"),
        ("inclusion_date", "9999-12-31"),
        ("last_contact_date", "9999-12-01"),
        ("inclusion_date", "1899-12-31"),
        ("last_contact_date", "2099-01-01"),
    ],
)
def test_dates_outside_the_study_range_are_422(live, field: str, value: str) -> None:
    r = _patient(live, f"DATE-{live.backend}-{value}", **{field: value})
    assert r.status_code == 422 and field in r.text


def test_a_procedure_in_2099_is_422_and_monitor_views_keep_working(live) -> None:
    pid = _patient(live, f"P2099-{live.backend}").json()["id"]
    body = {
        "patient_id": pid,
        "date": "2099-06-01",
        "approach": "percutaneous",
        "n_probes": 4,
        "n_pairs": 6,
        "pulses": 540,
    }
    r = httpx.post(f"{live.url}/api/procedures", json=body, headers=auth("inv_a"))
    assert r.status_code == 422
    for path in ("/api/patients", "/api/export/patients.csv", "/api/report/summary"):
        assert httpx.get(f"{live.url}{path}", headers=auth("mon"), timeout=120).status_code == 200


def test_csv_export_neutralises_formulas_and_quotes_line_breaks(live) -> None:
    study = f"CSVX-{live.backend}"
    pid = _patient(live, study, notes="line one\rline two").json()["id"]
    for origin in ("=cmd|' /C calc'!A0", '=HYPERLINK("http://x.example","y")', "+1", "@SUM(A1)"):
        body = {"patient_id": pid, "origin": origin, "size_mm": 20, "segment": 4}
        assert httpx.post(f"{live.url}/api/tumours", json=body, headers=auth("inv_a")).is_success
    text = httpx.get(f"{live.url}/api/export/tumours.csv", headers=auth("dm")).text
    rows = [r for r in csv.DictReader(io.StringIO(text, newline="")) if r["patient_id"] == str(pid)]
    assert sorted(r["origin"] for r in rows) == [
        "'+1",
        "'=HYPERLINK(\"http://x.example\",\"y\")",
        "'=cmd|' /C calc'!A0",
        "'@SUM(A1)",
    ]
    patients = httpx.get(f"{live.url}/api/export/patients.csv", headers=auth("dm")).text
    mine = [r for r in csv.DictReader(io.StringIO(patients, newline="")) if r["study_id"] == study]
    assert [r["notes"] for r in mine] == ["line one\rline two"]  # quoted: the row stays whole


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("study_id,sex\nX1,F,extra\n", "cells"),
        ("study_id,sex,sex\nX1,F,M\n", "each column once"),
        ('study_id,sex,notes\nX1,F,"unclosed\nX2,M,ok\n', "CSV"),
        ("study_id,sex,age_years\nX1,F\n", "cells"),
        ('study_id,sex\n"X1\nX2",F\n', "one line"),
    ],
)
def test_strict_import_rejects_the_whole_file(live, text: str, expected: str) -> None:
    r = _raw(live, "/api/import/patients", text.encode(), user="dm")
    assert r.status_code == 422 and expected in r.text, r.text
