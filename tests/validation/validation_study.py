"""The synthetic study's truth, shared by the validation tests (imported by name; several test
folders have a conftest, so constants do not live there)."""

from __future__ import annotations

TRUE_THRESHOLD_V_PER_CM = 500.0
"""The study's known lethal threshold (the median over procedures)."""
TRUE_CONDUCTIVITY_SCALE = 1.15
"""Measured first-pulse currents are the true model's times this."""
