"""The ``irelab plan`` command: probes, pairs, voltages and pullbacks for a case's anatomy.

Exit codes: 0 the plan meets every constraint, 1 the best plan found misses one (each failing
constraint is named with its numbers), 2 bad input.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer

from irelab.errors import InputError


def _parse_direction(text: str, source: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or sum(v * v for v in values) == 0:
        raise InputError(source, "--direction", "three comma-separated numbers, not all zero",
                         text)
    return values  # type: ignore[return-value]


def run_plan(case, *, margin_mm: float, spacing_mm: float,
             direction: tuple[float, float, float], out: Path | None, as_json: bool) -> int:
    """Plan ``case``, print the result, write plan.yaml and plan.html under ``out``."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from irelab.case import write_case
    from irelab.plan import PlanOptions, plan_treatment
    from irelab.plan.output import plan_json

    source = case.source
    if not 0 <= margin_mm <= 30:
        raise InputError(source, "--margin-mm", "a margin between 0 and 30 mm", margin_mm)
    if not 0.25 <= spacing_mm <= 3:
        raise InputError(source, "--spacing-mm", "a grid spacing between 0.25 and 3 mm",
                         spacing_mm)
    options = PlanOptions(margin_m=margin_mm * 1e-3, direction=direction,
                          fine_spacing_m=spacing_mm * 1e-3)
    console = Console(stderr=True)
    start = time.perf_counter()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("planning", total=1.0)

        def tell(stage: str, fraction: float) -> None:
            progress.update(task, description=f"plan: {stage}", completed=fraction)

        try:
            result = plan_treatment(case, options, tell)
        except ValueError as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(source, "anatomy", f"an anatomy that can be planned ({exc})") \
                from exc
    runtime = time.perf_counter() - start
    data = plan_json(result, runtime)
    if out is not None:
        from irelab.plan.report import write_report

        out.mkdir(parents=True, exist_ok=True)
        plan_file = write_case(result.case, out / "plan.yaml")
        write_report(result, out / "plan.html", case.name, runtime)
        console.print(f"wrote {plan_file} and {out / 'plan.html'}")
        from irelab.imaging import write_plan_exports

        exports = write_plan_exports(result.case, result.fine.lethal,
                                     result.fine.max_e_V_per_m, out, margin_mm)
        console.print(f"wrote {len(exports.files)} export files (volumes, trajectories"
                      f"{', DICOM SEG' if any(f.suffix == '.dcm' for f in exports.files) else ''})")
        for warning in exports.warnings:
            console.print(f"[yellow]warning[/yellow]: {warning}")
        data["trajectories"] = [t.to_json() for t in exports.trajectories]
        data["labels"] = exports.legend
    if as_json:
        print(json.dumps(data))
    else:
        _print_summary(data)
    if not result.feasible:
        for failure in result.failures:
            console.print(f"[red]constraint not met:[/red] {failure}")
        return 1
    return 0


def _print_summary(data: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"coverage {data['coverage_percent']:.2f} % of {data['target_volume_cm3']} cm3"
                  f" target; healthy tissue ablated {data['healthy_volume_cm3']} cm3; "
                  f"{len(data['probes'])} probe placements, "
                  f"{data['pullback_positions']} placement(s), exposed {data['exposed_mm']} mm; "
                  f"{data['runtime_s']} s")
    table = Table("pair", "voltage (V)", "current (A)")
    for p in data["pairs"]:
        table.add_row(f"{p['anode']}-{p['cathode']}", str(p["voltage_V"]),
                      f"{p['current_A']:.1f}")
    console.print(table)
    for name, values in data["thermal"].items():
        console.print(f"{name}: peak {values['peak_temperature_C']} C, thermal damage "
                      f"{values['damage_volume_mm3']} mm3")


def plan(
    case_file: Path = typer.Argument(..., help="Case YAML (anatomy; probes/protocol optional)."),
    margin_mm: float = typer.Option(5.0, "--margin-mm", help="Margin around the tumour (mm)."),
    out: Path | None = typer.Option(None, "--out", help="Write plan.yaml and plan.html here."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON on stdout."),
    spacing_mm: float = typer.Option(1.0, "--spacing-mm",
                                     help="Confirmation grid spacing (mm)."),
    direction: str | None = typer.Option(
        None, "--direction", help="Insertion axis x,y,z (tip towards entry); 0,0,1 for a case "
        "of shapes when neither this nor --approach is given."),
    approach: str | None = typer.Option(
        None, "--approach", help="Insertion approach in the patient's frame: anterior, "
        "posterior, right-lateral, left-lateral, cranial, caudal (join with +), a vector x,y,z "
        "in LPS, or auto (the shallowest feasible from the body outline). Required for a case "
        "made from images."),
) -> None:
    """Plan probes, pairs, voltages and pullbacks that cover tumour + margin within limits."""
    from rich.console import Console

    from irelab.case import load_case
    from irelab.imaging import resolve_direction

    case = load_case(case_file)
    given = None if direction is None else _parse_direction(direction, str(case_file))
    resolved = resolve_direction(case, approach, given, margin_mm)
    if resolved.note:
        Console(stderr=True).print(f"[yellow]note[/yellow]: {resolved.note}")
    code = run_plan(case, margin_mm=margin_mm, spacing_mm=spacing_mm,
                    direction=resolved.direction, out=out, as_json=as_json)
    sys.exit(code)


def register(app: typer.Typer) -> None:
    """Attach ``irelab plan``."""
    app.command("plan")(plan)
