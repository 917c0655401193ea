"""Load on the registry service: 8 concurrent clients against ``irelab registry serve``'s app.

For each database (SQLite; PostgreSQL when ``IRELAB_TEST_POSTGRES_URL`` or ``--postgres`` names a
server) and each registry size (1,000 and 100,000 patients, bulk-loaded first), one uvicorn
process serves the registry exactly as ``serve`` runs it (production mode, bcrypt cost 12) and 8
client threads run a fixed mix for ``--seconds`` (default 20): a page of 50 patients after a
random id (70 %), a new patient (12 %), an update of one of the client's own patients (15 %) and a
login (3 %; each costs a bcrypt check of cost 12, about 0.2 s of CPU by design). It prints per
operation: requests, throughput, p50/p99 latency and errors (any answer but the expected
status), plus the machine's load average before and after. Targets: 0 errors, p99 <= 200 ms for
a page of 50 on 2 cores.

    .venv/bin/python benchmarks/registry_load.py [--seconds 20] [--sizes 1000 100000]
        [--postgres URL] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from irelab.registry.accounts import add_site, add_user
from irelab.registry.database import Registry
from irelab.registry.models import Patient
from irelab.registry.security import issue_token

CLIENTS = 8
PAGE = 50
#: Operation mix (design choice: reading dominates a registry's day; logins are rare but dear).
MIX = (("page", 0.70), ("create", 0.12), ("update", 0.15), ("login", 0.03))
SECRET = "benchmark-secret-0123456789abcdef0123"
PASSWORD = "benchmark password 1"
SEED = 20261130


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare(url: str, patients: int) -> None:
    """Migrate, add a site, a data manager per client, and ``patients`` patients in bulk."""
    registry = Registry.open(url)
    with registry.session("benchmark") as session:
        add_site(session, "A", "Site A")
        for i in range(CLIENTS):
            add_user(session, f"dm{i}", PASSWORD, "data_manager")
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "study_id": f"BENCH-{i:06d}",
            "site_id": 1,
            "sex": "F" if i % 2 else "M",
            "age_years": 40 + i % 50,
            "inclusion_date": dt.date(2020, 1, 1) + dt.timedelta(days=i % 1000),
            "vital_status": "alive",
            "last_contact_date": dt.date(2023, 1, 1),
            "date_shift_days": 100,
            "version": 1,
            "created_at": now,
            "created_by": "benchmark",
            "updated_at": now,
            "updated_by": "benchmark",
        }
        for i in range(patients)
    ]
    with registry.engine.begin() as connection:  # bulk set-up, outside the audited path
        for start in range(0, len(rows), 10_000):
            connection.execute(insert(Patient), rows[start : start + 10_000])
    registry.close()


@contextmanager
def _server(url: str, folder: Path):
    port = _free_port()
    env = {
        **os.environ,
        "IRELAB_REGISTRY_URL": url,
        "IRELAB_REGISTRY_SECRET": SECRET,
        "IRELAB_REGISTRY_REPORT_DIR": str(folder),
        "IRELAB_REGISTRY_UPGRADE": "0",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory",
               "irelab.registry.app:app_from_environment", "--port", str(port),
               "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(f"{base}/login", timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _client(base: str, index: int, seconds: float, patients: int, out: dict) -> None:
    rng = random.Random(SEED + index)
    user = f"dm{index}"
    headers = {"Authorization": f"Bearer {issue_token(user, SECRET)}"}
    mine: list[tuple[int, int]] = []  # (id, version) of this client's own patients
    names, weights = zip(*MIX, strict=True)
    made = 0
    end = time.perf_counter() + seconds
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        while time.perf_counter() < end:
            op = rng.choices(names, weights)[0]
            if op == "update" and not mine:
                op = "create"
            t0 = time.perf_counter()
            try:
                if op == "page":
                    after = rng.randrange(0, patients)
                    r = http.get("/api/patients", params={"after": after or None, "limit": PAGE})
                    ok = r.status_code == 200 and len(r.json()) <= PAGE
                elif op == "create":
                    made += 1
                    body = {"study_id": f"NEW-{index}-{made}-{uuid.uuid4().hex[:6]}", "site": "A",
                            "sex": "F", "age_years": 60, "inclusion_date": "2024-01-01",
                            "last_contact_date": "2024-06-01"}  # fmt: skip
                    r = http.post("/api/patients", json=body)
                    ok = r.status_code == 201
                    if ok:
                        mine.append((r.json()["id"], r.json()["version"]))
                elif op == "update":
                    k = rng.randrange(len(mine))
                    pid, version = mine[k]
                    r = http.patch(f"/api/patients/{pid}",
                                   json={"version": version, "age_years": rng.randint(30, 90)})
                    ok = r.status_code == 200
                    if ok:
                        mine[k] = (pid, r.json()["version"])
                else:
                    r = http.post("/api/auth/token", data={"username": user, "password": PASSWORD})
                    ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            out[op].append((time.perf_counter() - t0, ok))


def _run(url: str, patients: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        _prepare(url, patients)
        with _server(url, Path(tmp)) as base:
            results: dict[str, list] = defaultdict(list)
            per_client = [defaultdict(list) for _ in range(CLIENTS)]
            threads = [
                threading.Thread(target=_client, args=(base, i, seconds, patients, per_client[i]))
                for i in range(CLIENTS)
            ]
            load = os.getloadavg()[0]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for part in per_client:
                for op, rows in part.items():
                    results[op] += rows
    table = {}
    for op, _ in MIX:
        rows = results.get(op, [])
        ms = np.array([r[0] for r in rows]) * 1e3
        table[op] = {
            "requests": len(rows),
            "per_s": len(rows) / seconds,
            "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
            "p99_ms": float(np.percentile(ms, 99)) if len(ms) else None,
            "errors": sum(1 for r in rows if not r[1]),
        }
    return {"load_before": load, "load_after": os.getloadavg()[0], "ops": table}


@contextmanager
def _sqlite(folder: Path):
    yield f"sqlite:///{folder / f'load-{uuid.uuid4().hex[:6]}.sqlite'}"


@contextmanager
def _postgres(base: str):
    name = f"irelab_load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--postgres", default=os.environ.get("IRELAB_TEST_POSTGRES_URL"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = []
    with tempfile.TemporaryDirectory() as tmp:
        backends = [("SQLite", lambda: _sqlite(Path(tmp)))]
        if args.postgres:
            backends.append(("PostgreSQL", lambda: _postgres(args.postgres)))
        for name, database in backends:
            for size in args.sizes:
                with database() as url:
                    result = _run(url, size, args.seconds)
                report.append({"database": name, "patients": size, **result})
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{CLIENTS} clients, {args.seconds:g} s per run, page of {PAGE}, cpus {os.cpu_count()}")
    print(f"{'database':<11}{'patients':>9} {'op':<7}{'req':>6}{'req/s':>8}{'p50 ms':>9}"
          f"{'p99 ms':>9}{'errors':>7}  load before/after")  # fmt: skip
    for run in report:
        for op, f in run["ops"].items():
            p50 = "-" if f["p50_ms"] is None else f"{f['p50_ms']:.0f}"
            p99 = "-" if f["p99_ms"] is None else f"{f['p99_ms']:.0f}"
            print(f"{run['database']:<11}{run['patients']:>9} {op:<7}{f['requests']:>6}"
                  f"{f['per_s']:>8.1f}{p50:>9}{p99:>9}{f['errors']:>7}  "
                  f"{run['load_before']:.1f}/{run['load_after']:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
