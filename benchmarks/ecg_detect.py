"""R-wave detection and ECG-gated delivery on the sixteen shared MIT-BIH records.

Tuning split (fixed halves): the detector's and the gate's parameters were chosen on the TUNING
records 100, 101, 103, 105, 106, 119, 200, 232 (MLII, their second leads and noise-stressed
copies); 104, 116, 201, 203, 208, 210, 222, 228 are HELD OUT and were not used to choose any
value. Figures on the held-out half are the ones to quote.

Tables (one run):

1. Per record and gross (tuning, held-out, all), side by side:
   - ``irelab``: :class:`irelab.ecg.StreamingRDetector` on channel 0, CAUSAL, fed in 100 ms
     chunks; latency = (sample at which the beat was reported - annotated R) in ms. Beats
     found by search-back (``Beat.searchback``) are reported late by construction and the gate
     never pulses on them: they count for Se and +P like every detection, but the latency
     columns cover the real-time detections only (the trigger candidates); ``SB`` is the
     number of matched search-back beats and ``all p99`` the 99th percentile latency with
     them included;
   - ``irelab-2lead``: :class:`irelab.ecg.MultiLeadDetector` on both channels (rescue);
   - ``xqrs``: ``wfdb.processing.xqrs_detect(sig, fs, verbose=False)`` (wfdb 4.x), OFFLINE;
   - ``nk-default``: ``nk.ecg_peaks(nk.ecg_clean(sig, sampling_rate=fs), sampling_rate=fs)``
     (NeuroKit2 0.2.x/0.3.x, method "neurokit"), OFFLINE;
   - ``nk-pantompkins``: the same with ``method="pantompkins1985"`` in both calls, OFFLINE.
   Scoring: ANSI/AAMI EC57 style, beat annotations only, 150 ms window, gross = TP/FP/FN summed;
   the first 2 s (irelab's learning period) skipped for all. Speed: x real time on one core =
   record duration / ``time.process_time`` of the detection.
2. Noise stress (irelab.ecg.noise; nst calibration and protocol, synthetic noise spectra):
   baseline wander, electrode motion and muscle noise at 24, 18, 12, 6 and 0 dB on records 103,
   119 (tuning) and 116 (held out), scored on the noisy segments only; and the gate on the
   electrode-motion copies: pulses inside noisy segments, pulses outside [R, R + 150 ms].
3. Delivery on every record (channel 0, 20 pairs of 10 + 90 pulses so the run covers the
   record): pulses, pulses outside [R, R + 150 ms] of the annotated beat before them, second
   pulses on one beat, pulses
   on or right after a ventricular beat (AAMI class V: V, E), pulses inside annotated
   ventricular flutter/fibrillation or tachycardia episodes ('(VFL', '(VF', '(VT'), the
   fraction of eligible beats (neither ventricular nor right after one) that got a pulse,
   the time to deliver the 90 treatment pulses of one pair, and the skips by reason.

Run (about 15 min of CPU):

    .venv/bin/python benchmarks/ecg_detect.py [--data DIR] [--json]
    [--records 100 203 ...] [--no-accuracy] [--no-noise] [--no-delivery]

(the sixteen records are in tests/data/mitdb, the default ``--data``).

The machine's load average is printed with the figures (a loaded machine inflates nothing but
the CPU time, which ``process_time`` measures per process).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import wfdb

from irelab.delivery import DeliveryPlan, PairProtocol, run_synchronised
from irelab.ecg import (
    DetectorConfig,
    MultiLeadDetector,
    NoiseKind,
    Score,
    StreamingRDetector,
    add_noise,
    latency_vs_reference_ms,
    score_detections,
)
from irelab.ecg.noise import NSTDB_SNRS_DB
from irelab.ecg.quality import QualityConfig
from irelab.ecg.record import BEAT_SYMBOLS

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "mitdb"
TUNING = ("100", "101", "103", "105", "106", "119", "200", "232")
HELD_OUT = ("104", "116", "201", "203", "208", "210", "222", "228")
NOISE_RECORDS = ("103", "119", "116")
SKIP_S = DetectorConfig().learning_s
CHUNK_S = 0.1
VENTRICULAR = ("V", "E")
VF_RHYTHMS = ("(VFL", "(VF", "(VT")


@dataclass(frozen=True)
class Lead:
    """One record: both channels in mV, reference beats and symbols, rhythm episodes."""

    name: str
    signals_mV: np.ndarray
    fs_Hz: float
    beats: np.ndarray
    symbols: np.ndarray
    episodes: tuple[tuple[int, int], ...]
    """Annotated ventricular flutter/fibrillation/tachycardia episodes (start, stop) samples."""

    @property
    def duration_s(self) -> float:
        return self.signals_mV.shape[0] / self.fs_Hz


@dataclass(frozen=True)
class Row:
    detector: str
    record: str
    split: str
    tp: int
    fp: int
    fn: int
    se_pct: float
    ppv_pct: float
    latency_median_ms: float | None
    latency_p99_ms: float | None
    pos_error_p99_abs_ms: float
    x_real_time: float
    searchback_matched: int | None = None
    """Matched beats found by search-back (late; never triggers)."""
    latency_all_p99_ms: float | None = None
    """99th percentile latency over all matched detections, search-back ones included."""


@dataclass(frozen=True)
class Found:
    """One detector's output on one signal: R samples, reporting samples (causal detectors
    only) and which beats were found by search-back (irelab only)."""

    samples: np.ndarray
    reported: np.ndarray | None = None
    searchback: np.ndarray | None = None


def load(data: Path, name: str) -> Lead:
    rec = wfdb.rdrecord(str(data / name))
    ann = wfdb.rdann(str(data / name), "atr")
    keep = np.isin(ann.symbol, list(BEAT_SYMBOLS))
    episodes, start = [], None
    for sample, note in zip(ann.sample, ann.aux_note, strict=True):
        note = note.strip("\x00").strip()
        if not note.startswith("("):
            continue
        if start is not None:
            episodes.append((start, int(sample)))
            start = None
        if note in VF_RHYTHMS:
            start = int(sample)
    if start is not None:
        episodes.append((start, rec.sig_len))
    return Lead(name, rec.p_signal, float(rec.fs), np.asarray(ann.sample)[keep],
                np.asarray(ann.symbol)[keep], tuple(episodes))


def _stream(detector: StreamingRDetector | MultiLeadDetector, x: np.ndarray,
            fs: float) -> Found:
    step = max(1, round(CHUNK_S * fs))
    beats = []
    for start in range(0, x.shape[0], step):
        beats += detector.process(x[start:start + step])
    beats += detector.flush()
    return Found(np.array([b.sample for b in beats], dtype=np.int64),
                 np.array([b.detected_sample for b in beats], dtype=np.int64),
                 np.array([b.searchback for b in beats], dtype=bool))


def _irelab(lead: Lead, x: np.ndarray | None = None) -> Found:
    sig = np.ascontiguousarray(lead.signals_mV[:, 0] if x is None else x)
    return _stream(StreamingRDetector(lead.fs_Hz), sig, lead.fs_Hz)


def _irelab_2lead(lead: Lead, x: np.ndarray | None = None) -> Found:
    sig = lead.signals_mV[:, :2] if x is None else x
    return _stream(MultiLeadDetector(lead.fs_Hz, 2), sig, lead.fs_Hz)


def _xqrs(lead: Lead, x: np.ndarray | None = None) -> Found:
    from wfdb import processing

    sig = lead.signals_mV[:, 0] if x is None else x
    return Found(np.asarray(processing.xqrs_detect(sig, lead.fs_Hz, verbose=False), np.int64))


def _neurokit(method: str) -> Callable[..., Found]:
    def detect(lead: Lead, x: np.ndarray | None = None) -> Found:
        import neurokit2 as nk

        sig = lead.signals_mV[:, 0] if x is None else x
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cleaned = nk.ecg_clean(sig, sampling_rate=lead.fs_Hz, method=method)
            _, info = nk.ecg_peaks(cleaned, sampling_rate=lead.fs_Hz, method=method)
        return Found(np.asarray(info["ECG_R_Peaks"], dtype=np.int64))
    return detect


DETECTORS: dict[str, Callable[..., Found]] = {
    "irelab": _irelab,
    "irelab-2lead": _irelab_2lead,
    "xqrs": _xqrs,
    "nk-default": _neurokit("neurokit"),
    "nk-pantompkins": _neurokit("pantompkins1985"),
}
"""Noise stress uses single-lead detectors only (the noise is added to channel 0)."""


def _row(detector: str, record: str, split: str, score: Score,
         lat: tuple[np.ndarray, np.ndarray] | None, fs: float, cpu_s: float,
         duration_s: float) -> Row:
    """``lat``: (latency of every matched detection in ms, which of them are search-back)."""
    err = np.abs(score.matched_detected - score.matched_reference) * 1e3 / fs
    real = None if lat is None else lat[0][~lat[1]]
    return Row(detector, record, split, score.tp, score.fp, score.fn, 100 * score.se,
               100 * score.ppv,
               None if real is None or real.size == 0 else float(np.median(real)),
               None if real is None or real.size == 0 else float(np.percentile(real, 99)),
               float(np.percentile(err, 99)) if err.size else float("nan"),
               duration_s / max(cpu_s, 1e-9),
               None if lat is None else int(lat[1].sum()),
               None if lat is None or lat[0].size == 0 else float(np.percentile(lat[0], 99)))


def accuracy(leads: dict[str, Lead]) -> list[Row]:
    rows: list[Row] = []
    for det, detect in DETECTORS.items():
        per: dict[str, tuple[Score, tuple[np.ndarray, np.ndarray] | None, float, float]] = {}
        for name, lead in leads.items():
            t0 = time.process_time()
            found = detect(lead)
            cpu = time.process_time() - t0
            score = score_detections(lead.beats, found.samples, lead.fs_Hz, skip_s=SKIP_S)
            lat = None
            if found.reported is not None:
                late = (np.zeros(found.samples.size, bool) if found.searchback is None
                        else found.searchback)
                lat = (latency_vs_reference_ms(score, found.reported, lead.fs_Hz),
                       late[score.matched_detection_index])
            split = "tuning" if name in TUNING else "held-out"
            rows.append(_row(det, name, split, score, lat, lead.fs_Hz, cpu, lead.duration_s))
            per[name] = (score, lat, cpu, lead.duration_s)
        for label, names in (("GROSS tuning", TUNING), ("GROSS held-out", HELD_OUT),
                             ("GROSS all", TUNING + HELD_OUT)):
            chosen = [per[n] for n in names if n in per]
            if not chosen:
                continue
            gross = Score.gross(c[0] for c in chosen)
            lat = None if chosen[0][1] is None else (
                np.concatenate([c[1][0] for c in chosen]),
                np.concatenate([c[1][1] for c in chosen]))
            rows.append(_row(det, label, label.split()[1], gross, lat, 360.0,
                             sum(c[2] for c in chosen), sum(c[3] for c in chosen)))
    return rows


@dataclass(frozen=True)
class NoiseRow:
    detector: str
    kind: str
    snr_dB: float
    tp: int
    fp: int
    fn: int
    se_pct: float
    ppv_pct: float


def noise_stress(leads: dict[str, Lead]) -> list[NoiseRow]:
    rows = []
    names = [n for n in NOISE_RECORDS if n in leads]
    stressed = {(kind, snr, n): add_noise(leads[n].signals_mV[:, 0], leads[n].beats,
                                          leads[n].fs_Hz, kind, snr, seed=i)
                for kind in NoiseKind for snr in NSTDB_SNRS_DB
                for i, n in enumerate(names)}
    for det, detect in DETECTORS.items():
        if det == "irelab-2lead":
            continue
        for kind in NoiseKind:
            for snr in NSTDB_SNRS_DB:
                scores = []
                for n in names:
                    lead, st = leads[n], stressed[(kind, snr, n)]
                    found = detect(lead, st.signal_mV).samples
                    ref = lead.beats[st.noisy[lead.beats]]
                    found = found[(found >= 0) & (found < st.noisy.size)]
                    scores.append(score_detections(ref, found[st.noisy[found]], lead.fs_Hz))
                g = Score.gross(scores)
                rows.append(NoiseRow(det, str(kind), snr, g.tp, g.fp, g.fn, 100 * g.se,
                                     100 * g.ppv))
    return rows


@dataclass(frozen=True)
class DeliveryRow:
    record: str
    split: str
    condition: str
    pulses: int
    outside_window: int
    second_on_beat: int
    on_ventricular: int
    after_ventricular: int
    in_vf_vt_episode: int
    in_noisy_segment: int | None
    eligible_used_pct: float
    t90_s: float | None
    skips: dict[str, int]


_LONG_PLAN = DeliveryPlan("long", tuple(PairProtocol(f"P{i}", f"P{i + 1}", 1500.0, 30.0)
                                        for i in range(1, 21)), 90, 90.0, "long.yaml")
_ONE_PAIR = DeliveryPlan("one", (PairProtocol("P1", "P2", 1500.0, 30.0),), 90, 90.0, "one.yaml")
_RAILS = QualityConfig(rails_mV=(-5.12, 5.115))  # MIT-BIH: 200 adu/mV, 11 bit, zero 1024


def delivery(lead: Lead, x: np.ndarray | None = None, condition: str = "clean",
             noisy: np.ndarray | None = None) -> DeliveryRow:
    sig = lead.signals_mV[:, 0] if x is None else x
    result = run_synchronised(_LONG_PLAN, sig, lead.fs_Hz, quality=_RAILS)
    t = np.array([e.t_ms for e in result.events if e.event == "pulse"]) / 1e3
    r_s = lead.beats / lead.fs_Hz
    k = np.searchsorted(r_s, t, side="right") - 1
    offset_ms = (t - r_s[np.maximum(k, 0)]) * 1e3
    outside = int(np.sum((k < 0) | (offset_ms < 0) | (offset_ms + 0.09 > 150.0)))
    sym = lead.symbols
    on_v = int(np.isin(sym[np.maximum(k, 0)], VENTRICULAR).sum())
    after_v = int(np.isin(sym[np.maximum(k - 1, 0)], VENTRICULAR).sum())
    at = np.round(t * lead.fs_Hz).astype(np.int64)
    in_episode = int(sum(np.sum((at >= a) & (at < b)) for a, b in lead.episodes))
    ventricular = np.isin(sym, VENTRICULAR)
    eligible = ~ventricular & ~np.concatenate(([False], ventricular[:-1]))
    end = at.max() if at.size else 0
    covered = int(np.sum(eligible & (lead.beats <= end))) if at.size else int(eligible.sum())
    one = run_synchronised(_ONE_PAIR, sig, lead.fs_Hz, quality=_RAILS)
    treatment = [e.t_ms for e in one.events if e.event == "pulse" and e.phase == "treatment"]
    return DeliveryRow(
        lead.name, "tuning" if lead.name in TUNING else "held-out", condition, int(t.size),
        outside, int(k.size - np.unique(k).size), on_v, after_v, in_episode,
        None if noisy is None else int(np.sum(noisy[np.minimum(at, noisy.size - 1)])),
        100.0 * t.size / max(covered, 1),
        treatment[89] / 1e3 if len(treatment) >= 90 else None,
        dict(sorted(result.summary.skips_by_reason.items())))


def _f(v: float | None, fmt: str = ".1f") -> str:
    return "n/a" if v is None else format(v, fmt)


def _print_accuracy(rows: list[Row]) -> None:
    head = (f"{'detector':<15} {'record':<15} {'split':<9} {'TP':>6} {'FP':>5} {'FN':>5} "
            f"{'Se %':>7} {'+P %':>7} {'lat med':>8} {'lat p99':>8} {'|pos| p99':>9} "
            f"{'x RT':>8} {'SB':>4} {'all p99':>8}")
    print("1. Accuracy (ms; irelab latency = report time - annotated R over its real-time "
          "detections; SB: matched search-back beats, late, never triggers; all p99: latency "
          "p99 with them; offline peers n/a)")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r.detector:<15} {r.record:<15} {r.split:<9} {r.tp:>6} {r.fp:>5} {r.fn:>5} "
              f"{r.se_pct:>7.2f} {r.ppv_pct:>7.2f} {_f(r.latency_median_ms):>8} "
              f"{_f(r.latency_p99_ms):>8} {r.pos_error_p99_abs_ms:>9.1f} "
              f"{r.x_real_time:>8.0f} {_f(r.searchback_matched, 'd'):>4} "
              f"{_f(r.latency_all_p99_ms):>8}")


def print_tables(rows: list[Row], noise: list[NoiseRow], deliveries: list[DeliveryRow],
                 load: tuple[float, float, float]) -> None:
    if rows:
        _print_accuracy(rows)
    if noise:
        print(f"\n2. Noise stress on {', '.join(NOISE_RECORDS)} (noisy segments only)")
        print(f"{'detector':<15} {'noise':<17} {'SNR dB':>6} {'TP':>6} {'FP':>5} {'FN':>5} "
              f"{'Se %':>7} {'+P %':>7}")
        for n in noise:
            print(f"{n.detector:<15} {n.kind:<17} {n.snr_dB:>6.0f} {n.tp:>6} {n.fp:>5} "
                  f"{n.fn:>5} {n.se_pct:>7.2f} {n.ppv_pct:>7.2f}")
    if deliveries:
        print("\n3. Delivery (20 pairs x 100 pulses; t90: 90 treatment pulses of one pair)")
        print(f"{'record':<7} {'split':<9} {'condition':<12} {'pulses':>6} {'outside':>7} "
              f"{'2nd':>4} {'onV':>4} {'afterV':>6} {'inVF/VT':>7} {'inNoise':>7} "
              f"{'used %':>7} "
              f"{'t90 s':>7}  skips")
        for d in deliveries:
            print(f"{d.record:<7} {d.split:<9} {d.condition:<12} {d.pulses:>6} "
                  f"{d.outside_window:>7} {d.second_on_beat:>4} {d.on_ventricular:>4} "
                  f"{d.after_ventricular:>6} "
                  f"{d.in_vf_vt_episode:>7} {_f(d.in_noisy_segment, 'd'):>7} "
                  f"{d.eligible_used_pct:>7.1f} {_f(d.t90_s):>7}  {d.skips}")
    print(f"\nload average (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          "x RT = record duration / CPU time of one process")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the WFDB records")
    parser.add_argument("--records", nargs="+", default=list(TUNING + HELD_OUT))
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--no-accuracy", action="store_true")
    parser.add_argument("--no-noise", action="store_true")
    parser.add_argument("--no-delivery", action="store_true")
    args = parser.parse_args()
    names = [n for n in args.records if (args.data / f"{n}.hea").is_file()]
    missing = sorted(set(args.records) - set(names))
    leads = {n: load(args.data, n) for n in names}
    rows = [] if args.no_accuracy else accuracy(leads)
    noise = [] if args.no_noise else noise_stress(leads)
    deliveries: list[DeliveryRow] = []
    if not args.no_delivery:
        deliveries = [delivery(lead) for lead in leads.values()]
        for n in [n for n in NOISE_RECORDS if n in leads]:
            lead = leads[n]
            for snr in NSTDB_SNRS_DB:
                st = add_noise(lead.signals_mV[:, 0], lead.beats, lead.fs_Hz,
                               NoiseKind.ELECTRODE_MOTION, snr, seed=1)
                deliveries.append(delivery(lead, st.signal_mV, f"em {snr:g} dB", st.noisy))
    load_avg = os.getloadavg()
    if args.json:
        print(json.dumps({"rows": [asdict(r) for r in rows],
                          "noise": [asdict(n) for n in noise],
                          "delivery": [asdict(d) for d in deliveries],
                          "missing_records": missing, "load_average": load_avg}, indent=1))
        return
    if missing:
        print(f"records not found in {args.data}: {' '.join(missing)}\n")
    print_tables(rows, noise, deliveries, load_avg)


if __name__ == "__main__":
    main()
