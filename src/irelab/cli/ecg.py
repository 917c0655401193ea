"""The `irelab ecg` commands: `irelab ecg detect RECORD [--json]`.

RECORD is a WFDB record path without extension, an ``.edf`` or a ``.csv`` file (see
:mod:`irelab.ecg.io`). ``--json`` prints exactly ``{"fs_Hz", "r_peaks", "latency_ms"}`` plus
``"score"`` when the record has reference beat annotations; the latency is the detector's own
(reporting sample - estimated R peak), since a record need not be annotated.
Exit codes: 0 done, 2 bad input (printed by the main entry point).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

ecg_app = typer.Typer(
    name="ecg",
    help="ECG: streaming R-wave detection.",
    no_args_is_help=True,
    add_completion=False,
)


@ecg_app.command("detect")
def detect(
    record: Annotated[Path, typer.Argument(help="WFDB record (no extension), .edf or .csv")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON only")] = False,
) -> None:
    """Detect R waves causally, as the streaming detector would see them."""
    import numpy as np

    from irelab.ecg import DetectorConfig, detect_beats, read_record, score_detections

    config = DetectorConfig()
    rec = read_record(record)
    beats = detect_beats(rec.signal_mV, rec.fs_Hz, config)
    peaks = [b.sample for b in beats]
    out: dict[str, object] = {
        "fs_Hz": rec.fs_Hz,
        "r_peaks": peaks,
        "latency_ms": [round(b.latency_ms, 3) for b in beats],
    }
    score = None
    if rec.annotations is not None:
        score = score_detections(rec.annotations.beats_only().samples, peaks, rec.fs_Hz,
                                 skip_s=config.learning_s)
        out["score"] = {
            "tp": score.tp, "fp": score.fp, "fn": score.fn,
            "se": _finite(score.se), "ppv": _finite(score.ppv),
            "window_ms": 150.0, "skip_s": config.learning_s,
        }
    if as_json:
        typer.echo(json.dumps(out))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"R-wave detection: {rec.name}", show_header=False)
    table.add_row("sampling rate", f"{rec.fs_Hz:g} Hz")
    table.add_row("duration", f"{rec.duration_s:.1f} s")
    table.add_row("beats detected", str(len(beats)))
    if len(peaks) > 1:
        rr_s = np.diff(peaks) / rec.fs_Hz
        table.add_row("mean heart rate", f"{60.0 / float(np.mean(rr_s)):.1f} bpm")
    if beats:
        lat = np.array([b.latency_ms for b in beats])
        table.add_row("detector latency (median / max)",
                      f"{np.median(lat):.1f} / {lat.max():.1f} ms")
    if score is not None:
        table.add_row("Se / +P (150 ms window)",
                      f"{100 * score.se:.2f} % / {100 * score.ppv:.2f} %")
        table.add_row("TP / FP / FN", f"{score.tp} / {score.fp} / {score.fn}")
    Console().print(table)


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined ratio (no beats) becomes null."""
    return value if value == value else None


def register(app: typer.Typer) -> None:
    """Attach `irelab ecg` to the main app."""
    app.add_typer(ecg_app, name="ecg")
