"""What the study report's sections share: the mark of a figure that could not be estimated, a
written figure with its caption, and a Kaplan-Meier landmark as text. Used by
:mod:`irelab.outcomes.report` and :mod:`irelab.outcomes.margin_report`, so every section shows
the same numbers the same way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from irelab.outcomes.survival import Landmark

#: What a table cell shows for a figure the data cannot estimate.
NOT_ESTIMABLE = "n/e"


@dataclass(frozen=True)
class Figure:
    """A written figure: its file name (next to index.html) and caption."""

    file: str
    caption: str


class Figures(list[Figure]):
    """The figures a report section wrote, in order."""

    def add(self, path: Path | None, caption: str) -> None:
        """Add the figure written at ``path``; a figure not drawn (None: no data) is left out."""
        if path is not None:
            self.append(Figure(path.name, caption))


def landmark_text(m: Landmark) -> str:
    """A landmark survival estimate in per cent with its confidence interval when there is one."""
    if m.estimate is None:
        return NOT_ESTIMABLE
    if m.low is None or m.high is None:
        return f"{100 * m.estimate:.1f} %"
    return f"{100 * m.estimate:.1f} % ({100 * m.low:.1f}-{100 * m.high:.1f})"
