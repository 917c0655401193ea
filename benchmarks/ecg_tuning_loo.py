"""Leave-one-record-out choice of the search-back's second look on the TUNING records only.

Reproduces the choice of ``DetectorConfig.searchback_dominance`` and ``searchback_min_ratio``
(see their docstrings). The held-out records (benchmarks/ecg_detect.py) are not read.

Conditions per tuning record (MLII, channel 0):
- ``clean``: the record as it is, first 2 s skipped;
- ``em6`` / ``ma6``: electrode-motion / muscle noise at 6 dB (irelab.ecg.noise, nst
  calibration and protocol, seed = the record's position in ``TUNING``), scored on the noisy
  segments only;
- ``amp25``: amplitude stress, the nst protocol's noisy segments scaled by 1/4 instead of
  noised (QRS energy 1/16: small beats, and a step the running levels must follow).
Each candidate configuration is scored by missed + false beats (EC57 150 ms window); for each
left-out record the configuration with the fewest errors on the other seven (all conditions)
is chosen and its errors on the left-out record are summed.

Run (about 2-3 min of CPU per configuration on two processes):

    .venv/bin/python benchmarks/ecg_tuning_loo.py
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import wfdb

from irelab.ecg import DetectorConfig, NoiseKind, add_noise, detect_beats, score_detections
from irelab.ecg.noise import nst_protocol
from irelab.ecg.record import BEAT_SYMBOLS

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "mitdb"
TUNING = ("100", "101", "103", "105", "106", "119", "200", "232")
CONDITIONS = ("clean", "em6", "ma6", "amp25")
CANDIDATES: tuple[tuple[float, float], ...] = (
    (0.0, 0.0), (4.0, 0.02), (8.0, 0.02), (16.0, 0.02), (8.0, 0.0), (8.0, 0.06), (4.0, 0.06),
    (6.0, 0.06))
"""(searchback_dominance, searchback_min_ratio); (0, 0) is the detector without it."""
AMPLITUDE_STRESS = 0.25


@dataclass(frozen=True)
class Errors:
    missed: int
    false: int


def _signal(name: str, seed: int, condition: str) -> tuple[np.ndarray, np.ndarray, float,
                                                            np.ndarray | None]:
    rec = wfdb.rdrecord(str(DATA / name))
    ann = wfdb.rdann(str(DATA / name), "atr")
    beats = np.asarray(ann.sample)[np.isin(ann.symbol, list(BEAT_SYMBOLS))]
    x, fs = rec.p_signal[:, 0], float(rec.fs)
    if condition == "clean":
        return x, beats, fs, None
    if condition == "amp25":
        return np.where(nst_protocol(x.size, fs), AMPLITUDE_STRESS * x, x), beats, fs, None
    kind = NoiseKind.ELECTRODE_MOTION if condition == "em6" else NoiseKind.MUSCLE
    stressed = add_noise(x, beats, fs, kind, 6.0, seed=seed)
    return stressed.signal_mV, beats, fs, stressed.noisy


def _score(job: tuple[str, str, tuple[float, float]]) -> Errors:
    name, condition, (dominance, min_ratio) = job
    x, beats, fs, noisy = _signal(name, TUNING.index(name), condition)
    config = DetectorConfig(searchback_dominance=dominance, searchback_min_ratio=min_ratio)
    found = np.array([b.sample for b in detect_beats(x, fs, config)], dtype=np.int64)
    if noisy is None:
        score = score_detections(beats, found, fs, skip_s=config.learning_s)
    else:
        keep = noisy[np.clip(found, 0, noisy.size - 1)]
        score = score_detections(beats[noisy[beats]], found[keep], fs)
    return Errors(score.fn, score.fp)


def main() -> None:
    jobs = [(n, c, cand) for cand in CANDIDATES for c in CONDITIONS for n in TUNING]
    with ProcessPoolExecutor(2) as pool:
        errors = dict(zip(jobs, pool.map(_score, jobs), strict=True))

    def total(cand: tuple[float, float], names: tuple[str, ...]) -> int:
        return sum(errors[(n, c, cand)].missed + errors[(n, c, cand)].false
                   for n in names for c in CONDITIONS)

    print("missed / false beats over the eight tuning records")
    print(f"{'dominance':>9} {'min ratio':>9} " + " ".join(f"{c:>11}" for c in CONDITIONS))
    for cand in CANDIDATES:
        cells = [f"{sum(errors[(n, c, cand)].missed for n in TUNING)} / "
                 f"{sum(errors[(n, c, cand)].false for n in TUNING)}" for c in CONDITIONS]
        print(f"{cand[0]:>9g} {cand[1]:>9g} " + " ".join(f"{s:>11}" for s in cells))
    loo, base = 0, 0
    for left in TUNING:
        rest = tuple(n for n in TUNING if n != left)
        chosen = min(CANDIDATES, key=lambda cand: (total(cand, rest), CANDIDATES.index(cand)))
        loo += total(chosen, (left,))
        base += total(CANDIDATES[0], (left,))
        print(f"left out {left}: chose {chosen}, errors there {total(chosen, (left,))} "
              f"(without the second look {total(CANDIDATES[0], (left,))})")
    print(f"left-out errors summed: {loo} (without the second look {base})")
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
