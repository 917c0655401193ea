"""Fixtures of the robustness tests: a small plan that solves in a fraction of a second, and a
real Dask cluster on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from robust_cases import SMALL_PLAN

from irelab.case import Case, parse_case


@pytest.fixture
def small_plan() -> Case:
    return parse_case(SMALL_PLAN, source="<small plan>")


START_TIMEOUT_S = 120
"""How long the test waits for its scheduler and workers to come up (a bound, not a measured
time: process start-up imports NumPy, SciPy and irelab)."""


@pytest.fixture(scope="session")
def scheduler(tmp_path_factory):
    """A Dask scheduler and two single-threaded workers, each its own process on 127.0.0.1,
    shared by the session (a test that kills a worker leaves the other)."""
    folder = tmp_path_factory.mktemp("dask")
    info = folder / "scheduler.json"
    env = os.environ | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                        "MKL_NUM_THREADS": "1"}
    common = {"cwd": folder, "env": env, "stdout": subprocess.DEVNULL,
              "stderr": subprocess.DEVNULL, "start_new_session": True}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                               "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(info)], **common)]
    workers = []
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        for _ in range(2):
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads",
                 "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"], **common))
        procs += workers
        from distributed import Client

        with Client(address, timeout=START_TIMEOUT_S) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT_S)
        yield address, workers
    finally:
        # SIGKILL: these processes hold nothing worth a graceful close, and a worker told to
        # terminate can spend its whole close timeout reconnecting to a scheduler going away
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in procs:
            proc.wait()
