"""The ``irelab plan`` command: probes, pairs, voltages and placements for a case's anatomy.

Exit codes: 0 the plan covers the tumour with its margin (within one grid spacing) and meets
every other constraint; 1 it does not (each failing constraint is named with its numbers: the
tumour not covered, the margin missed by more than the grid spacing, a limit, thermal damage),
or no layout can reach the target, or ``--max-minutes`` cut the planning short; 2 bad input.
Progress goes to stderr: a bar on a terminal, otherwise log lines with the stage, the
percentage and the elapsed time (:mod:`irelab.cli.progress`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer

from irelab.cli.progress import progress_reporter
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


def planning_limits(source: str, max_current_a: float | None):
    """The planner's limits, with its current limit lowered to ``max_current_a`` when given
    (``--max-current-a``): at most the generator's own limit, which delivery enforces
    whatever the plan says. Planning below it leaves headroom for tissue that conducts more
    than the model: on the demo phantom, planned to 40 A, the coverage probability as
    delivered under the default uncertainty model rose from 17 to 45 of 100 samples (one run,
    seed 0; the price: 3 placements instead of 1, about 7 cm3 more healthy tissue)."""
    from dataclasses import replace

    from irelab.delivery import GeneratorConfig
    from irelab.plan import PlanLimits

    limits = PlanLimits()
    if max_current_a is None:
        return limits
    generator = GeneratorConfig().current_limit_A
    if not 0 < max_current_a <= generator:
        raise InputError(source, "--max-current-a", f"a current above 0 and at most the "
                         f"generator's {generator:g} A limit", max_current_a)
    return replace(limits, max_current_A=float(max_current_a))


def run_plan(case, *, margin_mm: float, spacing_mm: float,
             direction: tuple[float, float, float], out: Path | None, as_json: bool,
             max_minutes: float | None = None, max_current_a: float | None = None) -> int:
    """Plan ``case``, print the result, write plan.yaml and plan.html under ``out``; the exit
    code (module doc)."""
    from rich.console import Console

    from irelab.case import write_case
    from irelab.plan import PlanOptions, Unreachable, plan_treatment
    from irelab.plan.output import plan_json

    source = case.source
    if not 0 <= margin_mm <= 30:
        raise InputError(source, "--margin-mm", "a margin between 0 and 30 mm", margin_mm)
    if not 0.25 <= spacing_mm <= 3:
        raise InputError(source, "--spacing-mm", "a grid spacing between 0.25 and 3 mm",
                         spacing_mm)
    if max_minutes is not None and not max_minutes > 0:
        raise InputError(source, "--max-minutes", "a positive number of minutes", max_minutes)
    options = PlanOptions(margin_m=margin_mm * 1e-3, direction=direction,
                          fine_spacing_m=spacing_mm * 1e-3, max_minutes=max_minutes,
                          limits=planning_limits(source, max_current_a))
    console = Console(stderr=True)
    console.print(f"plan {case.name}: tumour + {margin_mm:g} mm margin requested, "
                  f"{spacing_mm:g} mm confirmation grid", highlight=False)
    start = time.perf_counter()
    try:
        with progress_reporter(console, "plan") as tell:
            result = plan_treatment(case, options, tell)
    except Unreachable as exc:
        console.print(f"[red]the target cannot be reached:[/red] {exc}")
        return 1
    runtime = time.perf_counter() - start
    data = plan_json(result, runtime)
    if out is not None:
        from irelab.plan.report import write_report

        out.mkdir(parents=True, exist_ok=True)
        plan_file = write_case(result.case, out / "plan.yaml")
        report_file = write_report(result, out / "plan.html", source, runtime)
        console.print(f"wrote {plan_file} and {report_file}")
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
    for failure in result.failures:
        console.print(f"[red]constraint not met:[/red] {failure}", highlight=False)
    if result.cut_short:
        console.print(f"[red]cut short[/red] by --max-minutes {max_minutes:g}: this plan "
                      "depends on the machine's speed; without the limit the planner spends "
                      "its whole work budget and the plan is reproducible")
    return 0 if result.feasible and not result.cut_short else 1


def _print_summary(data: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    achieved = ("NOT covered" if not data["tumour_covered"]
                else f"covered, minimal margin {data['minimal_margin_mm']:.1f} mm")
    console.print(f"tumour {achieved} (requested margin {data['margin_mm']:g} mm, grid "
                  f"{data['grid_spacing_mm']:g} mm); coverage of tumour + margin "
                  f"{data['coverage_percent']:.2f} % of {data['target_volume_cm3']} cm3; "
                  f"lethal zone {data['lethal_volume_cm3']} cm3, healthy tissue ablated "
                  f"{data['healthy_volume_cm3']} cm3; {len(data['probes'])} probes, "
                  f"{data['pullback_positions']} placement(s), exposed {data['exposed_mm']} mm; "
                  f"{data['runtime_s']} s", highlight=False)
    probes = Table("probe", "tip (mm)", "direction", "insertion depth (mm)")
    for p in data["probes"]:
        probes.add_row(p["name"], ", ".join(f"{c:g}" for c in p["tip_mm"]),
                       ", ".join(f"{c:g}" for c in p["direction"]),
                       f"{p['insertion_depth_mm']:g}")
    console.print(probes)
    for k, q in enumerate(data["placements"][1:], start=2):
        if q["reinsert_every_probe"]:
            console.print(f"placement {k}: the whole array moves sideways by "
                          f"{', '.join(f'{c:g}' for c in q['shift_mm'])} mm: every needle is "
                          "withdrawn and re-inserted", highlight=False)
    table = Table("#", "placement", "pair", "voltage (V)", "current (A)", "energy (J)")
    for s in data["delivery"]:
        table.add_row(str(s["order"]), str(s["placement"]), s["pair"], str(s["voltage_V"]),
                      f"{s['current_A']:.1f} -> {s['last_current_A']:.1f}",
                      f"{s['energy_J']:.0f}")
    console.print(table)
    sched = data["schedule"]
    console.print(f"protocol: {sched['test_pulses']} test + {sched['pulses_per_pair']} pulses "
                  f"of {sched['pulse_width_us']:g} us per pair, trains of "
                  f"{sched['pulses_per_train']}, at least {sched['train_pause_s']:g} s between "
                  f"trains and {sched['pair_pause_s']:g} s between pairs", highlight=False)
    for name, values in data["thermal"].items():
        console.print(f"{name}: peak {values['peak_temperature_C']} C, thermal damage "
                      f"{values['damage_volume_mm3']} mm3", highlight=False)
    held = [c["name"] for c in data["checks"] if c["ok"]]
    console.print(f"{len(held)} constraints hold: {', '.join(_grouped(held))}", highlight=False)


def _grouped(names: list[str]) -> list[str]:
    """Check names with the per-pair ones counted ('voltage (12 pairs)')."""
    counts: dict[str, int] = {}
    for name in names:
        head = name.split(" ")[0] if name.split(" ")[0] in ("voltage", "current",
                                                             "spacing") else name
        counts[head] = counts.get(head, 0) + 1
    return [f"{head} ({n} pairs)" if head in ("voltage", "current", "spacing") else head
            for head, n in counts.items()]


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
    robust: float | None = typer.Option(
        None, "--robust", help="Plan against raised lethal thresholds until the probability of "
        "covering the whole tumour under placement error and tissue variability reaches this "
        "(e.g. 0.95), or say why it is out of reach."),
    max_minutes: float | None = typer.Option(
        None, "--max-minutes", help="Stop the search after this many minutes (the plan then "
        "depends on the machine's speed and exits 1); default: no clock, reproducible."),
    max_current_a: float | None = typer.Option(
        None, "--max-current-a", help="Plan every pair's current, over its whole pulse train, "
        "to at most this (A; default and maximum: the generator's 50 A limit), leaving "
        "headroom for tissue that conducts more than the model."),
) -> None:
    """Plan probes, pairs, voltages and placements that cover tumour + margin within limits."""
    from rich.console import Console

    from irelab.case import load_case
    from irelab.imaging import resolve_direction

    case = load_case(case_file)
    given = None if direction is None else _parse_direction(direction, str(case_file))
    resolved = resolve_direction(case, approach, given, margin_mm)
    if resolved.note:
        Console(stderr=True).print(f"[yellow]note[/yellow]: {resolved.note}")
    if robust is not None:
        from irelab.cli.robust import run_robust_plan

        sys.exit(run_robust_plan(case, target_probability=robust, margin_mm=margin_mm,
                                 spacing_mm=spacing_mm, direction=resolved.direction, out=out,
                                 as_json=as_json, max_current_a=max_current_a))
    code = run_plan(case, margin_mm=margin_mm, spacing_mm=spacing_mm,
                    direction=resolved.direction, out=out, as_json=as_json,
                    max_minutes=max_minutes, max_current_a=max_current_a)
    sys.exit(code)


def register(app: typer.Typer) -> None:
    """Attach ``irelab plan``."""
    app.command("plan")(plan)
