"""Running the real ``irelab`` command in a child process, and a registry with one enrolled patient,
for the tests that walk the pipeline end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def irelab(*args: str, env: dict, cwd: Path, code: int = 0) -> subprocess.CompletedProcess:
    """Run ``irelab ARGS`` in ``cwd``; the exit code must be ``code``."""
    run = subprocess.run([sys.executable, "-m", "irelab.cli.main", *args], cwd=cwd, env=env,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         encoding="utf-8", timeout=600)
    assert run.returncode == code, f"{args[0]}: {run.returncode}\n{run.stdout}\n{run.stderr}"
    return run


def registry_env(tmp_path: Path) -> dict:
    """The environment of a child process with its own SQLite registry under ``tmp_path``."""
    return os.environ | {"IRELAB_REGISTRY_URL": f"sqlite:///{tmp_path / 'registry.sqlite'}",
                         "IRELAB_NEW_PASSWORD": "pipeline password 1", "PYTHONUTF8": "1"}


def enrol_patient(env: dict, cwd: Path, patients_csv_row: str) -> None:
    """Create the registry, site A with investigator ``inv``, and enrol one patient from a row of
    ``study_id,site,sex,age_years,inclusion_date,last_contact_date``."""
    irelab("registry", "init-db", env=env, cwd=cwd)
    irelab("registry", "create-site", "A", "Site A", env=env, cwd=cwd)
    irelab("registry", "create-user", "inv", "--role", "investigator", "--site", "A",
           env=env, cwd=cwd)
    (cwd / "patients.csv").write_text(
        "study_id,site,sex,age_years,inclusion_date,last_contact_date\n"
        f"{patients_csv_row}\n", encoding="utf-8")
    irelab("registry", "import", "patients", "patients.csv", "--user", "inv", env=env, cwd=cwd)
