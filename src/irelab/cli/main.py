"""Entry point of the ``irelab`` command.

Exit codes: 0 success, 1 a run that finished but did not meet its goal (e.g. a plan that does
not cover its target), 2 bad input (one sentence on stderr naming the file, key and what was
expected), 3 an internal error.

Each command lives in its own module under ``irelab.cli`` and attaches itself with
``register(app)``; heavy libraries are imported inside the commands, not here.
"""

from __future__ import annotations

import sys
import traceback

import typer

from irelab.cli import (
    calibrate,
    case,
    compare,
    deliver,
    demo,
    ecg,
    plan,
    registry,
    replan,
    simulate,
    validate,
)
from irelab.errors import InputError

app = typer.Typer(
    name="irelab",
    help="Irreversible electroporation of liver metastases: simulate, plan, deliver, study.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

@app.callback()
def _root() -> None:
    """Irreversible electroporation of liver metastases: simulate, plan, deliver, study."""


for _module in (case, simulate, plan, replan, ecg, deliver, registry, demo, validate, compare,
                calibrate):
    _module.register(app)


@app.command()
def version() -> None:
    """Print irelab's version."""
    from irelab import __version__

    print(__version__)


def main() -> None:
    """Run the app: bad input is one clear line on stderr and exit code 2; anything unexpected
    (a bug) prints its traceback and exits 3, never 1, which means "finished, goal not met"."""
    try:
        app()
    except InputError as exc:
        print(f"irelab: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("irelab: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # the documented exit code of an internal error
        traceback.print_exc()
        print(f"irelab: internal error ({type(exc).__name__}: {exc}); please report it with "
              "the traceback above", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
