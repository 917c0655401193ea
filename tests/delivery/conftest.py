"""Shared fixtures of the delivery tests: the MIT-BIH records (tests/data/mitdb, ODC-By 1.0, see
its README), a two-pair plan and a complete pre-arm checklist record."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

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


CHECKLIST_YAML = """\
armed_at: 2026-12-01T09:30:00
items:
  general_anaesthesia: {confirmed_by: Dr A. Anaesthetist, time: 2026-12-01T09:05:00}
  neuromuscular_block: {confirmed_by: Dr A. Anaesthetist, time: 2026-12-01T09:20:00,
                        tof_count: 0}
  ecg_synchroniser: {confirmed_by: N. Nurse, time: 2026-12-01T09:22:00}
  probe_positions: {confirmed_by: Dr R. Radiologist, time: 2026-12-01T09:26:00,
                    note: CT after placement}
  exposed_lengths: {confirmed_by: Dr R. Radiologist, time: 2026-12-01T09:27:00}
"""


@pytest.fixture()
def checklist_mapping() -> dict:
    """The content of :data:`CHECKLIST_YAML` (a fresh copy per test)."""
    return yaml.safe_load(CHECKLIST_YAML)


@pytest.fixture()
def checklist_file(tmp_path: Path) -> Path:
    """Every pre-arm item confirmed before arming, no count entered during delivery."""
    path = tmp_path / "checklist.yaml"
    path.write_text(CHECKLIST_YAML, encoding="utf-8")
    return path
