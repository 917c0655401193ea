"""Same case, same options, same plan file: byte for byte, on a quiet or a loaded machine, with
one worker process or two (budgets count work, never seconds)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import replace

import pytest
from plan_cases import sphere_case

from irelab.case import write_case
from irelab.plan import PlanOptions, plan_treatment
from irelab.thermal import PulseSchedule


def _digest(result, path) -> str:
    return hashlib.sha256(write_case(result.case, path).read_bytes()).hexdigest()


@pytest.mark.slow
def test_the_same_case_gives_the_same_plan_file_under_load_and_for_any_worker_count(
        tmp_path) -> None:
    """A 6 mm tumour beside a vessel, planned three times with the same options: quietly, with
    a CPU hog (a busy loop in another process) running throughout, and with one worker process
    instead of two. The sha256 of the three plan.yaml files agree. No timing is asserted."""
    case = sphere_case((36, 36, 30), 3.0, vessel_y_mm=9.0)
    options = PlanOptions(margin_m=3e-3, screen_keep=2, coarse_trials=4, fine_trials=2,
                          workers=2, schedule=PulseSchedule(pulses_per_pair=20, cooldown_s=5.0))
    quiet = _digest(plan_treatment(case, options), tmp_path / "quiet.yaml")
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        loaded = _digest(plan_treatment(case, options), tmp_path / "loaded.yaml")
    finally:
        hog.kill()
        hog.wait()
    alone = _digest(plan_treatment(case, replace(options, workers=1)), tmp_path / "one.yaml")
    assert quiet == loaded == alone
