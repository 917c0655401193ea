"""Shared fixtures of the delivery tests: the MIT-BIH records (tests/data/mitdb, ODC-By 1.0, see
its README) and a two-pair plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from irelab.delivery import DeliveryPlan, PairProtocol

MITDB = Path(__file__).resolve().parents[1] / "data" / "mitdb"


@pytest.fixture(scope="session")
def mitdb() -> Path:
    return MITDB


@pytest.fixture()
def two_pair_plan() -> DeliveryPlan:
    """Two pairs at 1500 V, 30 A predicted: 2 x (10 test + 90 treatment) pulses."""
    return DeliveryPlan("two", (PairProtocol("P1", "P2", 1500.0, 30.0),
                                PairProtocol("P2", "P3", 1500.0, 30.0)), 90, 90.0, "two.yaml")


PLAN_YAML = """\
name: two-needles
domain: {size_mm: [80, 80, 40], spacing_mm: 0.5}
anatomy: {background: liver}
probes:
  - {name: P1, tip_mm: [-7.5, 0, -10], direction: [0, 0, 1], exposed_mm: 20, diameter_mm: 1.1}
  - {name: P2, tip_mm: [7.5, 0, -10], direction: [0, 0, 1], exposed_mm: 20}
protocol:
  pulses: 90
  pulse_width_us: 90
  pairs:
    - {anode: P1, cathode: P2, voltage_V: 1500, predicted_current_A: 28.5}
"""


@pytest.fixture()
def plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN_YAML, encoding="utf-8")
    return path
