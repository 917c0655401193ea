"""The documented exit codes are the real ones: 2 for bad input (one line naming the file),
3 for an internal error (never 1, which means a run finished without meeting its goal)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import irelab.cli.main as cli


def test_bad_input_exits_2_with_one_line_naming_the_file(tmp_path) -> None:
    missing = tmp_path / "missing.yaml"
    run = subprocess.run([sys.executable, "-m", "irelab.cli.main", "simulate", str(missing)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and str(missing) in lines[0]


def test_an_unexpected_error_exits_3_with_its_traceback(monkeypatch, capsys) -> None:
    def broken() -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "app", broken)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "internal error (ZeroDivisionError: a bug)" in err
