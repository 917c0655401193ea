"""Constants and helpers shared by the registry tests (a plain module, not conftest.py: several
test folders have a conftest and ``from conftest import`` would pick the wrong one when the whole
suite runs). The fixtures stay in conftest.py."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path

from irelab.registry.security import issue_token

SECRET = "test-secret-0123456789abcdef0123456789"
PASSWORD = "correct horse battery"
#: username -> (role, site code)
USERS: dict[str, tuple[str, str | None]] = {
    "admin": ("admin", None),
    "dm": ("data_manager", None),
    "inv_a": ("investigator", "A"),
    "inv_b": ("investigator", "B"),
    "mon": ("monitor", None),
}
#: SQL and script injection strings put into every free-text field.
INJECTIONS: tuple[str, ...] = (
    "'); DROP TABLE patients; --",
    "x' OR '1'='1",
    "<script>alert('xss')</script>",
    '"><img src=x onerror=alert(1)>',
)


class FakeClock:
    """A UTC clock that stands still until moved, for ``create_app(clock=...)``: no sleeps."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta


def auth(username: str) -> dict[str, str]:
    """Bearer header of a valid token for ``username``."""
    return {"Authorization": f"Bearer {issue_token(username, SECRET)}"}


def csrf_of(html: str) -> str:
    """The CSRF token in the hidden ``csrf`` field of a rendered form."""
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def login_page(client, username: str, password: str = PASSWORD):
    """Log in through the login form like a browser: GET the form, POST it with its token."""
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf": token},
        follow_redirects=False,
    )


def set_cookie_header(response, name: str) -> str:
    """The ``Set-Cookie`` header of ``response`` that sets cookie ``name``."""
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    return headers[0]


def snapshot_of(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table (sorted), read with the sqlite3 module, not the app."""
    with sqlite3.connect(path) as connection:
        tables = [
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        return {t: sorted(connection.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables}


PATIENT = {
    "study_id": "IRE-A-001",
    "sex": "F",
    "age_years": 64,
    "inclusion_date": "2024-01-10",
    "vital_status": "alive",
    "last_contact_date": "2024-12-01",
}
