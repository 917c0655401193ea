"""Re-planning for the probes as placed, on hand-written plans whose field is solved on a 1 mm
grid: a probe 2.5 mm further out and 3 degrees tilted loses coverage and its pair is raised
until a fresh simulation of the written plan (irelab.simulation.simulate_case, no warm start)
covers the target again; probes closer than planned are lowered to the current limit; a pair at
its limit gets a new pair beside it; with nothing left, the probe is re-inserted. The voltages
of a re-plan are deterministic (the written plan is byte-identical between runs). The plans pin
the Sel 2005 tissues their voltages were chosen with: re-planning, not the tissue model, is
under test."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from irelab.case import case_text, parse_case
from irelab.cli.main import app
from irelab.delivery import GeneratorConfig, current_rise_factor
from irelab.errors import InputError
from irelab.procedure import (
    MeasuredKind,
    MeasuredProbes,
    PlacedField,
    ReplanOptions,
    TargetRegion,
    replan,
)
from irelab.simulation import simulate_case

TWO = """\
name: two
domain: {size_mm: [24, 24, 24], spacing_mm: 1.0}
anatomy:
  background: liver
  regions:
    - {tissue: tumour, sphere: {center_mm: [0, 0, 0], radius_mm: 2}}
tissues: {liver: {like: liver-sel2005}, tumour: {like: tumour-sel2005}}
probes:
  - {name: A, tip_mm: [-5, 0, -7], direction: [0, 0, 1], exposed_mm: 14}
  - {name: B, tip_mm: [5, 0, -7], direction: [0, 0, 1], exposed_mm: 14}
protocol:
  pairs: [{anode: A, cathode: B, voltage_V: 1450}]
"""
SQUARE = """\
name: square
domain: {size_mm: [24, 24, 24], spacing_mm: 1.0}
anatomy:
  background: liver
  regions:
    - {tissue: tumour, sphere: {center_mm: [0, 0, 0], radius_mm: 2}}
tissues: {liver: {like: liver-sel2005}, tumour: {like: tumour-sel2005}}
probes:
  - {name: P1, tip_mm: [4, 4, -7], direction: [0, 0, 1], exposed_mm: 14}
  - {name: P2, tip_mm: [-4, 4, -7], direction: [0, 0, 1], exposed_mm: 14}
  - {name: P3, tip_mm: [-4, -4, -7], direction: [0, 0, 1], exposed_mm: 14}
  - {name: P4, tip_mm: [4, -4, -7], direction: [0, 0, 1], exposed_mm: 14}
protocol:
  pairs:
    - {anode: P1, cathode: P2, voltage_V: 1400}
    - {anode: P3, cathode: P4, voltage_V: 1400}
"""
MARGIN_MM = 2.0
TILT = (math.sin(math.radians(3)), 0.0, math.cos(math.radians(3)))


def _plan(text: str):
    return parse_case(yaml.safe_load(text), source="plan.yaml", base_dir=Path.cwd())


def _moved(plan, index: int, tip: tuple, direction: tuple = TILT) -> MeasuredProbes:
    probes = list(plan.probes)
    probes[index] = replace(probes[index], tip_mm=tip, direction=direction)
    return MeasuredProbes("measured.csv", MeasuredKind.TIPS, tuple(probes),
                          tuple(f"line {k + 2}" for k in range(len(probes))))


def _simulated_coverage(case) -> float:
    """Coverage of the target by a fresh ``simulate_case`` of ``case`` (the check an outside
    reader would do with ``irelab simulate``)."""
    result = simulate_case(case)
    placed = PlacedField(case, TargetRegion.of(case, MARGIN_MM))
    return float((placed.counted & result.lethal).sum() / placed.counted.sum())


@pytest.fixture(scope="module")
def raised():
    plan = _plan(TWO)
    return plan, replan(plan, _moved(plan, 1, (7.5, 0.0, -7.0)),
                        ReplanOptions(margin_mm=MARGIN_MM))


def test_a_probe_further_out_raises_its_pair_until_covered(raised) -> None:
    plan, result = raised
    assert result.planned.coverage == 1.0  # the plan covers at 1450 V
    assert result.as_placed.coverage < 0.95 and result.as_placed.uncovered_voxels > 0
    assert result.as_placed.margin_mm < result.planned.margin_mm
    assert result.covered and result.replanned.coverage >= result.planned.coverage
    (change,) = result.changes
    assert (change.kind, change.subject) == ("voltage", "A-B")
    (pair,) = result.case.protocol.pairs
    assert 1450 < pair.voltage_V <= 3000 and pair.voltage_V % 10 == 0
    assert _simulated_coverage(result.case) >= result.planned.coverage


def test_the_written_plan_records_where_it_came_from(raised) -> None:
    plan, result = raised
    record = result.case.replan
    assert (record.from_plan, record.measured) == ("plan.yaml", "measured.csv")
    assert record.coverage_as_placed == pytest.approx(result.as_placed.coverage, abs=1e-6)
    assert record.changes == result.changes
    assert result.case.probes[1].tip_mm == (7.5, 0.0, -7.0)  # the probe as placed
    reread = parse_case(yaml.safe_load(case_text(result.case)), "x.yaml")
    assert reread.replan == record


def test_the_same_input_gives_the_same_plan(raised) -> None:
    plan, result = raised
    again = replan(plan, _moved(plan, 1, (7.5, 0.0, -7.0)), ReplanOptions(margin_mm=MARGIN_MM))
    assert case_text(again.case) == case_text(result.case)
    assert again.solves == result.solves


def test_probes_closer_than_planned_lower_a_pair_to_the_current_limit() -> None:
    """A 7 A limit (instead of 50 A, so that the 1 mm phantom reaches it): the rise over the
    pulse train (x1.24) leaves 5.6 A for the first pulse, which the planned 1450 V keeps at the
    planned 10 mm spacing but not at 7.5 mm."""
    plan = _plan(TWO)
    config = GeneratorConfig(current_limit_A=7.0)
    result = replan(plan, _moved(plan, 1, (2.5, 0.0, -7.0), (0.0, 0.0, 1.0)),
                    ReplanOptions(margin_mm=MARGIN_MM, generator=config))
    cap = config.current_limit_A / current_rise_factor(config, plan.protocol.pulses)
    assert result.planned.currents_A[next(iter(result.planned.currents_A))] <= cap
    assert max(result.as_placed.currents_A.values()) > cap
    (pair,) = result.case.protocol.pairs
    assert pair.voltage_V < 1450 and pair.predicted_current_A <= cap
    assert [c.kind for c in result.changes] == ["voltage"] and "lowered" in \
        result.changes[0].detail
    assert result.covered


def test_a_pair_at_its_limit_gets_a_new_pair_beside_it() -> None:
    """Both pairs of the square at the (lowered) voltage limit: P1 2.5 mm out cannot be made
    good by raising, a diagonal or side pair is added."""
    plan = _plan(SQUARE)
    result = replan(plan, _moved(plan, 0, (6.5, 4.0, -7.0)),
                    ReplanOptions(margin_mm=MARGIN_MM,
                                  generator=GeneratorConfig(max_voltage_V=1400)))
    assert result.as_placed.coverage < result.planned.coverage
    assert result.covered and result.replanned.coverage >= result.planned.coverage
    kinds = [c.kind for c in result.changes]
    assert kinds == ["pair"] and len(result.case.protocol.pairs) == 3
    added = result.case.protocol.pairs[2]
    assert added.voltage_V <= 1400 and added.predicted_current_A is not None


def test_with_nothing_else_left_the_probe_is_reinserted() -> None:
    """Two probes, one pair already at the voltage limit: no pair to raise or add."""
    plan = _plan(TWO)
    result = replan(plan, _moved(plan, 1, (7.5, 0.0, -7.0)),
                    ReplanOptions(margin_mm=MARGIN_MM,
                                  generator=GeneratorConfig(max_voltage_V=1450)))
    (change,) = result.changes
    assert (change.kind, change.subject) == ("reposition", "B")
    assert "2.5 mm off its axis" in change.detail and "3.0 degrees" in change.detail
    assert result.case.probes == plan.probes and result.covered


def test_probes_as_planned_need_no_change() -> None:
    plan = _plan(TWO)
    result = replan(plan, _moved(plan, 1, (5.0, 0.0, -7.0), (0.0, 0.0, 1.0)),
                    ReplanOptions(margin_mm=MARGIN_MM))
    assert result.changes == () and result.covered and result.solves == 2
    assert result.case.protocol.pairs[0].voltage_V == 1450
    assert np.isclose(result.replanned.margin_mm, result.planned.margin_mm)


def test_the_command_refuses_a_bad_measurement_naming_the_row(tmp_path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(TWO, encoding="utf-8")
    measured = tmp_path / "measured.csv"
    measured.write_text("name,tip_x_mm,tip_y_mm,tip_z_mm,direction_x,direction_y,direction_z\n"
                        "A,-5,0,-7,0,0,1\nC,5,0,-7,0,0,1\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["replan", str(plan), "--measured", str(measured)])
    assert isinstance(result.exception, InputError)
    assert (result.exception.source, result.exception.key) == (str(measured), "line 3.name")
