"""What the planner tried, the work it spent, and the one clock it may obey.

Every search of the planner is bounded by counted work (layouts screened and solved, trial
moves, placements added, alternative layouts confirmed, thermal repairs), never by seconds:
the same case and options give the same plan on any machine and under any load. The only clock
is an explicit wall-clock limit the user asks for (``irelab plan --max-minutes``); once it
passes, every stage stops at its next step, the result is marked ``cut_short`` and says so.

The :class:`Journal` is handed from stage to stage: it records each step (what was tried and
what it gave, in words with numbers, for the report and ``--json``'s ``tried``), forwards
progress and keeps the clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Step", "Journal"]

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Step:
    """One step the planner took: the stage, what it tried and what came of it."""

    stage: str
    action: str
    outcome: str

    def text(self) -> str:
        return f"{self.stage}: {self.action} -> {self.outcome}"


class Journal:
    """The steps taken, progress and the optional wall-clock limit of one planning run.

    ``max_minutes`` None: no clock at all (the default; the plan then depends on the case and
    the options only).
    """

    def __init__(self, progress: Progress | None = None,
                 max_minutes: float | None = None) -> None:
        self._progress = progress
        self._deadline = (None if max_minutes is None
                          else time.monotonic() + 60.0 * max_minutes)
        self._steps: list[Step] = []
        self.cut_short = False
        """True once the wall-clock limit stopped a stage early."""
        self.prefix = ""
        """Put before every stage's progress message (a re-plan says which it is)."""

    def note(self, stage: str, action: str, outcome: str) -> None:
        self._steps.append(Step(stage, action, outcome))

    def progress(self, stage: str, fraction: float) -> None:
        if self._progress is not None:
            self._progress(self.prefix + stage, fraction)

    def out_of_time(self) -> bool:
        """Whether the user's wall-clock limit has passed (never without one). Stages ask
        before each step they could skip; the first ``True`` marks the run ``cut_short``."""
        if self._deadline is None:
            return False
        if time.monotonic() >= self._deadline:
            self.cut_short = True
        return self.cut_short

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(self._steps)
