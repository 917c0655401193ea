"""Progress of a long command on stderr: a Rich bar on a terminal, otherwise log lines.

A log (stderr redirected to a file, a CI job) gets one line per new stage and at least one
every :data:`PROGRESS_EVERY_S` seconds within a stage, each ending with the percentage and the
elapsed time (``label: stage  NN %  M:SS``), and never wrapped: a console that is not a
terminal would otherwise break a long stage at 80 columns and a line-by-line reader would see
two lines. Events that must each be seen (a finished Monte Carlo sample) print at once, in the
same form.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["PROGRESS_EVERY_S", "ProgressLines", "progress_reporter"]

PROGRESS_EVERY_S = 10.0
"""Seconds between progress lines within one stage when stderr is not a terminal (a log)."""


class ProgressLines:
    """Progress lines for a console that is not a terminal (module doc). ``head(stage)``: the
    part of a stage's text that names the stage (a new head gets a line at once); by default
    the text before its first colon."""

    def __init__(self, console, label: str,
                 head: Callable[[str], str] = lambda stage: stage.split(":")[0]) -> None:
        self.console = console
        self.label = label
        self.head = head
        self.start = time.monotonic()
        self._shown_stage: str | None = None
        self._shown_at = self.start

    def stage(self, stage: str, fraction: float) -> None:
        """A line when the stage's head is new or ``PROGRESS_EVERY_S`` have passed since the
        last line."""
        now = time.monotonic()
        head = self.head(stage)
        if head != self._shown_stage or now - self._shown_at >= PROGRESS_EVERY_S:
            self.event(stage, fraction)
            self._shown_stage, self._shown_at = head, now

    def event(self, text: str, fraction: float) -> None:
        """A line now."""
        elapsed = int(time.monotonic() - self.start)
        self.console.print(f"{self.label}: {text}  {100 * fraction:3.0f} %  "
                           f"{elapsed // 60}:{elapsed % 60:02d}", highlight=False,
                           soft_wrap=True)


@contextmanager
def progress_reporter(console, label: str) -> Iterator[Callable[[str, float], None]]:
    """``tell(stage, fraction)`` for a long command: a Rich bar on a terminal, else
    :class:`ProgressLines`."""
    if console.is_terminal:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(SpinnerColumn(), TextColumn("{task.description}"),
                      TextColumn("{task.percentage:>3.0f} %"), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task(label, total=1.0)

            def tell(stage: str, fraction: float) -> None:
                bar.update(task, description=f"{label}: {stage}", completed=fraction)

            yield tell
        return
    yield ProgressLines(console, label).stage
