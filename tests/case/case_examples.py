"""Small case mappings shared by the case and simulation tests (not a conftest: several test
folders have one, and importing ``conftest`` by name picks the wrong folder's)."""

from __future__ import annotations

import copy

TWO_NEEDLES = {
    "name": "two-needles-small",
    "domain": {"size_mm": [40, 40, 30], "spacing_mm": 1.0},
    "anatomy": {
        "background": "liver",
        "regions": [
            {"tissue": "tumour", "sphere": {"center_mm": [0, 0, 0], "radius_mm": 6}},
            {"tissue": "blood", "cylinder": {"start_mm": [-20, 10, 0], "end_mm": [20, 10, 0],
                                             "radius_mm": 2}},
        ],
    },
    "probes": [
        {"name": "P1", "tip_mm": [-5, 0, -8], "direction": [0, 0, 1], "exposed_mm": 15,
         "diameter_mm": 1.1},
        {"name": "P2", "tip_mm": [5, 0, -8], "direction": [0, 0, 1], "exposed_mm": 15},
    ],
    "protocol": {"pulses": 90, "pulse_width_us": 90,
                 "pairs": [{"anode": "P1", "cathode": "P2", "voltage_V": 1500}]},
}


def two_needles(**changes) -> dict:
    """A fresh copy of :data:`TWO_NEEDLES` with top-level keys replaced."""
    case = copy.deepcopy(TWO_NEEDLES)
    case.update(copy.deepcopy(changes))
    return case
