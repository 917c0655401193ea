"""The ``irelab calibrate COMPARISONS... --out site-liver.yaml`` command.

COMPARISONS are folders (or their comparison.json) written by ``irelab compare --out``. Fits
the lethal threshold of the liver and tumour (``--tissue NAME``, repeatable, to choose) by the
mean Dice, and with ``--fit-conductivity`` a conductivity scale from the logged currents, with
expanded percentile-bootstrap 95 % intervals (``--bootstrap N``, ``--seed S``). Writes a tissue
file a case uses with ``include: [site-liver.yaml]``. ``--json`` prints the result (keys:
``lethal_threshold_V_per_cm``, ``interval_95_V_per_cm``, ``mean_dice``, ``mean_dice_before``,
``comparisons``, ``tissues``, ``bootstrap``, ``seed``, ``conductivity_scale``,
``conductivity_interval_95``, ``warnings``, ``out``).
Exit codes: 0 done, 1 written but with too few comparisons to trust, 2 bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer


def calibrate(
    comparisons: Annotated[list[Path], typer.Argument(
        metavar="COMPARISONS",
        help="Comparison folders (or comparison.json files) from irelab compare --out.")],
    out: Annotated[Path, typer.Option("--out", help="Tissue file to write (YAML).")],
    tissue: Annotated[list[str] | None, typer.Option(
        "--tissue", help="Tissue to calibrate (repeatable; default liver and tumour: every "
        "non-critical tissue).")] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    fit_conductivity: Annotated[bool, typer.Option(
        "--fit-conductivity", help="Also fit a conductivity scale to the logged currents.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Fit the lethal threshold to predicted-vs-achieved comparisons; write a tissue file."""
    from rich.console import Console

    from irelab.case import write_tissue_file
    from irelab.validation.calibrate import calibrate as fit
    from irelab.validation.comparison_file import read_comparison

    stored = [read_comparison(path) for path in comparisons]
    result = fit(stored, tissues=tissue or None, bootstrap=bootstrap, seed=seed,
                 fit_conductivity=fit_conductivity,
                 sources=", ".join(str(c.path.parent.name or c.path) for c in stored))
    description = "irelab calibrate: " + "; ".join(
        [f"{result.comparisons} comparisons", *result.warnings])
    write_tissue_file({t.name: t for t in result.tissues}, out, description=description)
    console = Console(stderr=True)
    data = result.to_json() | {"out": str(out)}
    if as_json:
        print(json.dumps(data))
    else:
        low, high = result.interval_V_per_cm
        Console().print(
            f"lethal threshold {result.threshold_V_per_cm:g} V/cm (95 % interval {low:g}-"
            f"{high:g}) for {', '.join(t.name for t in result.tissues)}; mean Dice "
            f"{result.mean_dice_before:.3f} -> {result.mean_dice:.3f} over "
            f"{result.comparisons} comparisons")
        if result.conductivity_scale is not None:
            a, b = result.conductivity_interval
            Console().print(f"conductivity x {result.conductivity_scale:.3f} (95 % interval "
                            f"{a:.3f}-{b:.3f})")
        Console().print(f"wrote {out}: a case uses it with include: [{out.name}]")
    for warning in result.warnings:
        console.print(f"[yellow]warning[/yellow]: {warning}")
    sys.exit(1 if result.too_few else 0)


def register(app: typer.Typer) -> None:
    """Attach ``irelab calibrate``."""
    app.command("calibrate")(calibrate)
