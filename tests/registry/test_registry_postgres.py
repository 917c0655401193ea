"""The registry on a real PostgreSQL server (`bash scripts/postgres.sh start`, which writes
IRELAB_TEST_POSTGRES_URL to scripts/postgres.env; `make test` sources it).

Each run creates a uniquely named database, runs the migrations, goes through the API (create,
update, stale update, retire, audit), checks that the append-only trigger rejects UPDATE and
DELETE of the audit trail and that the login throttle counts on PostgreSQL's timestamps; the
database is dropped afterwards. Skipped when the variable is unset
outside CI; under CI a missing server fails.
"""

from __future__ import annotations

import datetime as dt
import os
import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from live_server import postgres_database
from registry_cases import PATIENT, SECRET, FakeClock, auth
from sqlalchemy import text

from irelab.registry.accounts import add_site, add_user
from irelab.registry.app import create_app
from irelab.registry.database import Registry
from irelab.registry.login import LOGIN_FAILURE_WINDOW, MAX_LOGIN_FAILURES
from irelab.registry.models import Base

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.postgres
URL_ENV = "IRELAB_TEST_POSTGRES_URL"


@pytest.fixture
def pg_url():
    base = os.environ.get(URL_ENV)
    if not base:
        if os.environ.get("CI"):
            pytest.fail(f"{URL_ENV} is not set under CI: run `make postgres`")
        pytest.skip(f"{URL_ENV} not set (run `bash scripts/postgres.sh start`)")
    with postgres_database(base, "irelab_test") as url:
        yield url


def test_migrations_crud_audit_and_locking_on_postgres(pg_url, tmp_path) -> None:
    registry = Registry.open(pg_url)
    with registry.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    with registry.session("setup") as session:
        add_site(session, "A", "Site A")
        add_user(session, "inv_a", "password123", "investigator", "A", rounds=4)
        add_user(session, "dm", "password123", "data_manager", rounds=4)
    app = create_app(pg_url, SECRET, report_dir=tmp_path)
    with TestClient(app) as client:
        injection = "'); DROP TABLE patients; --"
        r = client.post(
            "/api/patients", json={**PATIENT, "notes": injection}, headers=auth("inv_a")
        )
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        assert client.post("/api/patients", json=PATIENT, headers=auth("inv_a")).status_code == 409
        url = f"/api/patients/{pid}"
        assert (
            client.patch(
                url, json={"version": 1, "age_years": 65}, headers=auth("inv_a")
            ).status_code
            == 200
        )
        stale = client.patch(url, json={"version": 1, "age_years": 99}, headers=auth("dm"))
        assert stale.status_code == 409
        retired = client.post(
            f"{url}/retire", json={"version": 2, "reason": "withdrew"}, headers=auth("dm")
        )
        assert retired.status_code == 200
        got = client.get(url, headers=auth("dm")).json()
        assert (got["age_years"], got["notes"], got["version"]) == (65, injection, 3)
        trail = client.get(f"/api/audit?table=patients&record_id={pid}", headers=auth("dm"))
        assert [e["action"] for e in trail.json()] == ["create", "update", "retire"]
    with registry.engine.connect() as connection:
        for statement in ("UPDATE audit_log SET username = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(Exception, match="append-only"):
                with connection.begin():
                    connection.execute(text(statement))
        assert connection.execute(text("SELECT count(*) FROM patients")).scalar() == 1
    registry.close()


def test_login_throttle_on_postgres(pg_url, tmp_path) -> None:
    """The throttle's count of recent failures works on timestamptz as on SQLite's strings:
    locked after the limit, for the rest of the window, shared by two app instances."""
    registry = Registry.open(pg_url)
    with registry.session("setup") as session:
        add_user(session, "dm", "password123", "data_manager", rounds=4)
    clock = FakeClock()
    first = create_app(pg_url, SECRET, report_dir=tmp_path / "1", clock=clock)
    second = create_app(pg_url, SECRET, report_dir=tmp_path / "2", clock=clock)
    right = {"username": "dm", "password": "password123"}
    wrong = {"username": "dm", "password": "guess"}
    with TestClient(first) as one, TestClient(second) as two:
        for _ in range(MAX_LOGIN_FAILURES):
            assert one.post("/api/auth/token", data=wrong).status_code == 401
        assert two.post("/api/auth/token", data=right).status_code == 429
        clock.advance(LOGIN_FAILURE_WINDOW - dt.timedelta(seconds=1))
        assert two.post("/api/auth/token", data=right).status_code == 429
        clock.advance(dt.timedelta(seconds=1))
        assert two.post("/api/auth/token", data=right).status_code == 200
    with registry.engine.connect() as connection:
        actions = connection.execute(
            text("SELECT action FROM audit_log WHERE username = 'dm' ORDER BY id")
        ).scalars()
        assert list(actions) == ["login-failure"] * MAX_LOGIN_FAILURES + [
            "login-lockout",
            "login-refused",
            "login-refused",
        ]
    registry.close()
