"""Fixtures of the robustness tests: a small plan that solves in a fraction of a second."""

from __future__ import annotations

import pytest
from robust_cases import SMALL_PLAN

from irelab.case import Case, parse_case


@pytest.fixture
def small_plan() -> Case:
    return parse_case(SMALL_PLAN, source="<small plan>")
