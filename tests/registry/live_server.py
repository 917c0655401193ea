"""A registry server in a subprocess (uvicorn, real HTTP) for the tests that reproduce what a
busy site and an attacker do: concurrent clients, hostile bodies, two servers on one database.

A plain module, like ``registry_cases``. The server runs ``irelab.registry.app:
app_from_environment`` exactly as ``irelab registry serve`` runs it in each worker (production
mode, no migration on start: the fixture migrates the database first), with bcrypt cost 4 like
the accounts the fixtures create. ``start`` waits until the server answers (bounded number of
tries, not a time budget); ``stop`` ends the process it started.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from registry_cases import PASSWORD, SECRET, USERS

from irelab.registry.accounts import add_site, add_user
from irelab.registry.database import Registry

#: Tries of the readiness probe; each waits up to PROBE_TIMEOUT_S for a connection.
START_TRIES = 300
PROBE_TIMEOUT_S = 0.2
#: The bcrypt cost of the test accounts (the minimum) and so of the server's dummy check.
TEST_ROUNDS = 4
#: A second admin, who may approve accounts the first one created.
SECOND_ADMIN = "admin2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(url: str) -> None:
    """Migrate ``url`` and add sites A and B and one account per role (plus a second admin)."""
    registry = Registry.open(url)
    with registry.session("setup") as session:
        add_site(session, "A", "Site A")
        add_site(session, "B", "Site B")
        for name, (role, site) in {**USERS, SECOND_ADMIN: ("admin", None)}.items():
            add_user(session, name, PASSWORD, role, site, rounds=TEST_ROUNDS)
    registry.close()


def add_account(url: str, name: str, role: str, site: str | None = None) -> None:
    """An approved account added straight to the database (each test uses its own names)."""
    registry = Registry.open(url, upgrade=False)
    with registry.session("setup") as session:
        add_user(session, name, PASSWORD, role, site, rounds=TEST_ROUNDS)
    registry.close()


@contextmanager
def postgres_database(base: str) -> Iterator[str]:
    """A fresh, uniquely named database on the PostgreSQL server ``base``; dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"irelab_live_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class LiveServer:
    """One uvicorn process serving the registry on ``database_url``."""

    database_url: str
    report_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        env = {
            **os.environ,
            "IRELAB_REGISTRY_URL": self.database_url,
            "IRELAB_REGISTRY_SECRET": SECRET,
            "IRELAB_REGISTRY_REPORT_DIR": str(self.report_dir),
            "IRELAB_REGISTRY_PRODUCTION": "1",
            "IRELAB_REGISTRY_UPGRADE": "0",
            "IRELAB_REGISTRY_BCRYPT_ROUNDS": str(TEST_ROUNDS),
        }
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "irelab.registry.app:app_from_environment",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        self.process = subprocess.Popen(command, env=env)
        for _ in range(START_TRIES):
            if self.process.poll() is not None:
                raise RuntimeError(f"the registry server exited with {self.process.returncode}")
            try:
                httpx.get(f"{self.url}/login", timeout=PROBE_TIMEOUT_S)
                return self
            except httpx.TransportError:
                try:
                    self.process.wait(timeout=PROBE_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    pass
        self.stop()
        raise RuntimeError("the registry server did not answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
