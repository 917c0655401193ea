"""Fixtures of the registry tests: a migrated template database copied per test, users of
every role, an app + TestClient per test (on a fake clock for the login throttle), tokens, and a
snapshot of every table."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from registry_cases import PASSWORD, PATIENT, SECRET, USERS, FakeClock, auth, snapshot_of

from irelab.registry.accounts import add_site, add_user
from irelab.registry.app import create_app
from irelab.registry.database import Registry

with warnings.catch_warnings():
    # Starlette 1.x deprecates the httpx-backed TestClient in favour of the `httpx2` package,
    # which is not a dependency; FastAPI's TestClient still wraps it.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database migrated with `alembic upgrade head`, with sites A, B and one user per role.

    Passwords are hashed with bcrypt cost 4 (the minimum) to keep the tests fast.
    """
    path = tmp_path_factory.mktemp("registry") / "template.sqlite"
    registry = Registry.open(f"sqlite:///{path}")
    with registry.session("setup") as session:
        add_site(session, "A", "Site A")
        add_site(session, "B", "Site B")
        for name, (role, site) in USERS.items():
            add_user(session, name, PASSWORD, role, site, rounds=4)
    registry.close()
    return path


@pytest.fixture
def db_path(template_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "registry.sqlite"
    shutil.copy(template_db, path)
    return path


@pytest.fixture
def db_url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"


@pytest.fixture
def clock() -> FakeClock:
    """The app's clock (login throttle); it stands still unless a test advances it."""
    return FakeClock()


@pytest.fixture
def client(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[TestClient]:
    app = create_app(db_url, SECRET, report_dir=tmp_path / "reports", clock=clock)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def snapshot(db_path: Path) -> Callable[[], dict[str, list[tuple]]]:
    return lambda: snapshot_of(db_path)


@pytest.fixture
def course(client: TestClient) -> dict[str, int]:
    """Site A patient with a tumour, a procedure, a treatment, an adverse event and a follow-up,
    entered by investigator inv_a; returns the record ids."""
    h = auth("inv_a")
    patient = client.post("/api/patients", json=PATIENT, headers=h).json()["id"]
    tumour = client.post(
        "/api/tumours",
        json={"patient_id": patient, "origin": "colorectal", "size_mm": 22, "segment": 7},
        headers=h,
    ).json()["id"]
    procedure = client.post(
        "/api/procedures",
        json={
            "patient_id": patient,
            "date": "2024-02-01",
            "approach": "percutaneous",
            "n_probes": 4,
            "n_pairs": 6,
            "pulses": 540,
            "max_voltage_V": 2700,
            "max_current_A": 38.5,
        },
        headers=h,
    ).json()["id"]
    treatment = client.post(
        "/api/treatments",
        json={"procedure_id": procedure, "tumour_id": tumour, "technical_success": True},
        headers=h,
    ).json()["id"]
    ae = client.post(
        "/api/adverse_events",
        json={
            "procedure_id": procedure,
            "term": "Ventricular tachycardia",
            "ctcae_grade": 2,
            "cirse_grade": 1,
            "onset_day": 0,
            "serious": False,
            "relation": "related",
            "outcome": "resolved",
        },
        headers=h,
    ).json()["id"]
    followup = client.post(
        "/api/followups",
        json={
            "patient_id": patient,
            "tumour_id": tumour,
            "date": "2024-03-01",
            "modality": "CT",
            "finding": "complete_ablation",
        },
        headers=h,
    ).json()["id"]
    return {
        "patient": patient,
        "tumour": tumour,
        "procedure": procedure,
        "treatment": treatment,
        "ae": ae,
        "followup": followup,
    }


# --- real servers (uvicorn subprocesses) on SQLite and PostgreSQL, shared by a whole session ---
POSTGRES_ENV = "IRELAB_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_base() -> str:
    """The URL of the throw-away PostgreSQL server (skip without one, fail under CI)."""
    import os

    base = os.environ.get(POSTGRES_ENV)
    if not base:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set under CI: run `make postgres`")
        pytest.skip(f"{POSTGRES_ENV} not set (run `bash scripts/postgres.sh start`)")
    return base


@dataclass(frozen=True)
class Live:
    """A running server (``url``), its database (``db``) and, on PostgreSQL, a second server
    process on the same database (``other``; None on SQLite)."""

    backend: str
    url: str
    db: str
    other: str | None


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The registry served by uvicorn subprocesses, once per session and backend."""
    from live_server import LiveServer, postgres_database, seed

    folder = tmp_path_factory.mktemp(f"live-{request.param}")
    with ExitStack() as stack:
        if request.param == "sqlite":
            db = f"sqlite:///{folder / 'registry.sqlite'}"
        else:
            base = request.getfixturevalue("postgres_base")
            db = stack.enter_context(postgres_database(base))
        seed(db)
        servers = [LiveServer(db, folder / "reports").start()]
        stack.callback(servers[0].stop)
        if request.param == "postgres":
            servers.append(LiveServer(db, folder / "reports").start())
            stack.callback(servers[1].stop)
        yield Live(
            request.param, servers[0].url, db, servers[1].url if len(servers) > 1 else None
        )
