"""Helpers shared by the imaging tests (imported by name, as the other test folders' helper
modules are)."""

from __future__ import annotations

import numpy as np

from irelab.case import Case, Pair, Probe, Protocol
from irelab.imaging import PHANTOM_TUMOUR_CENTRE_MM, ImageGeometry

TUMOUR_NAMES = {"dicom-seg": "Liver metastasis", "rtstruct": "GTV", "slicer": "tumor",
                "labelmap": "tumor", "totalseg": "liver_tumor"}
"""The tumour segment's name in each of the phantom's segmentation files."""

TRUTH_MM = np.asarray(PHANTOM_TUMOUR_CENTRE_MM)


def half_voxel_mm(geometry: ImageGeometry) -> float:
    """Half the largest voxel side: the alignment tolerance (a voxel's centre stands for
    everything within half a voxel of it)."""
    return max(geometry.spacing_mm) / 2


def centroid_mm(mask: np.ndarray, geometry: ImageGeometry) -> np.ndarray:
    """World (LPS mm) centroid of a mask on a lattice."""
    return geometry.to_world(np.argwhere(mask)).mean(axis=0)


def anterior_plan(case: Case) -> Case:
    """Four parallel anterior probes 9 mm around the phantom tumour's centre (a plan made by
    hand, so that export tests need no planner run)."""
    u = (0.0, -1.0, 0.0)
    c = TRUTH_MM
    probes = tuple(Probe(f"P{k + 1}", (float(c[0] + dx), float(c[1] + 12.0), float(c[2] + dz)),
                         u, 1.1, 24.0)
                   for k, (dx, dz) in enumerate([(-9, 0), (9, 0), (0, -9), (0, 9)]))
    return case.with_plan(probes, Protocol(pairs=(Pair("P1", "P2", 2500.0),
                                                  Pair("P3", "P4", 2500.0))))
