"""Every phantom of the planning test set through the real commands: ``irelab plan`` (2 mm
confirmation grid, for test time; the benchmark plans them at 1 mm), then ``irelab simulate
plan.yaml`` confirms the tumour is covered and ``irelab deliver plan.yaml --hr 70`` delivers
every pulse without a current abort. A phantom the planner calls infeasible must show which
constraint fails, with numbers, and that repositioning and the alternative layouts were tried.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from irelab.cli.main import app
from irelab.plan.testset import PLANNING_SET

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "planning-set"


@pytest.mark.slow
@pytest.mark.parametrize("spec", PLANNING_SET, ids=lambda s: s.name)
def test_each_phantom_plans_simulates_and_delivers(spec, tmp_path) -> None:
    runner = CliRunner()
    out = tmp_path / "plan"
    planned = runner.invoke(app, ["plan", str(FOLDER / f"{spec.name}.yaml"), "--spacing-mm",
                                  "2", "--json", "--out", str(out)])
    assert planned.exit_code in (0, 1), planned.output
    data = json.loads(planned.stdout)
    assert data["margin_mm"] == 5
    if planned.exit_code == 1:  # infeasible: proven with numbers and what was tried
        assert data["failures"] and all(any(c.isdigit() for c in f) for f in data["failures"])
        stages = {step["stage"].split(" ")[0] for step in data["tried"]}
        assert {"reposition", "alternative"} <= stages, data["tried"]
        pytest.fail(f"{spec.name} infeasible: {data['failures']}")
    assert data["feasible"] and data["tumour_covered"] and data["margin_met"]

    simulated = runner.invoke(app, ["simulate", str(out / "plan.yaml"), "--json"])
    assert simulated.exit_code == 0, simulated.output
    assert json.loads(simulated.stdout)["regions"]["tumour"]["lethal_fraction"] == 1.0

    delivered = runner.invoke(app, ["deliver", str(out / "plan.yaml"), "--hr", "70", "--json"])
    assert delivered.exit_code == 0, delivered.output
    assert json.loads(delivered.stdout)["outcome"] == "complete"
