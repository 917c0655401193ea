"""The ``irelab deliver`` command: simulate ECG-synchronised delivery of a case/plan's protocol.

``irelab deliver CASE_OR_PLAN.yaml --ecg RECORD [--log out.jsonl] [--hr BPM]
[--force-unsynchronised] [--json] [--spacing-mm X] [--delay-ms MS]``

The ECG (a WFDB record path without extension, .edf or .csv) is streamed in chunks through the
quality monitor and the real-time R-wave detector; the clock is the sample index. ``--hr`` drives
it with a synthetic ECG instead. Without either, delivery is refused (exit 2) unless
``--force-unsynchronised``. Exit codes: 0 all pulses delivered, 1 finished without delivering
everything (ECG truncated or held to its end, or a pair aborted at the current limit), 2 bad
input. The summary goes to stdout (a Rich table, or JSON with ``--json``); the event log, one
JSON object per line, to ``--log``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer


def deliver(
    plan_file: Annotated[Path, typer.Argument(help="case or plan YAML")],
    ecg: Annotated[Path | None, typer.Option(help="ECG record: WFDB (no extension), .edf, .csv")]
    = None,
    log: Annotated[Path | None, typer.Option(help="write the event log (JSON lines) here")]
    = None,
    hr: Annotated[float | None, typer.Option(help="synthetic ECG at this mean rate, /min")]
    = None,
    force_unsynchronised: Annotated[bool, typer.Option(
        "--force-unsynchronised", help="deliver without ECG (arrhythmia risk; logged)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON only")] = False,
    spacing_mm: Annotated[float | None, typer.Option(
        help="grid spacing for the field simulation when the plan has no predicted currents")]
    = None,
    delay_ms: Annotated[float, typer.Option(help="pulse delay after the R peak, ms")] = 50.0,
) -> None:
    """Deliver a plan's pulses synchronised to an ECG (simulated generator)."""
    from irelab.delivery import (
        DeliveryOutcome,
        EventLog,
        GateConfig,
        GeneratorConfig,
        load_delivery_plan,
        run_synchronised,
        run_unsynchronised,
        synthetic_ecg,
    )
    from irelab.errors import InputError

    if ecg is not None and hr is not None:
        raise InputError("command line", "--hr", "either --ecg or --hr, not both", hr)
    generator = GeneratorConfig()
    plan = load_delivery_plan(plan_file, spacing_mm=spacing_mm, config=generator)
    try:
        gate = GateConfig(delay_ms=delay_ms)
    except ValueError as exc:
        raise InputError("command line", "--delay-ms", "a delay >= 0 ms", delay_ms) from exc
    signal = quality = None
    if ecg is not None:
        from irelab.ecg import read_record

        record = read_record(ecg)
        signal, fs_Hz, quality = record.signal_mV, record.fs_Hz, _adc_quality(ecg)
    elif hr is not None:
        if not 30 <= hr <= 200:
            raise InputError("command line", "--hr", "a heart rate within 30-200 /min", hr)
        pulses = len(plan.pairs) * (generator.test_pulses + plan.pulses)
        trains = pulses / generator.train_pulses + 2 * len(plan.pairs)
        duration = 60.0 / hr * (1.5 * pulses + 60) + trains * generator.recharge_s * 1.5
        synthetic = synthetic_ecg(hr, duration)
        signal, fs_Hz = synthetic.signal_mV, synthetic.fs_Hz
    elif not force_unsynchronised:
        run_unsynchronised(plan, force=False)  # raises the refusal (exit 2)
    handle = open(log, "w", encoding="utf-8") if log is not None else None
    try:
        events = EventLog(handle)
        if signal is None:
            result = run_unsynchronised(plan, force=True, generator=generator, log=events)
        else:
            result = run_synchronised(plan, signal, fs_Hz, gate=gate, generator=generator,
                                      quality=quality, log=events)
    finally:
        if handle is not None:
            handle.close()
    out = {"plan": plan.name, "outcome": str(result.outcome), "reason": result.reason,
           "final_state": str(result.final_state), "summary": result.summary.to_json()}
    if as_json:
        typer.echo(json.dumps(out))
    else:
        _print_table(out, plan)
    if result.outcome != DeliveryOutcome.COMPLETE:
        if not as_json:
            print(f"irelab deliver: {result.reason}", file=sys.stderr)
        raise typer.Exit(1)


def _adc_quality(path: Path):
    """Quality thresholds with the ADC rails of a WFDB record's header (defaults otherwise)."""
    from irelab.ecg.quality import QualityConfig

    if path.suffix.lower() in (".edf", ".csv"):
        return QualityConfig()
    try:
        import wfdb

        header = wfdb.rdheader(str(path.with_suffix("") if path.suffix in (".hea", ".dat")
                                   else path))
        gain, res = float(header.adc_gain[0]), int(header.adc_res[0])
        zero, base = int(header.adc_zero[0]), int(header.baseline[0])
    except (OSError, ValueError, TypeError, IndexError, AttributeError):
        return QualityConfig()
    if gain <= 0 or res <= 0:
        return QualityConfig()
    return QualityConfig.for_adc(gain, base, res, zero)


def _print_table(out: dict, plan) -> None:
    from rich.console import Console
    from rich.table import Table

    summary = out["summary"]
    table = Table(title=f"Delivery: {out['plan']} ({out['outcome']})")
    table.add_column("pair")
    table.add_column("voltage V", justify="right")
    table.add_column("test pulses", justify="right")
    table.add_column("treatment pulses", justify="right")
    for pair in plan.pairs:
        table.add_row(pair.label, f"{pair.voltage_V:g}",
                      str(summary["test_pulses_per_pair"].get(pair.label, 0)),
                      f"{summary['pulses_per_pair'].get(pair.label, 0)} / {plan.pulses}")
    console = Console()
    console.print(table)
    skips = Table(title="Beats skipped")
    skips.add_column("reason")
    skips.add_column("beats", justify="right")
    for reason, count in sorted(summary["skips_by_reason"].items()):
        skips.add_row(reason, str(count))
    console.print(skips)
    console.print(f"beats {summary['beats']}, total energy {summary['total_energy_J']:.1f} J, "
                  f"procedure time {summary['procedure_time_s']:.1f} s; {out['reason']}")
    if summary["unsynchronised_pulses"]:
        console.print(f"[bold red]{summary['unsynchronised_pulses']} pulses were NOT "
                      "synchronised to the ECG[/]")


def register(app: typer.Typer) -> None:
    """Attach ``irelab deliver``."""
    app.command("deliver")(deliver)
