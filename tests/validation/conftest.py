"""The synthetic study shared by the compare and calibrate tests (written once per session)."""

from __future__ import annotations

import pytest
from validation_study import TRUE_CONDUCTIVITY_SCALE, TRUE_THRESHOLD_V_PER_CM

from irelab.validation.synthetic import synthetic_study


@pytest.fixture(scope="session")
def study(tmp_path_factory):
    """Six procedures: the first with scans whose follow-up is moved, every one with a
    delivery log (the first pair delivered 100 V below the plan)."""
    return synthetic_study(tmp_path_factory.mktemp("study"), procedures=6,
                           threshold_V_per_cm=TRUE_THRESHOLD_V_PER_CM, seed=3, moved=1,
                           logs=True, conductivity_scale=TRUE_CONDUCTIVITY_SCALE)
