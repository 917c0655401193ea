"""Plans of the procedure tests, written by hand (no planner run): small domains on a 1 mm grid,
probes parallel to z."""

from __future__ import annotations

from pathlib import Path

import pytest

from irelab.case import Case, load_case

SQUARE = """\
name: square
domain: {size_mm: [40, 40, 40], spacing_mm: 1.0}
anatomy:
  background: liver
  regions:
    - {tissue: tumour, sphere: {center_mm: [0, 0, 0], radius_mm: 4}}
probes:
  - {name: P1, tip_mm: [5, 5, -8], direction: [0, 0, 1], exposed_mm: 16}
  - {name: P2, tip_mm: [-5, 5, -8], direction: [0, 0, 1], exposed_mm: 16}
  - {name: P3, tip_mm: [-5, -5, -8], direction: [0, 0, 1], exposed_mm: 16}
  - {name: P4, tip_mm: [5, -5, -8], direction: [0, 0, 1], exposed_mm: 16}
protocol:
  pairs:
    - {anode: P1, cathode: P2, voltage_V: 1500}
    - {anode: P3, cathode: P4, voltage_V: 1500}
"""


@pytest.fixture()
def square(tmp_path: Path) -> Case:
    """Four probes on a 10 mm square around a 4 mm tumour (no field solved)."""
    path = tmp_path / "square.yaml"
    path.write_text(SQUARE, encoding="utf-8")
    return load_case(path)
