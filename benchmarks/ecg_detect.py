"""Side-by-side R-wave detection on the eight MIT-BIH records in tests/data/mitdb.

Detectors:

- ``irelab``: :class:`irelab.ecg.StreamingRDetector`, CAUSAL, fed in 100 ms chunks as a live
  stream would be; latency = (sample at which the beat was reported - annotated R) in ms.
- ``xqrs``: ``wfdb.processing.xqrs_detect(sig, fs, verbose=False)`` (wfdb 4.x), OFFLINE.
- ``neurokit2``: ``nk.ecg_peaks(nk.ecg_clean(sig, sampling_rate=fs), sampling_rate=fs)``
  with the default methods ("neurokit"), OFFLINE.

The offline detectors see the whole record (including the future), so detection latency is not
defined for them: their latency columns read "n/a (offline)". For all three the R-position
error (detected peak - annotated R, ms: median and 99th percentile of |error|) is reported.

Scoring: ANSI/AAMI EC57 style, beat annotations only, 150 ms match window, gross = TP/FP/FN
summed over records; the first 2 s (the irelab detector's learning period) are skipped for
every detector alike. CPU is ``time.process_time`` per hour of ECG (numbers on a shared, loaded
machine are inflated). Run:

    .venv/bin/python benchmarks/ecg_detect.py [--json] [--records 100 105 ...] [--channel 1]

``--channel 1`` runs all three on the records' second lead (V1, V2 or V5, read with
``wfdb.rdrecord(..., channels=[1])``) against the same annotations: a lead none of the
detectors' parameters were chosen on.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from irelab.ecg import (
    DetectorConfig,
    Score,
    StreamingRDetector,
    latency_vs_reference_ms,
    read_record,
    score_detections,
)

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "mitdb"
RECORDS = ("100", "101", "103", "105", "106", "119", "200", "232")
SKIP_S = DetectorConfig().learning_s
CHUNK_S = 0.1


@dataclass(frozen=True)
class Row:
    detector: str
    record: str
    tp: int
    fp: int
    fn: int
    se_pct: float
    ppv_pct: float
    latency_median_ms: float | None
    latency_p99_ms: float | None
    pos_error_median_ms: float
    pos_error_p99_abs_ms: float
    cpu_s_per_hour: float


def _irelab(signal: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray | None]:
    detector = StreamingRDetector(fs)
    step = max(1, round(CHUNK_S * fs))
    beats = []
    for start in range(0, signal.size, step):
        beats += detector.process(signal[start:start + step])
    beats += detector.flush()
    return (np.array([b.sample for b in beats], dtype=np.int64),
            np.array([b.detected_sample for b in beats], dtype=np.int64))


def _xqrs(signal: np.ndarray, fs: float) -> tuple[np.ndarray, None]:
    from wfdb import processing

    return np.asarray(processing.xqrs_detect(signal, fs, verbose=False), dtype=np.int64), None


def _neurokit(signal: np.ndarray, fs: float) -> tuple[np.ndarray, None]:
    import neurokit2 as nk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cleaned = nk.ecg_clean(signal, sampling_rate=fs)
        _, info = nk.ecg_peaks(cleaned, sampling_rate=fs)
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64), None


DETECTORS: dict[str, Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray | None]]] = {
    "irelab": _irelab,
    "xqrs": _xqrs,
    "neurokit2": _neurokit,
}


def _row(name: str, record: str, score: Score, lat: np.ndarray | None, fs: float,
         cpu_s: float, hours: float) -> Row:
    err = (score.matched_detected - score.matched_reference) * 1e3 / fs
    return Row(
        detector=name, record=record, tp=score.tp, fp=score.fp, fn=score.fn,
        se_pct=100 * score.se, ppv_pct=100 * score.ppv,
        latency_median_ms=None if lat is None else float(np.median(lat)),
        latency_p99_ms=None if lat is None else float(np.percentile(lat, 99)),
        pos_error_median_ms=float(np.median(err)),
        pos_error_p99_abs_ms=float(np.percentile(np.abs(err), 99)),
        cpu_s_per_hour=cpu_s / hours,
    )


def _signal(rec_name: str, channel: int) -> tuple[np.ndarray, float, np.ndarray, float]:
    """(signal in mV, fs, reference beat samples, duration in s) of one record and lead."""
    rec = read_record(DATA / rec_name)
    signal = rec.signal_mV
    if channel:
        import wfdb

        signal = wfdb.rdrecord(str(DATA / rec_name), channels=[channel]).p_signal[:, 0]
    return signal, rec.fs_Hz, rec.annotations.beats_only().samples, rec.duration_s


def run(records: tuple[str, ...], channel: int = 0) -> list[Row]:
    rows: list[Row] = []
    for name, detect in DETECTORS.items():
        scores, lats, errs_fs, cpu_total, hours_total = [], [], [], 0.0, 0.0
        for rec_name in records:
            signal, fs, reference, duration_s = _signal(rec_name, channel)
            t0 = time.process_time()
            samples, reported = detect(signal, fs)
            cpu = time.process_time() - t0
            hours = duration_s / 3600.0
            score = score_detections(reference, samples, fs, skip_s=SKIP_S)
            lat = None if reported is None else latency_vs_reference_ms(score, reported, fs)
            rows.append(_row(name, rec_name, score, lat, fs, cpu, hours))
            scores.append(score)
            lats.append(lat)
            errs_fs.append(fs)
            cpu_total += cpu
            hours_total += hours
        gross = Score.gross(scores)
        fs = errs_fs[0]  # all MIT-BIH records are 360 Hz
        lat_all = None if lats[0] is None else np.concatenate(lats)
        rows.append(_row(name, "gross", gross, lat_all, fs, cpu_total, hours_total))
    return rows


def _fmt(value: float | None, offline: str = "n/a (offline)") -> str:
    return offline if value is None else f"{value:.1f}"


def print_table(rows: list[Row], channel: int = 0) -> None:
    head = (f"{'detector':<10} {'record':<6} {'TP':>6} {'FP':>5} {'FN':>5} {'Se %':>7} "
            f"{'+P %':>7} {'lat med ms':>14} {'lat p99 ms':>14} {'pos err med':>11} "
            f"{'|pos err| p99':>13} {'CPU s/h':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        label = r.detector if r.detector == "irelab" else f"{r.detector}*"
        print(f"{label:<10} {r.record:<6} {r.tp:>6} {r.fp:>5} {r.fn:>5} {r.se_pct:>7.2f} "
              f"{r.ppv_pct:>7.2f} {_fmt(r.latency_median_ms):>14} {_fmt(r.latency_p99_ms):>14} "
              f"{r.pos_error_median_ms:>11.1f} {r.pos_error_p99_abs_ms:>13.1f} "
              f"{r.cpu_s_per_hour:>8.2f}")
    print("\n* OFFLINE detectors (they see the whole record): no detection latency; irelab is "
          "causal and streaming (100 ms chunks).\nLatency = reporting time - annotated R; "
          f"first {SKIP_S:g} s skipped for all; 150 ms EC57 window; CPU on a shared machine; "
          f"lead: channel {channel} ({'MLII' if channel == 0 else 'second lead'}).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON rows only")
    parser.add_argument("--records", nargs="+", default=list(RECORDS))
    parser.add_argument("--channel", type=int, default=0, choices=(0, 1),
                        help="lead: 0 = MLII (default), 1 = the second lead")
    args = parser.parse_args()
    rows = run(tuple(args.records), args.channel)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
    else:
        print_table(rows, args.channel)


if __name__ == "__main__":
    main()
