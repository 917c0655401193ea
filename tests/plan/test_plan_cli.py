"""``irelab plan`` end to end: the written plan.yaml reproduces the reported coverage."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml
from plan_cases import case_track
from typer.testing import CliRunner

from irelab.case import load_case
from irelab.cli.main import app
from irelab.field import FieldSolver
from irelab.plan import build_target

SMALL_CASE = {
    "name": "small-tumour",
    "domain": {"size_mm": [36, 36, 30], "spacing_mm": 1.0},
    "anatomy": {"background": "liver", "regions": [
        {"tissue": "tumour", "sphere": {"center_mm": [0, 0, 0], "radius_mm": 4}},
        {"tissue": "blood", "cylinder": {"start_mm": [-18, 10, 0], "end_mm": [18, 10, 0],
                                         "radius_mm": 1.5}},
    ]},
}


@pytest.mark.slow
def test_plan_command_writes_a_case_that_reproduces_its_coverage(tmp_path) -> None:
    """Coverage printed by ``irelab plan --json`` equals a recomputation from plan.yaml alone:
    the plan file is loaded with ``irelab.case.load_case``, each protocol pair solved with a
    fresh FieldSolver, |E| maximised over pairs and compared with each voxel's tissue e_irr,
    over tumour + 3 mm margin (minus the needle tracks and critical structures)."""
    case_file = tmp_path / "case.yaml"
    case_file.write_text(yaml.safe_dump(SMALL_CASE))
    out = tmp_path / "plan"
    run = CliRunner().invoke(app, ["plan", str(case_file), "--margin-mm", "3", "--json",
                                   "--out", str(out)])
    assert run.exit_code in (0, 1), run.output
    data = json.loads(run.stdout.strip().splitlines()[-1])
    assert {"coverage", "healthy_volume_cm3", "probes", "pairs", "runtime_s"} <= set(data)
    assert all(p["voltage_V"] <= 3000 and p["current_A"] <= 50 for p in data["pairs"])
    assert (out / "plan.html").exists()

    plan = load_case(out / "plan.yaml")
    assert [p.predicted_current_A for p in plan.protocol.pairs] == [
        p["current_A"] for p in data["pairs"]]
    problem = plan.field_problem()
    max_e = np.zeros(problem.grid.shape)
    solver = FieldSolver(problem)
    for pair in plan.protocol.pairs:
        sol = solver.solve_pair(pair.anode, pair.cathode, pair.voltage_V)
        max_e = np.maximum(max_e, sol.e_field_V_per_m)
        assert sol.current_A == pytest.approx(pair.predicted_current_A, abs=0.01)
    target = build_target(problem, margin_m=3e-3)
    counted = target.target & ~case_track(plan, problem.grid)
    lethal = max_e >= target.lethal_threshold_V_per_m
    recomputed = (lethal & counted).sum() / counted.sum()
    assert recomputed == pytest.approx(data["coverage"], abs=1e-6)
    assert data["coverage"] == 1.0
    assert run.exit_code == 0


def _case_file(tmp_path, regions, name="case") -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name,
                                    "domain": {"size_mm": [30, 30, 26], "spacing_mm": 1.0},
                                    "anatomy": {"background": "liver", "regions": regions}}))
    return str(path)


TINY = [{"tissue": "tumour", "sphere": {"center_mm": [0, 0, 0], "radius_mm": 3}}]


def test_max_current_plans_every_pair_to_the_lower_limit(tmp_path) -> None:
    """``--max-current-a 20``: on the tiny case the default plan's strongest pair rises above
    20 A over its train (measured: 43.8 A); planned to 20 A, every pair's current stays within
    20 A on every pulse (the checks say so, with the limit) and the tumour is still covered
    (more, weaker pairs). Above the generator's 50 A, or not above 0, it is bad input (exit 2,
    naming the option)."""
    case = _case_file(tmp_path, TINY)

    def planned(*extra: str) -> dict:
        run = CliRunner().invoke(app, ["plan", case, "--json", *extra])
        assert run.exit_code == 0, run.output
        return json.loads(run.stdout.strip().splitlines()[-1])

    def peaks(data: dict) -> list[float]:
        return [float(re.search(r"rising to ([0-9.]+) A", c["message"]).group(1))
                for c in data["checks"] if c["name"].startswith("current ")]

    assert max(peaks(planned())) > 20
    limited = planned("--max-current-a", "20")
    assert limited["feasible"] and limited["tumour_covered"]
    assert max(peaks(limited)) <= 20
    assert all(c["message"].endswith("<= 20 A") for c in limited["checks"]
               if c["name"].startswith("current "))
    for bad in ("60", "0"):
        run = subprocess.run([sys.executable, "-m", "irelab.cli.main", "plan", case,
                              "--max-current-a", bad], capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 2, run.stderr
        assert "--max-current-a" in run.stderr and "50 A" in run.stderr


def test_a_case_without_a_tumour_is_bad_input_exit_2(tmp_path) -> None:
    """No tissue with the target role: the case is not a planning case (exit 2, one line)."""
    liver_only = _case_file(tmp_path, [{"tissue": "blood", "cylinder": {
        "start_mm": [-15, 8, 0], "end_mm": [15, 8, 0], "radius_mm": 1.5}}])
    run = subprocess.run([sys.executable, "-m", "irelab.cli.main", "plan", liver_only],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr
    assert "role" in run.stderr and "target" in run.stderr


def test_a_target_no_probe_can_reach_exits_1_with_the_reason(tmp_path) -> None:
    """A vessel slab over the whole tumour: every probe shaft (along +z) would cross it, so
    no layout exists; the command says why and exits 1 (a valid case whose goal is not met)."""
    walled = _case_file(tmp_path, [*TINY, {"tissue": "blood", "box": {
        "min_mm": [-15, -15, 6], "max_mm": [15, 15, 9]}}])
    run = subprocess.run([sys.executable, "-m", "irelab.cli.main", "plan", walled],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    assert "cannot be reached" in run.stderr and "critical structure" in run.stderr


@pytest.mark.slow
def test_progress_lines_json_contract_and_a_wall_clock_cut(tmp_path) -> None:
    """Through the command line (stderr is not a terminal): the requested margin is printed,
    progress comes as lines with stage, percentage and elapsed time; --json carries the
    documented keys plus the work budget and the steps tried. With --max-minutes so short
    that it passes at the first check, the plan is still written, says it was cut short, and
    the command exits 1."""
    case = _case_file(tmp_path, TINY)
    run = subprocess.run([sys.executable, "-m", "irelab.cli.main", "plan", case, "--json",
                          "--margin-mm", "3", "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    assert "3 mm margin requested" in run.stderr
    stages = [line for line in run.stderr.splitlines() if line.startswith("plan: ")]
    assert any(line.startswith("plan: search") for line in stages)
    assert all(re.search(r" +\d+ %  \d+:\d\d$", line) for line in stages)
    data = json.loads(run.stdout)
    assert {"feasible", "coverage", "healthy_volume_cm3", "probes", "pairs", "runtime_s",
            "pullback_positions", "placements", "thermal", "failures"} <= set(data)
    assert data["margin_mm"] == 3 and data["tumour_covered"] and data["margin_met"]
    assert data["deterministic_budget"]["coarse_trials"] == 24
    assert data["deterministic_budget"]["used"]["confirmation_pair_solves"] > 0
    assert [s["stage"] for s in data["tried"]][:2] == ["search", "search"]
    assert data["cut_short"] is False
    assert (data["schedule"]["test_pulses"], data["schedule"]["pulses_per_pair"]) == (10, 90)
    assert "margin requested 3 mm" in (tmp_path / "out" / "plan.yaml").read_text()

    cut = subprocess.run([sys.executable, "-m", "irelab.cli.main", "plan", case, "--json",
                          "--margin-mm", "3", "--max-minutes", "0.0001"],
                         capture_output=True, text=True, timeout=900)
    assert cut.returncode == 1, cut.stderr
    assert "cut short" in cut.stderr
    assert json.loads(cut.stdout)["cut_short"] is True
