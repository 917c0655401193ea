"""The ``irelab simulate CASE.yaml [--out DIR] [--json] [--spacing-mm H]`` command.

``--json`` prints the result on stdout (pairs, lethal, regions; extended with each pair's
position and final change, the grid, and each tissue with its source). ``--out`` writes |E| and
the lethal mask as NIfTI, three slice PNGs and result.json. Progress goes to stderr.
Exit codes: 0 every pair converged, 1 a pair did not converge, 2 bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer


def simulate(
    case_file: Annotated[Path, typer.Argument(help="Case YAML (anatomy, probes, protocol).")],
    out: Annotated[Path | None, typer.Option("--out", help="Write NIfTI, PNG and JSON here.")
                   ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    spacing_mm: Annotated[float | None, typer.Option(
        "--spacing-mm", help="Grid spacing (mm); default the case's domain.spacing_mm.")] = None,
) -> None:
    """Solve every pair of the case's protocol and report currents and the lethal zone."""
    from rich.console import Console

    from irelab.case import load_case
    from irelab.cli.progress import progress_reporter
    from irelab.errors import InputError
    from irelab.simulation import simulate_case, write_outputs

    source = str(case_file)
    if spacing_mm is not None and not 0.1 <= spacing_mm <= 5:
        raise InputError(source, "--spacing-mm", "a spacing between 0.1 and 5 mm", spacing_mm)
    case = load_case(case_file)
    console = Console(stderr=True)
    with progress_reporter(console, "simulate") as tell:
        result = simulate_case(case, spacing_mm=spacing_mm, progress=tell)
    if out is not None:
        files = write_outputs(result, out)
        console.print(f"wrote {len(files)} files to {out}")
    data = result.to_json()
    if as_json:
        print(json.dumps(data))
    else:
        _print_summary(data, console=None)
    if not result.converged:
        console.print("[red]a pair did not converge[/red]: its field and current are not reliable")
        sys.exit(1)


def _print_summary(data: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table("position", "pair", "voltage (V)", "current (A)", "converged", "iterations")
    for p in data["pairs"]:
        table.add_row(str(p["position"] + 1), f"{p['anode']}-{p['cathode']}",
                      f"{p['voltage_V']:g}", f"{p['current_A']:.2f}", str(p["converged"]),
                      str(p["iterations"]))
    console.print(table)
    lethal = data["lethal"]
    console.print(f"lethal zone {lethal['volume_cm3']:.2f} cm3, extent "
                  f"{' x '.join(f'{e:g}' for e in lethal['extent_mm'])} mm")
    regions = Table("region", "volume (cm3)", "lethal fraction")
    for name, r in data["regions"].items():
        regions.add_row(name, f"{r['volume_cm3']:.3f}", f"{r['lethal_fraction']:.3f}")
    console.print(regions)
    for name, t in data["tissues"].items():
        if not t["sourced"]:
            console.print(f"[yellow]note[/yellow]: tissue {name} is UNSOURCED: the case file "
                          "gives no source for its numbers")
        elif "provisional" in t["source"]:
            console.print(f"[yellow]note[/yellow]: tissue {name} uses provisional parameters "
                          f"({t['source']})")


def register(app: typer.Typer) -> None:
    """Attach ``irelab simulate``."""
    app.command("simulate")(simulate)
