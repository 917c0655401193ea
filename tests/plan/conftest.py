"""Fixtures of the planner tests."""

from __future__ import annotations

import pytest

from irelab.plan import PlanOptions
from irelab.thermal import PulseSchedule


@pytest.fixture
def quick_options() -> PlanOptions:
    """Coarse 2 mm search, 1 mm confirmation, a short pulse schedule (test speed)."""
    return PlanOptions(margin_m=3e-3, screen_keep=2, refine=False, workers=1,
                       schedule=PulseSchedule(pulses_per_pair=20, cooldown_s=5.0))
