"""The small plan the robustness tests share (imported by name: robust_cases)."""

from __future__ import annotations

SMALL_PLAN = {
    "name": "small-plan",
    "domain": {"size_mm": [40, 40, 32], "spacing_mm": 2.0},
    "anatomy": {"background": "liver", "regions": [
        {"tissue": "tumour", "sphere": {"center_mm": [0, -1, 0], "radius_mm": 5}},
        {"tissue": "blood", "cylinder": {"start_mm": [-20, 11, -16], "end_mm": [20, 11, 16],
                                         "radius_mm": 2}},
    ]},
    "probes": [
        {"name": "P1", "tip_mm": [-7, -1, -9], "direction": [0, 0, 1], "exposed_mm": 18,
         "diameter_mm": 2.2},
        {"name": "P2", "tip_mm": [7, -1, -9], "direction": [0, 0, 1], "exposed_mm": 18,
         "diameter_mm": 2.2},
    ],
    "protocol": {"pulses": 20, "pulse_width_us": 90,
                 "pairs": [{"anode": "P1", "cathode": "P2", "voltage_V": 2400}]},
    "tissues": {"liver": {"like": "liver-sel2005"}, "tumour": {"like": "tumour-sel2005"}},
}
"""A 10 mm tumour between two probes 14 mm apart at 2400 V, a 4 mm vessel 5 mm from the
tumour, on a 2 mm grid (12,800 voxels). The probes are 2.2 mm thick, thicker than the grid's
spacing, so that a probe moved anywhere still meets grid edges (irelab.robust refuses coarser
grids). The unperturbed plan covers the tumour with a 3 mm margin (voxel centres to the
zone's edge), and the default uncertainty model makes some samples miss it; 20 pulses keep the
thermal model short. The liver and tumour are pinned to the Sel et al. 2005 presets the figures
here were measured with (the tests are about the study, not the tissue model; the default
presets may change)."""
