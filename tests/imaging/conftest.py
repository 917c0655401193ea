"""Fixtures of the imaging tests: the synthetic abdomen CT (axial and oblique) with its
segmentations in every format, written once per test session into a temporary directory."""

from __future__ import annotations

import pytest

from irelab.imaging import PHANTOM_FORMATS, write_phantom


@pytest.fixture(scope="session")
def axial(tmp_path_factory):
    """1 x 1 x 2.5 mm axial series with a DICOM SEG, RTSTRUCT, .seg.nrrd, label map and a
    TotalSegmentator-style folder."""
    return write_phantom(tmp_path_factory.mktemp("axial"), oblique=False, formats=PHANTOM_FORMATS)


@pytest.fixture(scope="session")
def oblique(tmp_path_factory):
    """1 x 1 x 3 mm series tilted 12 degrees and turned 15 degrees, same formats."""
    return write_phantom(tmp_path_factory.mktemp("oblique"), oblique=True,
                         formats=PHANTOM_FORMATS)


@pytest.fixture(params=["axial", "oblique"])
def phantom(request):
    """Each phantom variant in turn."""
    return request.getfixturevalue(request.param)
