"""Progress lines of long commands when stderr is not a terminal (a log or CI job)."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

from rich.console import Console

import irelab.cli.progress as progress
from irelab.cli.progress import PROGRESS_EVERY_S, ProgressLines
from irelab.cli.robust import _Reporter, _stage_head

LINE = re.compile(r"^(?P<label>[^:]+): (?P<text>.*)  +(?P<pct>\d+) %  (?P<m>\d+):(?P<s>\d\d)$")


class _Clock:
    """A settable ``time.monotonic``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _log_console() -> tuple[Console, io.StringIO]:
    """A console as on a redirected stderr: not a terminal, 40 columns."""
    stream = io.StringIO()
    return Console(file=stream, width=40, force_terminal=False, color_system=None), stream


def test_a_line_per_new_stage_and_one_every_few_seconds_within_a_stage(monkeypatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    console, stream = _log_console()
    lines = ProgressLines(console, "plan")
    lines.stage("search: trial 1", 0.1)
    clock.now += 1
    lines.stage("search: trial 2", 0.2)  # same stage, too soon: no line
    clock.now += PROGRESS_EVERY_S
    lines.stage("search: trial 3", 0.3)  # same stage, time passed: a line
    clock.now += 0.5
    lines.stage("confirm: every pair on the 1 mm grid of the whole tumour and its margin", 0.5)
    out = stream.getvalue().splitlines()
    assert [LINE.match(line)["text"].strip() for line in out] == [
        "search: trial 1", "search: trial 3",
        "confirm: every pair on the 1 mm grid of the whole tumour and its margin"]
    last = LINE.match(out[-1])
    assert (last["pct"], last["m"], last["s"]) == ("50", "0", "11")
    assert len(out[-1]) > 40, "a long stage stays on one line in a 40-column log"


def test_the_robust_reporter_names_the_planner_stage_within_a_round(monkeypatch) -> None:
    assert _stage_head("round 2, margin 6.5 mm: plan: search: trial 3: 134 voxels short") \
        == "round 2, margin 6.5 mm: plan: search"
    assert _stage_head("starting the cluster: 2 workers") == "starting the cluster"
    clock = _Clock()
    monkeypatch.setattr(progress.time, "monotonic", clock)
    console, stream = _log_console()
    with _Reporter(console, "plan --robust", "planning") as reporter:
        for trial in (1, 2):
            reporter.stage(f"round 1, margin 5.0 mm: plan: search: trial {trial}", 0.1)
        reporter.stage("round 1, margin 5.0 mm: plan: confirm: every pair", 0.4)
        clock.now += 65
        reporter.sample(7, 100, SimpleNamespace(covered=False, index=6, coverage=0.99912,
                                                margin_mm=-0.4))
    out = stream.getvalue().splitlines()
    assert [LINE.match(line)["label"] for line in out] == ["plan --robust"] * 4
    assert "search: trial 2" not in stream.getvalue()
    sample = LINE.match(out[-1])
    assert sample["text"].startswith("7/100 samples; sample 6 MISSED, coverage 99.91 %")
    assert (sample["pct"], sample["m"], sample["s"]) == ("7", "1", "05")
