"""The ``irelab demo`` command (``make demo``): plan the built-in 30 mm segment-8 phantom.

Writes plan.yaml and plan.html (the plan report) under ``--out``. With ``--images`` it plans on
a synthetic abdomen CT instead: the DICOM series and its DICOM SEG are written under
``--out/phantom``, the case made from them is ``--out/case.yaml``, and the plan's exports (DICOM
SEG, Slicer markups, CSV, NIfTI) go beside plan.yaml. Exit code 1 if the plan misses a
constraint.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("out/demo"), "--out", help="Directory for the report."),
    phantom: str = typer.Option("segment8-30mm", "--phantom",
                                help="Built-in phantom: segment8-30mm or elongated-55mm."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON on stdout."),
    images: bool = typer.Option(False, "--images", help="Plan on a synthetic abdomen CT "
                                "(DICOM with a DICOM SEG) and write the image exports."),
) -> None:
    """Plan the built-in liver phantom and write the plan report."""
    from irelab.case import parse_case
    from irelab.cli.plan import run_plan
    from irelab.errors import InputError
    from irelab.plan.phantom import PHANTOMS, phantom_mapping

    if images:
        from irelab.imaging import image_demo_case

        case, direction = image_demo_case(out)
        sys.exit(run_plan(case, margin_mm=5.0, spacing_mm=1.0, direction=direction, out=out,
                          as_json=as_json))

    if phantom not in PHANTOMS:
        raise InputError("irelab demo", "--phantom", f"one of {', '.join(PHANTOMS)}", phantom)
    case = parse_case(phantom_mapping(phantom), source=f"<phantom {phantom}>")
    code = run_plan(case, margin_mm=5.0, spacing_mm=1.0, direction=(0.0, 0.0, 1.0), out=out,
                    as_json=as_json)
    sys.exit(code)


def register(app: typer.Typer) -> None:
    """Attach ``irelab demo``."""
    app.command("demo")(demo)
