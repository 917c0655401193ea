"""Password guessing: the per-username login throttle (irelab.registry.login).

The app runs on a fake clock (conftest ``clock``) that only moves when a test moves it, so the
window is crossed without sleeping. The limit and window are read from the module, so the tests
follow if they are changed.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import warnings

from registry_cases import PASSWORD, SECRET, csrf_of, login_page

from irelab.registry.app import create_app
from irelab.registry.deps import SESSION_COOKIE
from irelab.registry.login import LOGIN_FAILURE_WINDOW, MAX_LOGIN_FAILURES

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

WRONG = "Tr0ub4dor&3 guess"
SECOND = dt.timedelta(seconds=1)
WINDOW_S = int(LOGIN_FAILURE_WINDOW.total_seconds())


def _api_login(client, username: str, password: str):
    return client.post("/api/auth/token", data={"username": username, "password": password})


def _fail(client, username: str = "inv_a", times: int = MAX_LOGIN_FAILURES) -> None:
    for _ in range(times):
        assert _api_login(client, username, WRONG).status_code == 401


def _audit(db_path, username: str) -> list[tuple[str, dict | None]]:
    with sqlite3.connect(db_path) as connection:
        rows = connection.execute(
            "SELECT action, after FROM audit_log WHERE username = ? ORDER BY id", (username,)
        ).fetchall()
    return [(action, json.loads(after) if after else None) for action, after in rows]


def test_sixth_attempt_is_refused_even_with_the_right_password_until_the_window_passes(
    client, clock
) -> None:
    _fail(client)
    r = _api_login(client, "inv_a", PASSWORD)
    assert r.status_code == 429
    assert "too many failed logins" in r.json()["detail"]
    assert r.headers["retry-after"] == str(WINDOW_S)
    clock.advance(LOGIN_FAILURE_WINDOW - SECOND)
    r = _api_login(client, "inv_a", PASSWORD)
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    clock.advance(SECOND)  # the five failures have left the window
    assert _api_login(client, "inv_a", PASSWORD).status_code == 200


def test_four_failures_do_not_lock(client) -> None:
    _fail(client, times=MAX_LOGIN_FAILURES - 1)
    assert _api_login(client, "inv_a", PASSWORD).status_code == 200


def test_the_window_slides_with_the_failures(client, clock) -> None:
    """Failures older than the window do not count; the lock lifts when the oldest counted one
    leaves the window, not a fixed time after the last."""
    step = dt.timedelta(minutes=1)
    _fail(client, times=MAX_LOGIN_FAILURES - 1)  # at t0
    clock.advance(LOGIN_FAILURE_WINDOW)  # those four are now exactly one window old: gone
    _fail(client, times=MAX_LOGIN_FAILURES - 1)  # at t1 = t0 + window
    assert _api_login(client, "inv_a", PASSWORD).status_code == 200
    clock.advance(step)
    _fail(client, times=1)  # the fifth within the window, at t1 + step
    r = _api_login(client, "inv_a", PASSWORD)
    assert r.status_code == 429
    assert r.headers["retry-after"] == str(WINDOW_S - int(step.total_seconds()))
    clock.advance(LOGIN_FAILURE_WINDOW - step)  # t1 + window: the four at t1 have left
    assert _api_login(client, "inv_a", PASSWORD).status_code == 200


def test_refused_attempts_do_not_prolong_the_lock(client, clock) -> None:
    _fail(client)
    for _ in range(10):
        clock.advance(dt.timedelta(minutes=1))
        assert _api_login(client, "inv_a", WRONG).status_code == 429
    clock.advance(LOGIN_FAILURE_WINDOW - dt.timedelta(minutes=10))
    assert _api_login(client, "inv_a", PASSWORD).status_code == 200


def test_lockout_is_per_username_from_any_address(client) -> None:
    """Failures from one address lock the username for every address; other users are not
    affected at that address."""
    attacker = TestClient(client.app, client=("203.0.113.7", 40000))
    elsewhere = TestClient(client.app, client=("198.51.100.20", 50000))
    _fail(attacker)
    assert _api_login(elsewhere, "inv_a", PASSWORD).status_code == 429
    assert _api_login(attacker, "inv_b", PASSWORD).status_code == 200


def test_unknown_usernames_are_locked_alike(client) -> None:
    """The lock does not tell whether a username exists."""
    _fail(client, "inv_a")
    _fail(client, "nobody")
    known, unknown = _api_login(client, "inv_a", WRONG), _api_login(client, "nobody", WRONG)
    assert known.status_code == unknown.status_code == 429
    assert known.json()["detail"] == unknown.json()["detail"]


def test_login_page_and_api_share_the_count(client, clock) -> None:
    """Failures through the API lock the login page, and the other way round; the page says why
    and sets no session cookie."""
    _fail(client, times=MAX_LOGIN_FAILURES - 1)
    assert login_page(client, "inv_a", WRONG).status_code == 401  # the fifth, via the form
    r = login_page(client, "inv_a")
    assert r.status_code == 429 and "too many failed logins" in r.text
    assert r.headers["retry-after"] == str(WINDOW_S)
    assert SESSION_COOKIE not in client.cookies
    csrf_of(r.text)  # the page still carries its login form
    assert _api_login(client, "inv_a", PASSWORD).status_code == 429
    clock.advance(LOGIN_FAILURE_WINDOW)
    assert login_page(client, "inv_a").status_code == 303


def test_lock_holds_in_another_worker_and_after_a_restart(client, clock, db_url, tmp_path) -> None:
    """The count lives in the database: a second app on the same database sees the lock."""
    _fail(client)
    other = create_app(db_url, SECRET, report_dir=tmp_path / "other", clock=clock)
    with TestClient(other) as worker:
        assert _api_login(worker, "inv_a", PASSWORD).status_code == 429
        clock.advance(LOGIN_FAILURE_WINDOW)
        assert _api_login(worker, "inv_a", PASSWORD).status_code == 200


def test_failures_lockout_and_refusals_are_audited_without_the_password(
    client, db_path, snapshot
) -> None:
    before = snapshot()
    attacker = TestClient(client.app, client=("203.0.113.7", 40000))
    _fail(attacker)
    assert _api_login(attacker, "inv_a", PASSWORD).status_code == 429
    assert login_page(attacker, "inv_a", WRONG).status_code == 429
    trail = _audit(db_path, "inv_a")
    actions = [action for action, _ in trail]
    assert (
        actions
        == ["login-failure"] * MAX_LOGIN_FAILURES + ["login-lockout"] + ["login-refused"] * 2
    )
    assert all(after["client"] == "203.0.113.7" for _, after in trail)
    lockout = trail[MAX_LOGIN_FAILURES][1]
    assert lockout["failures"] == MAX_LOGIN_FAILURES and lockout["window_s"] == WINDOW_S
    assert trail[-1][1]["locked_until"] == lockout["locked_until"]
    after = snapshot()
    assert {t: r for t, r in after.items() if t != "audit_log"} == {
        t: r for t, r in before.items() if t != "audit_log"
    }
    stored = repr(after)
    assert WRONG not in stored and PASSWORD not in stored
