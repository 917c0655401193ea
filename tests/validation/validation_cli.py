"""Run the ``irelab`` command line in this process, through its entry point (so that bad
input maps to exit code 2 and one stderr line exactly as in a shell)."""

from __future__ import annotations

import contextlib
import io
import sys
from unittest import mock

import irelab.cli.main as cli


def run_cli(*args) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``irelab ARGS``."""
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.object(sys, "argv", ["irelab", *map(str, args)]), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main()
            code = 0
        except SystemExit as exited:
            code = int(exited.code or 0)
    return code, out.getvalue(), err.getvalue()
