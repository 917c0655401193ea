"""Published reference data shipped with irelab, one CSV file per table with a ``citation``
column, read by one small function each (the pattern of lifelines' ``datasets``).

- ``evidence_counts.csv``: published event counts of IRE series for liver tumours (one row per
  series and outcome): ``series, year, outcome, events, total, unit, citation, note,
  provenance``. ``outcome`` names an :class:`irelab.outcomes.evidence.Outcome`; ``provenance``
  is ``ABSTRACT`` (read from the series' own abstract) or ``AS_QUOTED`` (second-hand, not
  verified). Which figure comes from where is told in :mod:`irelab.outcomes.evidence`.
- ``evidence_estimates.csv``: published time-point estimates (e.g. recurrence-free survival at
  6 months): ``series, outcome, time_months, estimate, n, unit, citation, note, provenance``.

Empty cells are None. The loaders return plain records (no pandas, so importing the outcome
analysis stays light); :mod:`irelab.outcomes.evidence` turns them into typed rows.
"""

from __future__ import annotations

import csv
from importlib import resources

__all__ = ["load_evidence_counts", "load_evidence_estimates"]


def _load(name: str) -> tuple[dict[str, str | None], ...]:
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    return tuple({k: (v if v != "" else None) for k, v in row.items()} for row in rows)


def load_evidence_counts() -> tuple[dict[str, str | None], ...]:
    """The rows of ``evidence_counts.csv`` (module docstring), as text."""
    return _load("evidence_counts.csv")


def load_evidence_estimates() -> tuple[dict[str, str | None], ...]:
    """The rows of ``evidence_estimates.csv`` (module docstring), as text."""
    return _load("evidence_estimates.csv")
