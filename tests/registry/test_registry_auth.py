"""Authentication: passwords, forged and expired tokens, role rules for admin and monitor."""

from __future__ import annotations

import datetime as dt

import jwt
from registry_cases import PASSWORD, PATIENT, SECRET, auth

from irelab.registry.security import issue_token


def test_login_with_right_password_gives_a_working_token(client) -> None:
    r = client.post("/api/auth/token", data={"username": "inv_a", "password": PASSWORD})
    assert r.status_code == 200
    token = r.json()["access_token"]
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json() == {"username": "inv_a", "role": "investigator", "site_id": 1}


def test_wrong_password_is_401_and_only_a_login_failure_is_recorded(client, snapshot) -> None:
    before = snapshot()
    r = client.post("/api/auth/token", data={"username": "inv_a", "password": "wrong"})
    assert r.status_code == 401
    assert r.json()["detail"] == "wrong username or password"
    after = snapshot()
    assert {t: rows for t, rows in after.items() if t != "audit_log"} == {
        t: rows for t, rows in before.items() if t != "audit_log"
    }
    new = after["audit_log"][len(before["audit_log"]) :]
    assert [(row[2], row[3]) for row in new] == [("inv_a", "login-failure")]


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client) -> None:
    r = client.post("/api/auth/token", data={"username": "nobody", "password": "x"})
    assert r.status_code == 401
    assert r.json()["detail"] == "wrong username or password"


def test_expired_token_is_401(client, snapshot) -> None:
    before = snapshot()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    token = issue_token("dm", SECRET, now=old)
    r = client.post(
        "/api/patients", json={**PATIENT, "site": "A"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]
    assert snapshot() == before


def test_forged_tokens_are_401(client, snapshot) -> None:
    """Wrong key, 'none' algorithm, tampered payload, garbage, missing header."""
    before = snapshot()
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": "dm", "iat": now, "exp": now + dt.timedelta(hours=1)}
    good = issue_token("inv_a", SECRET)
    header, _, signature = good.split(".")
    tampered_payload = jwt.encode(claims, SECRET, algorithm="HS256").split(".")[1]
    forged = [
        jwt.encode(claims, "another-secret-of-sufficient-length-123", algorithm="HS256"),
        jwt.encode(claims, None, algorithm="none"),
        f"{header}.{tampered_payload}.{signature}",
        "not-a-token",
    ]
    for token in forged:
        r = client.post(
            "/api/patients",
            json={**PATIENT, "site": "A"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 401, token
    assert client.get("/api/patients").status_code == 401
    assert snapshot() == before


def test_token_of_a_user_that_does_not_exist_is_401(client) -> None:
    assert client.get("/api/patients", headers=auth("ghost")).status_code == 401


def test_admin_manages_users_but_cannot_read_patients(client) -> None:
    r = client.post(
        "/api/users",
        json={
            "username": "inv_a2",
            "password": "long enough pw",
            "role": "investigator",
            "site": "A",
        },
        headers=auth("admin"),
    )
    assert r.status_code == 201
    assert "password" not in str(r.json())
    assert client.get("/api/patients", headers=auth("admin")).status_code == 403
    assert client.post("/api/users", json=r.json(), headers=auth("dm")).status_code in (403, 422)


def test_only_admin_creates_users(client, snapshot) -> None:
    before = snapshot()
    r = client.post(
        "/api/users",
        json={"username": "x1", "password": "long enough pw", "role": "admin"},
        headers=auth("dm"),
    )
    assert r.status_code == 403
    assert snapshot() == before


def test_retired_user_token_stops_working(client) -> None:
    users = {u["username"]: u for u in client.get("/api/users", headers=auth("admin")).json()}
    target = users["inv_b"]
    assert client.get("/api/patients", headers=auth("inv_b")).status_code == 200
    r = client.post(
        f"/api/users/{target['id']}/retire",
        json={"version": target["version"], "reason": "left the study"},
        headers=auth("admin"),
    )
    assert r.status_code == 200 and r.json()["retired_by"] == "admin"
    assert client.get("/api/patients", headers=auth("inv_b")).status_code == 401
    r = client.post("/api/auth/token", data={"username": "inv_b", "password": PASSWORD})
    assert r.status_code == 401


def test_site_name_injection_is_stored_verbatim(client) -> None:
    name = "Site'); DROP TABLE sites; -- <script>x</script>"
    r = client.post("/api/sites", json={"code": "C", "name": name}, headers=auth("admin"))
    assert r.status_code == 201
    names = [s["name"] for s in client.get("/api/sites", headers=auth("dm")).json()]
    assert names == ["Site A", "Site B", name]
