"""``irelab plan`` end to end: the written plan.yaml reproduces the reported coverage."""

from __future__ import annotations

import json

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
