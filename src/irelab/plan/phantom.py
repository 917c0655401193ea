"""Built-in anatomical phantoms for planning, as case-file mappings.

Frame (both phantoms): x towards the patient's left, y posterior, z caudal. Probes enter
subcostally below the liver and advance cranially, so their shafts run towards +z: the default
insertion direction. The box is a block of the right lobe; its tissue is liver.

``segment8-30mm``: a 30 mm colorectal metastasis in segment 8 (superior, posterior, right:
centre at x < 0, y > 0, z < 0 in this frame), abutting a 6 mm branch of the right hepatic vein
that runs obliquely in front of it, with a 3 mm bile duct 7.6 mm from its surface (1 mm outside
the 5 mm margin). Hepatic vein branch calibre: segmental tributaries of the right hepatic vein
are 3-8 mm (anatomy texts, e.g. Couinaud's segmental anatomy); bile duct 3 mm: a segmental duct.

``elongated-55mm``: a 55 mm metastasis, 28 mm wide, elongated along the probes' axis (a capsule:
cylinder plus two hemispheres), so tumour plus margin is 65 mm long: more than the 40 mm
exposed maximum plus the zone's overhang, which forces pullbacks; a 5 mm vein runs parallel
beside it.

Box sizes keep the 1 mm confirmation grid near 0.3 M voxels (fast enough for the benchmark).
"""

from __future__ import annotations

import copy

__all__ = ["PHANTOMS", "phantom_mapping"]

_SEGMENT8 = {
    "name": "phantom-segment8-30mm",
    "domain": {"size_mm": [68, 68, 68], "spacing_mm": 1.0},
    "anatomy": {
        "background": "liver",
        "regions": [
            {"tissue": "tumour", "sphere": {"center_mm": [-4, 4, -3], "radius_mm": 15}},
            # right hepatic vein branch, 6 mm: axis passes 18 mm from the tumour centre
            {"tissue": "blood", "cylinder": {"start_mm": [-34, -14, -16],
                                             "end_mm": [34, -14, 9], "radius_mm": 3}},
            # segmental bile duct, 3 mm, 22.6 mm from the tumour centre
            {"tissue": "bile", "cylinder": {"start_mm": [18, -34, 2], "end_mm": [18, 34, 2],
                                            "radius_mm": 1.5}},
        ],
    },
}

_ELONGATED = {
    "name": "phantom-elongated-55mm",
    "domain": {"size_mm": [60, 60, 88], "spacing_mm": 1.0},
    "anatomy": {
        "background": "liver",
        "regions": [
            {"tissue": "tumour", "cylinder": {"start_mm": [0, 2, -15.5], "end_mm": [0, 2, 11.5],
                                              "radius_mm": 14}},
            {"tissue": "tumour", "sphere": {"center_mm": [0, 2, -15.5], "radius_mm": 14}},
            {"tissue": "tumour", "sphere": {"center_mm": [0, 2, 11.5], "radius_mm": 14}},
            {"tissue": "blood", "cylinder": {"start_mm": [-22, -12, -44],
                                             "end_mm": [-22, -12, 44], "radius_mm": 2.5}},
        ],
    },
}

PHANTOMS: dict[str, dict] = {"segment8-30mm": _SEGMENT8, "elongated-55mm": _ELONGATED}
"""Phantom case mappings by name (anatomy only: the planner adds probes and protocol)."""


def phantom_mapping(name: str) -> dict:
    """A fresh copy of a phantom's case mapping."""
    return copy.deepcopy(PHANTOMS[name])
