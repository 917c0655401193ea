"""The ``irelab compare --plan PLAN --achieved SEG`` command: predicted against achieved zone.

Options: ``--label N`` (the zone's label in SEG; default every nonzero voxel),
``--planning-image CT --followup-image CT2`` (register the follow-up scan, on whose grid SEG
lies, to the planning scan; both or neither), ``--log delivery.jsonl`` (simulate what the log
says was delivered instead of the plan), ``--spacing-mm H``, ``--out DIR`` (default
``out/compare``: comparison.json, the NIfTI arrays and slices.png, see
:mod:`irelab.validation.comparison_file`), ``--json`` (print comparison.json on stdout).
Exit codes: 0 done, 1 a solve did not converge, 2 bad input (an empty segmentation, label maps
that do not overlap, a segmentation from another scan without the scans to register it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer


def compare(
    plan: Annotated[Path, typer.Option("--plan", help="The plan (a case file).")],
    achieved: Annotated[Path, typer.Option(
        "--achieved", help="Segmented ablation zone: NIfTI, NRRD or MetaImage label map.")],
    label: Annotated[int | None, typer.Option(
        "--label", help="Label of the zone in the segmentation (default: any nonzero).")] = None,
    planning_image: Annotated[Path | None, typer.Option(
        "--planning-image", help="Planning scan (with --followup-image: register).")] = None,
    followup_image: Annotated[Path | None, typer.Option(
        "--followup-image", help="Follow-up scan the segmentation was drawn on.")] = None,
    log: Annotated[Path | None, typer.Option(
        "--log", help="Delivery log (JSON lines): simulate what was delivered.")] = None,
    spacing_mm: Annotated[float | None, typer.Option(
        "--spacing-mm", help="Grid spacing (mm); default the plan's.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the comparison files.")
                   ] = Path("out/compare"),
    as_json: Annotated[bool, typer.Option("--json", help="Print comparison.json.")] = False,
) -> None:
    """Compare the achieved ablation zone with the zone the delivered protocol predicts."""
    from rich.console import Console

    from irelab.case import load_case
    from irelab.cli.progress import progress_reporter
    from irelab.delivery import read_delivery_log
    from irelab.errors import InputError
    from irelab.validation.compare import compare_procedure
    from irelab.validation.comparison_file import comparison_json, write_comparison

    if spacing_mm is not None and not 0.1 <= spacing_mm <= 5:
        raise InputError("irelab compare", "--spacing-mm", "a spacing between 0.1 and 5 mm",
                         spacing_mm)
    case = load_case(plan)
    delivery = read_delivery_log(log) if log is not None else None
    console = Console(stderr=True)
    with progress_reporter(console, "compare") as tell:
        comparison = compare_procedure(case, achieved, label=label,
                                       planning_image=planning_image,
                                       followup_image=followup_image, log=delivery,
                                       spacing_mm=spacing_mm, progress=tell)
    path = write_comparison(comparison, out)
    console.print(f"wrote {path.parent}")
    data = comparison_json(comparison)
    if as_json:
        print(json.dumps(data))
    else:
        _print(data)
    if comparison.achieved_outside_domain > 0:
        console.print(f"[yellow]note[/yellow]: {comparison.achieved_outside_domain:.1%} of the "
                      "segmented zone lies outside the plan's domain and is not compared")
    if not comparison.converged:
        console.print("[red]a solve did not converge[/red]: the predicted zone is not reliable")
        sys.exit(1)


def _print(data: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    m = data["metrics"]

    def mm(value) -> str:
        return "n/a" if value is None else f"{value:.2f} mm"

    table = Table("metric", "value")
    table.add_row("Dice", f"{m['dice']:.3f}")
    table.add_row("HD95", mm(m["hd95_mm"]))
    table.add_row("volume achieved / predicted", "n/a" if m["volume_ratio"] is None
                  else f"{m['volume_ratio']:.3f}")
    table.add_row("volumes (cm3): predicted, achieved, tumour",
                  f"{m['predicted_volume_cm3']:.2f}, {m['achieved_volume_cm3']:.2f}, "
                  f"{m['tumour_volume_cm3']:.2f}")
    table.add_row("minimal ablative margin, achieved", mm(m["minimal_ablative_margin_mm"]))
    table.add_row("minimal ablative margin, predicted",
                  mm(m["predicted_minimal_ablative_margin_mm"]))
    console.print(table)
    reg = data["registration"]
    if reg is not None:
        console.print(f"registration: rotation {reg['angles_deg']} deg, translation "
                      f"{reg['translation_mm']} mm; residual rms {reg['residual_rms_before']:.1f}"
                      f" -> {reg['residual_rms_after']:.1f} (scan units)")
    pairs = Table("pair", "placement", "voltage (V)", "pulses", "predicted (A)", "measured (A)",
                  title=f"delivered ({data['delivered']['from']})")
    for p in data["delivered"]["pairs"]:
        pairs.add_row(p["pair"], str(p["placement"] + 1), f"{p['voltage_V']:g}", str(p["pulses"]),
                      f"{p['predicted_current_A']:.2f}",
                      "-" if p["measured_current_A"] is None else f"{p['measured_current_A']:.2f}")
    console.print(pairs)


def register(app: typer.Typer) -> None:
    """Attach ``irelab compare``."""
    app.command("compare")(compare)
