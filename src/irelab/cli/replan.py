"""The ``irelab replan`` command: the plan for the probes as placed.

``irelab replan PLAN.yaml --measured MEASURED [--out DIR] [--json] [--margin-mm 5]
[--spacing-mm H] [--max-solves N]``

MEASURED is a CSV of probe tips with entry points or directions, a 3D Slicer markups file
(``.mrk.json``, one line per probe) or a CSV of measured pair spacings, in the plan's patient
frame (mm; :mod:`irelab.procedure.measured`). The field is solved for the probes as placed; the
coverage of the target (tumour plus ``--margin-mm``, the margin the plan was made for) and the
minimal margin are reported as planned, as placed and re-planned, with the changes: new
voltages, an added pair or a probe to re-insert. ``--out DIR`` writes the re-planned plan to
``DIR/plan.yaml`` (a case file with a ``replan`` record), which ``irelab deliver`` takes.
Exit codes: 0 the re-planned plan covers the target as the plan did, 1 it does not (the best
found is still written), 2 bad input (the measured file's row named).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer


def _number(x: float, digits: int) -> float | None:
    return round(x, digits) if math.isfinite(x) else None


def replan_json(result, plan_file: Path | None) -> dict:
    """The ``--json`` object of ``irelab replan``."""
    planned = {(p.anode, p.cathode): p.voltage_V for p in result.plan.protocol.pairs}
    outcomes = {"planned": result.planned, "as_placed": result.as_placed,
                "replanned": result.replanned}
    return {
        "plan": result.plan.source,
        "measured": result.measured.source,
        "kind": str(result.measured.kind),
        "probes": [{"name": d.name, "lateral_mm": round(d.lateral_mm, 3),
                    "depth_mm": round(d.depth_mm, 3), "angle_deg": round(d.angle_deg, 3)}
                   for d in result.measured.deviations(result.plan)],
        "residual_mm": None if result.measured.residual_mm is None
        else round(result.measured.residual_mm, 3),
        "coverage": {k: round(o.coverage, 6) for k, o in outcomes.items()},
        "margin_mm": {k: _number(o.margin_mm, 3) for k, o in outcomes.items()},
        "coverage_lost": round(result.planned.coverage - result.as_placed.coverage, 6),
        "margin_lost_mm": _number(result.planned.margin_mm - result.as_placed.margin_mm, 3),
        "pairs": [{"anode": p.anode, "cathode": p.cathode,
                   "voltage_V_planned": planned.get((p.anode, p.cathode)),
                   "voltage_V": p.voltage_V, "current_A": p.predicted_current_A,
                   "currents_A": list(p.predicted_currents_A or (p.predicted_current_A,))}
                  for p in result.case.protocol.pairs],
        "changes": [{"kind": c.kind, "subject": c.subject, "detail": c.detail}
                    for c in result.changes],
        "covered": result.covered,
        "solves": result.solves,
        "plan_file": None if plan_file is None else str(plan_file),
    }


def _print(data: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    probes = Table("probe", "lateral mm", "depth mm", "tilt deg", title="Probes as placed")
    for p in data["probes"]:
        probes.add_row(p["name"], f"{p['lateral_mm']:.1f}", f"{p['depth_mm']:+.1f}",
                       f"{p['angle_deg']:.1f}")
    console.print(probes)
    outcome = Table("", "coverage %", "minimal margin mm")
    for key, label in (("planned", "planned"), ("as_placed", "as placed, planned voltages"),
                       ("replanned", "re-planned")):
        margin = data["margin_mm"][key]
        outcome.add_row(label, f"{100 * data['coverage'][key]:.2f}",
                        "-" if margin is None else f"{margin:.1f}")
    console.print(outcome)
    pairs = Table("pair", "planned V", "re-planned V", "current A")
    for p in data["pairs"]:
        before = p["voltage_V_planned"]
        pairs.add_row(f"{p['anode']}-{p['cathode']}", "-" if before is None else f"{before:g}",
                      f"{p['voltage_V']:g}", f"{p['current_A']:.1f}")
    console.print(pairs)
    for change in data["changes"] or [{"detail": "no change needed"}]:
        console.print(f"change: {change['detail']}")


def replan(
    plan_file: Annotated[Path, typer.Argument(help="plan YAML (irelab plan's plan.yaml)")],
    measured: Annotated[Path, typer.Option(
        help="probes as placed: tips CSV, Slicer .mrk.json, or pair spacings CSV")],
    out: Annotated[Path | None, typer.Option(help="write the re-planned plan.yaml here")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON only")] = False,
    margin_mm: Annotated[float, typer.Option(help="the plan's margin around the tumour, mm")]
    = 5.0,
    spacing_mm: Annotated[float | None, typer.Option(help="grid spacing (default the plan's)")]
    = None,
    max_solves: Annotated[int, typer.Option(help="work budget: pair solves at most")] = 80,
) -> None:
    """Re-plan for the probes as placed: coverage lost, new voltages, an added pair or a
    repositioning, and the updated plan."""
    from rich.console import Console

    from irelab.case import load_case, write_case
    from irelab.cli.progress import progress_reporter
    from irelab.errors import InputError
    from irelab.procedure import ReplanOptions, read_measured
    from irelab.procedure import replan as run_replan

    if not 0 <= margin_mm <= 30:
        raise InputError("command line", "--margin-mm", "a margin between 0 and 30 mm",
                         margin_mm)
    if spacing_mm is not None and not 0.25 <= spacing_mm <= 3:
        raise InputError("command line", "--spacing-mm", "a grid spacing between 0.25 and 3 mm",
                         spacing_mm)
    if max_solves < 1:
        raise InputError("command line", "--max-solves", "at least 1 solve", max_solves)
    plan = load_case(plan_file)
    placed = read_measured(measured, plan)
    options = ReplanOptions(margin_mm=margin_mm, spacing_mm=spacing_mm, max_solves=max_solves)
    solves = 0

    with progress_reporter(Console(stderr=True), "replan") as tell:
        def solving(text: str) -> None:
            # each report precedes one pair's solves at every placement; the percentage is
            # the share of the work budget spent, which the re-plan may not need in full
            nonlocal solves
            solves += plan.protocol.positions
            tell(f"solve {text}", min(1.0, solves / max_solves))

        result = run_replan(plan, placed, options, plan_source=str(plan_file),
                            progress=solving)
    written = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        written = write_case(result.case, out / "plan.yaml")
    data = replan_json(result, written)
    if as_json:
        print(json.dumps(data))
    else:
        _print(data)
        if written is not None:
            print(f"wrote {written}", file=sys.stderr)
    if not result.covered:
        if not as_json:
            print("irelab replan: the re-planned plan does not cover the target as planned",
                  file=sys.stderr)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach ``irelab replan``."""
    app.command("replan")(replan)
