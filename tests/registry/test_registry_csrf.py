"""Cross-site request forgery: form posts that try to get in without this session's CSRF token.

Every refused post must answer 403 with the CSRF message and leave every table, the audit trail
included, exactly as it was (compared row by row with the sqlite3 module, not through the app).
"""

from __future__ import annotations

import hashlib
import hmac
import warnings

import pytest
from registry_cases import (
    PASSWORD,
    PATIENT,
    SECRET,
    auth,
    csrf_of,
    login_page,
    set_cookie_header,
)

from irelab.registry.app import create_app
from irelab.registry.csrf import PRESESSION_COOKIE
from irelab.registry.deps import SESSION_COOKIE

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

NEW_PATIENT = {
    "study_id": "CSRF-1",
    "sex": "M",
    "age_years": "70",
    "inclusion_date": "2024-04-01",
    "vital_status": "alive",
    "last_contact_date": "2024-10-01",
}


def _hmac_token(key: str, purpose: str, bound_to: str) -> str:
    message = f"irelab-csrf:{purpose}:{bound_to}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def _assert_refused(response) -> None:
    assert response.status_code == 403, response.text
    assert "CSRF" in response.text and "nothing was saved" in response.text


def _forged_tokens(client) -> dict[str, str | None]:
    """Tokens an attacker might send instead of the right one (None: no field at all)."""
    cookie = client.cookies[SESSION_COOKIE]
    return {
        "missing": None,
        "empty": "",
        "zeros": "0" * 64,
        "wrong key": _hmac_token("another-secret-of-sufficient-length", "form", cookie),
        "login purpose": _hmac_token(SECRET, "login", cookie),
        "old scheme": hmac.new(
            SECRET.encode(), b"csrf:" + cookie.encode(), hashlib.sha256
        ).hexdigest(),
        "non-ascii": "\u00e9" * 64,
        "truncated": csrf_of(client.get("/patients/new").text)[:-1],
    }


def test_the_right_token_is_accepted(client) -> None:
    """Control: the forms work with the session's own token (so the refusals below are real)."""
    assert login_page(client, "inv_a").status_code == 303
    token = csrf_of(client.get("/patients/new").text)
    r = client.post("/patients/new", data={**NEW_PATIENT, "csrf": token})
    assert r.status_code == 200 and "Patient CSRF-1" in r.text


def test_forged_or_missing_tokens_are_refused_and_nothing_is_stored(client, snapshot) -> None:
    assert login_page(client, "inv_a").status_code == 303
    before = snapshot()
    for name, token in _forged_tokens(client).items():
        data = NEW_PATIENT if token is None else {**NEW_PATIENT, "csrf": token}
        r = client.post("/patients/new", data=data)
        assert r.status_code == 403, name
        _assert_refused(r)
    # the right token in the query string instead of the form does not count either
    token = csrf_of(client.get("/patients/new").text)
    _assert_refused(client.post(f"/patients/new?csrf={token}", data=NEW_PATIENT))
    assert snapshot() == before


def test_child_forms_need_the_token_too(client, course, snapshot) -> None:
    assert login_page(client, "inv_a").status_code == 303
    before = snapshot()
    url = f"/patients/{course['patient']}/followups/new"
    data = {"date": "2024-06-01", "modality": "CT", "finding": "extrahepatic"}
    _assert_refused(client.post(url, data=data))
    _assert_refused(client.post(url, data={**data, "csrf": "f" * 64}))
    assert snapshot() == before


def test_token_of_another_session_of_the_same_user_is_refused(client, snapshot) -> None:
    """Two logins of one user (here within the same second) get different tokens."""
    assert login_page(client, "inv_a").status_code == 303
    first = csrf_of(client.get("/patients/new").text)
    assert login_page(client, "inv_a").status_code == 303
    second = csrf_of(client.get("/patients/new").text)
    assert first != second
    before = snapshot()
    _assert_refused(client.post("/patients/new", data={**NEW_PATIENT, "csrf": first}))
    assert snapshot() == before


def test_token_of_another_user_is_refused(client, snapshot) -> None:
    assert login_page(client, "inv_b").status_code == 303
    token_b = csrf_of(client.get("/patients/new").text)
    assert login_page(client, "inv_a").status_code == 303
    before = snapshot()
    _assert_refused(client.post("/patients/new", data={**NEW_PATIENT, "csrf": token_b}))
    assert snapshot() == before


def test_token_without_its_session_cookie_is_refused(client, snapshot) -> None:
    """A token copied out of a page is useless to a browser that does not hold the session."""
    assert login_page(client, "inv_a").status_code == 303
    token = csrf_of(client.get("/patients/new").text)
    client.cookies.clear()
    before = snapshot()
    _assert_refused(client.post("/patients/new", data={**NEW_PATIENT, "csrf": token}))
    assert snapshot() == before


def test_logout_needs_the_token(client) -> None:
    """A forged logout is refused and the session stays valid."""
    assert login_page(client, "inv_a").status_code == 303
    _assert_refused(client.post("/logout", data={}))
    assert client.get("/patients", follow_redirects=False).status_code == 200
    token = csrf_of(client.get("/patients").text)
    r = client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/patients", follow_redirects=False).status_code == 303


def test_login_form_needs_its_token_even_with_the_right_password(client, snapshot) -> None:
    """Login CSRF: another site must not log this browser into an account of its choosing."""
    before = snapshot()
    credentials = {"username": "inv_a", "password": PASSWORD}
    _assert_refused(client.post("/login", data=credentials))
    client.get("/login")  # now the browser holds a pre-session cookie ...
    presession = client.cookies[PRESESSION_COOKIE]
    forged = {
        "zeros": "0" * 64,
        "another browser's token": _hmac_token(SECRET, "login", "another-pre-session"),
        "form purpose": _hmac_token(SECRET, "form", presession),
        "wrong key": _hmac_token("another-secret-of-sufficient-length", "login", presession),
    }
    for name, token in forged.items():
        r = client.post("/login", data={**credentials, "csrf": token})
        assert r.status_code == 403, name
    assert SESSION_COOKIE not in client.cookies
    assert snapshot() == before  # not even a login-failure row


def test_login_token_is_bound_to_the_pre_session_cookie(client) -> None:
    """The token of one browser's login page does not work in a browser with another cookie."""
    token = csrf_of(client.get("/login").text)
    client.cookies.clear()
    client.get("/login")  # a new pre-session cookie
    r = client.post("/login", data={"username": "inv_a", "password": PASSWORD, "csrf": token})
    assert r.status_code == 403
    assert SESSION_COOKIE not in client.cookies


def test_api_ignores_the_session_cookie(client, snapshot) -> None:
    """The API needs no CSRF token because a cookie alone never authenticates it."""
    assert login_page(client, "inv_a").status_code == 303
    before = snapshot()
    r = client.post("/api/patients", json=PATIENT)
    assert r.status_code == 401
    assert snapshot() == before
    assert client.post("/api/patients", json=PATIENT, headers=auth("inv_a")).status_code == 201


def test_cookies_are_httponly_and_samesite_lax_and_not_secure_over_http(client) -> None:
    page = client.get("/login")
    presession = set_cookie_header(page, PRESESSION_COOKIE)
    r = login_page(client, "inv_a")
    session = set_cookie_header(r, SESSION_COOKIE)
    for cookie in (presession, session):
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie


@pytest.mark.parametrize(
    ("secure_cookies", "base_url", "secure"),
    [
        (None, "https://testserver", True),  # follows the request's scheme
        (None, "http://testserver", False),
        (True, "http://testserver", True),  # forced, e.g. behind a proxy without proxy headers
        (False, "https://testserver", False),
    ],
)
def test_secure_flag(db_url, tmp_path, secure_cookies, base_url, secure) -> None:
    app = create_app(db_url, SECRET, report_dir=tmp_path, secure_cookies=secure_cookies)
    with TestClient(app, base_url=base_url) as client:
        page = client.get("/login")
        assert ("Secure" in set_cookie_header(page, PRESESSION_COOKIE)) is secure
        token = csrf_of(page.text)
        if secure and base_url.startswith("http:"):
            # httpx (like a browser) does not send a Secure cookie over http: set it by hand
            client.cookies.set(PRESESSION_COOKIE, page.cookies[PRESESSION_COOKIE])
        r = client.post(
            "/login",
            data={"username": "inv_a", "password": PASSWORD, "csrf": token},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        assert ("Secure" in set_cookie_header(r, SESSION_COOKIE)) is secure
