"""The ``irelab validate [--set DIR] [--spacing-mm H] [--liver PRESET] [--json]`` command.

Simulates every published zone of the validation set (the repository's ``validation/``) and
prints predicted against measured extents with the error in units of the measured SD, the fit
points and the held-out points apart, and the lethal threshold refitted on the fit points.
``--liver`` replaces every case's liver by a tissue preset (e.g. ``liver-sel2005``).

``--json`` keys: ``points`` (each: ``id``, ``set``, ``measured_mm``, ``predicted_mm``,
``error_sd``, ``within_limit``, ``current_A``, ``source``, ``evidence``, ``notes``, ...),
``refit`` (the threshold the fit points give), ``summary`` (per set: ``points``, ``axes``,
``max_abs_error_sd``, ``rms_error_sd``), ``limit_sd``.
Exit codes: 0 every fit point within the limit on every axis, 1 not (or a solve did not
converge), 2 bad input.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer


def _summary(results) -> dict:
    out = {}
    for subset in ("fit", "held-out"):
        errors = [e for r in results if r.point.subset == subset for e in r.errors_sd.values()]
        out[subset] = {"points": sum(r.point.subset == subset for r in results),
                       "axes": len(errors),
                       "max_abs_error_sd": round(max((abs(e) for e in errors), default=0.0), 3),
                       "rms_error_sd": round(math.sqrt(sum(e * e for e in errors) / len(errors)),
                                             3) if errors else None}
    return out


def validate(
    folder: Annotated[Path, typer.Option("--set", help="Validation folder (points.csv and its "
                                         "cases).")] = Path("validation"),
    spacing_mm: Annotated[float | None, typer.Option(
        "--spacing-mm", help="Grid spacing (mm); default each case's.")] = None,
    liver: Annotated[str | None, typer.Option(
        "--liver", help="Tissue preset for every case's liver (default the case's own).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Simulate every published zone of the validation set and compare with the measurements."""
    from rich.console import Console

    from irelab.cli.progress import progress_reporter
    from irelab.errors import InputError
    from irelab.validation import ACCEPT_SD, fit_lethal_threshold, load_validation_set
    from irelab.validation.zones import predict_point

    if spacing_mm is not None and not 0.1 <= spacing_mm <= 5:
        raise InputError("irelab validate", "--spacing-mm", "a spacing between 0.1 and 5 mm",
                         spacing_mm)
    points = load_validation_set(folder)
    console = Console(stderr=True)
    runs = []
    with progress_reporter(console, "validate") as tell:
        for done, point in enumerate(points):
            tell(point.id, done / len(points))
            runs.append(predict_point(point, spacing_mm, liver))
    results = [run.result() for run in runs]
    refit = fit_lethal_threshold(runs)
    data = {"points": [r.to_json() for r in results], "refit": refit.to_json(),
            "summary": _summary(results), "limit_sd": ACCEPT_SD}
    if as_json:
        print(json.dumps(data))
    else:
        _print(data)
    fit_ok = all(r.agrees and r.converged for r in results if r.point.subset == "fit")
    if not all(r.converged for r in results):
        console.print("[red]a solve did not converge[/red]: its zone is not reliable")
    sys.exit(0 if fit_ok and all(r.converged for r in results) else 1)


def _print(data: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for subset in ("fit", "held-out"):
        table = Table("point", "axis", "measured (mm)", "predicted (mm)", "error (SD)",
                      title=f"{subset} points")
        for p in (p for p in data["points"] if p["set"] == subset):
            for axis, m in p["measured_mm"].items():
                error = p["error_sd"][axis]
                mark = "" if abs(error) <= data["limit_sd"] else " [red]![/red]"
                table.add_row(p["id"], axis, f"{m['mean']:g} +- {m['sd']:g}",
                              f"{p['predicted_mm'][axis]:g}", f"{error:+.2f}{mark}")
        console.print(table)
        s = data["summary"][subset]
        if s["axes"]:
            console.print(f"{subset}: {s['points']} points, {s['axes']} axes, largest error "
                          f"{s['max_abs_error_sd']:.2f} SD, rms {s['rms_error_sd']:.2f} SD")
    refit = data["refit"]
    used = sorted({p["lethal_threshold_V_per_cm"] for p in data["points"]})
    console.print(f"lethal threshold used {', '.join(f'{t:g}' for t in used)} V/cm; refitted on "
                  f"the fit points: {refit['lethal_threshold_V_per_cm']:g} V/cm"
                  + (" (at the end of the searched range)" if refit["at_range_end"] else ""))
    for p in data["points"]:
        console.print(f"[dim]{p['id']}: {p['source']} ({p['evidence']}); {p['notes']}[/dim]")


def register(app: typer.Typer) -> None:
    """Attach ``irelab validate``."""
    app.command("validate")(validate)
