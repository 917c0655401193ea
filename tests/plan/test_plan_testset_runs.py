"""Every phantom of the planning test set planned, then checked by the real commands: the plan
is made on a 2 mm grid with a smaller search budget (test time; ``benchmarks/plan.py`` plans them
at 1 mm with the full budget) and written as plan.yaml; ``irelab simulate plan.yaml`` confirms
that the tumour is covered and ``irelab deliver plan.yaml --hr 70 --checklist FILE`` (every
pre-arm item confirmed) delivers every pulse without a current abort. A phantom the planner
calls infeasible must show which constraint fails, with numbers, and that repositioning and the
alternative layouts were tried; only the phantoms of :data:`SHOWN_INFEASIBLE` may be.

Every run of the suite plans the phantoms of :data:`EVERY_RUN` (one of each kind the planner
treats in seconds on a 2 mm grid); ``IRELAB_PLANNING_SET=all`` plans all of them (about 20 min on
2 cores: the 40-50 mm tumours take 3-4 min each), as ``benchmarks/plan.py`` does at 1 mm.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from irelab.case import load_case, write_case
from irelab.cli.main import app
from irelab.plan import PlanOptions, plan_treatment
from irelab.plan.output import plan_json
from irelab.plan.testset import PLANNING_SET

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "planning-set"

OPTIONS = PlanOptions(fine_spacing_m=2e-3, screen_keep=2, coarse_trials=8, fine_trials=4)
"""The test's budget: the default margin (5 mm), limits and pulse schedule; 2 mm grid."""

EVERY_RUN = ("s10-central", "s15-subcapsular-duct", "s20-hepatic-vein", "s25-between-vessels",
             "e25x15-bile-duct", "l20-subcapsular")
"""Small and mid-sized tumours: central, sub-capsular beside a duct, beside a vein, between two
vessels, an ellipsoid beside a bile duct, a lobulated sub-capsular one (design choice: the
suite's time; the rest are planned with ``IRELAB_PLANNING_SET=all``)."""

SHOWN_INFEASIBLE = {"s50-central": "held there by the 50 A current limit"}
"""Phantoms the planner shows infeasible, and the words its failing tumour check must carry. A
50 mm tumour with its 5 mm margin is a 60 mm target: every pair at the array's edge is held
below the voltage limit by the generator's current limit (the tumour conducts three times
better than liver), and the alternatives (shorter electrodes with more pullbacks, closer
probes, two more sideways placements) leave part of the tumour under its threshold. Measured at
1 mm: 4.7 cm3 short, the strongest pair there at 1660 V would need about 3843 V; at 2 mm with
five extra placements (nine in all, 21 mm electrodes) still 0.88 cm3 short."""

SELECTED = [spec for spec in PLANNING_SET
            if os.environ.get("IRELAB_PLANNING_SET") == "all" or spec.name in EVERY_RUN]

CHECKLIST = """\
armed_at: 2026-12-01T09:30:00
items:
  general_anaesthesia: {confirmed_by: A, time: 2026-12-01T09:05:00}
  neuromuscular_block: {confirmed_by: A, time: 2026-12-01T09:20:00, tof_count: 0}
  ecg_synchroniser: {confirmed_by: B, time: 2026-12-01T09:22:00}
  probe_positions: {confirmed_by: C, time: 2026-12-01T09:26:00}
  exposed_lengths: {confirmed_by: C, time: 2026-12-01T09:27:00}
"""
"""Every pre-arm item confirmed before arming (the format of ``irelab.delivery.checklist``)."""


@pytest.mark.slow
@pytest.mark.parametrize("spec", SELECTED, ids=lambda s: s.name)
def test_each_phantom_plans_simulates_and_delivers(spec, tmp_path) -> None:
    runner = CliRunner()
    result = plan_treatment(load_case(FOLDER / f"{spec.name}.yaml"), OPTIONS)
    plan_file = write_case(result.case, tmp_path / "plan.yaml")
    data = json.loads(json.dumps(plan_json(result, 0.0)))
    assert data["margin_mm"] == 5
    if not result.feasible:  # infeasible: proven with numbers and what was tried
        assert data["failures"] and all(any(c.isdigit() for c in f) for f in data["failures"])
        stages = {step["stage"].split(" ")[0] for step in data["tried"]}
        assert {"reposition", "alternative"} <= stages, data["tried"]
        if spec.name in SHOWN_INFEASIBLE:
            assert SHOWN_INFEASIBLE[spec.name] in data["failures"][0], data["failures"]
            assert not data["tumour_covered"]
            return
        pytest.fail(f"{spec.name} infeasible: {data['failures']}")
    assert spec.name not in SHOWN_INFEASIBLE, f"{spec.name} is feasible now: update the list"
    assert data["feasible"] and data["tumour_covered"] and data["margin_met"]

    simulated = runner.invoke(app, ["simulate", str(plan_file), "--json"])
    assert simulated.exit_code == 0, simulated.output
    assert json.loads(simulated.stdout)["regions"]["tumour"]["lethal_fraction"] == 1.0

    checklist = tmp_path / "checklist.yaml"
    checklist.write_text(CHECKLIST, encoding="utf-8")
    delivered = runner.invoke(app, ["deliver", str(plan_file), "--hr", "70", "--checklist",
                                    str(checklist), "--json"])
    assert delivered.exit_code == 0, delivered.output
    assert json.loads(delivered.stdout)["outcome"] == "complete"
