"""The ``irelab deliver`` command: simulate ECG-synchronised delivery of a case/plan's protocol.

``irelab deliver CASE_OR_PLAN.yaml --ecg RECORD [--checklist FILE] [--log out.jsonl] [--hr BPM]
[--force-unsynchronised] [--json] [--spacing-mm X] [--delay-ms MS]``

The ECG (a WFDB record path without extension, .edf or .csv) is streamed in chunks through the
quality monitor and the real-time R-wave detector; the clock is the sample index. ``--hr`` drives
it with a synthetic ECG instead. Without either, delivery is refused (exit 2) unless
``--force-unsynchronised``. The generator arms only once every pre-arm check is confirmed: from
``--checklist FILE`` (the record format of :mod:`irelab.delivery.checklist`, with the
train-of-four counts entered during delivery), else asked at the terminal; with neither (stdin
not a terminal) delivery is refused (exit 2), and every refusal names the missing item. A plan
re-planned for the probes as placed (``irelab replan``) logs each change as a ``replan`` event.
Exit codes: 0 all pulses delivered, 1 finished without delivering everything (ECG truncated or
held to its end, a block lost and not restored, or a pair aborted at the current limit), 2 bad
input. The summary, what was delivered against the plan and the procedure record (checks,
pauses, deviations) go to stdout (Rich tables, or JSON with ``--json``); the event log, one JSON
object per line, to ``--log``.
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
    checklist: Annotated[Path | None, typer.Option(
        help="pre-arm checklist record (YAML); asked at the terminal without it")] = None,
) -> None:
    """Deliver a plan's pulses synchronised to an ECG (simulated generator)."""
    from irelab.case import load_case
    from irelab.delivery import (
        DeliveryOutcome,
        EventLog,
        GateConfig,
        GeneratorConfig,
        compare_with_plan,
        delivery_plan,
        procedure_record,
        run_synchronised,
        run_unsynchronised,
        synthetic_ecg,
    )
    from irelab.errors import InputError

    if ecg is not None and hr is not None:
        raise InputError("command line", "--hr", "either --ecg or --hr, not both", hr)
    generator = GeneratorConfig()
    case = load_case(plan_file)
    plan = delivery_plan(case, spacing_mm=spacing_mm, config=generator)
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
        duration = (60.0 / hr * (1.5 * pulses + 60) + trains * plan.recharge_s(generator) * 1.5
                    + len(plan.pairs) * plan.pair_start_s(generator) * 1.5)
    elif not force_unsynchronised:
        run_unsynchronised(plan, force=False)  # raises the refusal (exit 2)
    checks = _checklist(checklist)
    if hr is not None:  # the rhythm also runs while delivery is paused for a lost block
        synthetic = synthetic_ecg(hr, duration + _blocked_s(checks))
        signal, fs_Hz = synthetic.signal_mV, synthetic.fs_Hz
    handle = open(log, "w", encoding="utf-8") if log is not None else None
    try:
        events = EventLog(handle)
        _log_replan(events, case, plan)
        if signal is None:
            result = run_unsynchronised(plan, force=True, generator=generator, log=events,
                                        checklist=checks)
        else:
            result = run_synchronised(plan, signal, fs_Hz, gate=gate, generator=generator,
                                      quality=quality, log=events, checklist=checks)
    finally:
        if handle is not None:
            handle.close()
    record = procedure_record(result.events)
    out = {"plan": plan.name, "outcome": str(result.outcome), "reason": result.reason,
           "final_state": str(result.final_state), "summary": result.summary.to_json(),
           "delivered_vs_planned": [c.to_json() for c in compare_with_plan(
               plan, result.events, generator)],
           "record": record.to_json()}
    if as_json:
        typer.echo(json.dumps(out))
    else:
        _print_table(out, plan)
    if result.outcome != DeliveryOutcome.COMPLETE:
        if not as_json:
            print(f"irelab deliver: {result.reason}", file=sys.stderr)
        raise typer.Exit(1)


def _checklist(path: Path | None):
    """The pre-arm checklist from ``path``, else asked at the terminal; refused (InputError
    naming the missing item) unless every check is confirmed."""
    from irelab.delivery import arming_refusal, load_checklist

    if path is not None:
        checks = load_checklist(path)
    elif sys.stdin.isatty():
        checks = _ask_checklist()
    else:
        from irelab.errors import InputError

        raise InputError("command line", "--checklist", "a pre-arm checklist record (YAML): "
                         "stdin is not a terminal, so the checks cannot be confirmed here")
    refusal = arming_refusal(checks)
    if refusal is not None:
        raise refusal
    return checks


def _ask_checklist():
    """Each pre-arm check confirmed at the terminal (Rich prompts on stderr)."""
    import datetime as dt

    from rich.console import Console
    from rich.prompt import Confirm, IntPrompt, Prompt

    from irelab.delivery import prompt_checklist

    console = Console(stderr=True)
    return prompt_checklist(
        confirm=lambda q: Confirm.ask(q, console=console, default=False),
        ask=lambda q: Prompt.ask(q, console=console),
        count=lambda q: IntPrompt.ask(q, console=console),
        now=lambda: dt.datetime.now().astimezone())


def _blocked_s(checks) -> float:
    """Seconds between a train-of-four count above 0 and the next count of 0."""
    total, lost = 0.0, None
    for entry in checks.tof:
        if entry.count > 0 and lost is None:
            lost = entry.at_s
        elif entry.count == 0 and lost is not None:
            total, lost = total + entry.at_s - lost, None
    return total


def _log_replan(events, case, plan) -> None:
    """One ``replan`` event per change of a plan re-planned for the probes as placed."""
    from irelab.delivery import DeliveryEvent, EventType

    record = case.replan
    if record is None:
        return
    pairs = {p.name: p for p in plan.pairs}
    for change in record.changes:
        pair = pairs.get(change.subject)
        events.emit(DeliveryEvent(0.0, EventType.REPLAN, reason=change.kind,
                                  pair=change.subject,
                                  voltage_V=pair.voltage_V if pair is not None and
                                  change.kind != "reposition" else None,
                                  detail=f"{change.detail} (from {record.from_plan}, probes "
                                         f"as measured in {record.measured})"))


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
    compared = Table(title="Delivered against planned")
    for column in ("pair", "pulses", "current A (predicted / first / max)", "test-pulse rise",
                   "energy J (planned / delivered)"):
        compared.add_column(column, justify="left" if column == "pair" else "right")
    for c in out["delivered_vs_planned"]:
        currents = " / ".join("-" if v is None else f"{v:.1f}" for v in (
            c["predicted_current_A"], c["first_current_A"], c["max_current_A"]))
        rise = "-" if c["test_rise"] is None else f"{100 * c['test_rise']:+.1f} %"
        compared.add_row(c["pair"], f"{c['pulses'] + c['test_pulses']} / "
                         f"{c['pulses_planned'] + c['test_pulses_planned']}", currents, rise,
                         f"{c['energy_planned_J']:.1f} / {c['energy_J']:.1f}")
    console.print(compared)
    record = out["record"]
    for check in record["checks"]:
        console.print(f"checked: {check['item']} by {check['confirmed_by']} at "
                      f"{check['confirmed_at']}")
    for text in record["deviations"] or ["none"]:
        console.print(f"deviation: {text}")


def register(app: typer.Typer) -> None:
    """Attach ``irelab deliver``."""
    app.command("deliver")(deliver)
