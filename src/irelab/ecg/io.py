"""Read ECG records from WFDB, EDF and CSV into :class:`~irelab.ecg.record.EcgRecord`.

Accepted inputs (``read_record(path)``):

- **WFDB**: a record path without extension (``.../100`` for ``100.hea`` + ``100.dat``), read
  with the ``wfdb`` package; reference annotations come from ``<record>.atr`` when it exists.
  A path ending in ``.hea``, ``.dat`` or ``.atr`` is taken as that record.
- **EDF/EDF+** (``.edf``), read with ``pyedflib``: the first signal, its physical dimension
  converted to mV (``uV``, ``mV`` and ``V`` understood; anything else is taken as mV).
- **CSV** (``.csv``): optional leading comment lines starting with ``#``; one of them may be
  ``# fs_Hz: 360`` (or ``fs_Hz=360``). Then a header row and numeric rows. A column named
  ``time_s`` (or ``t_s``, ``time``; seconds) is optional; the first other column is the signal
  in mV. The sampling rate comes from the ``fs_Hz`` comment, else from the time column (which
  must then be uniformly spaced within 1 %). Example::

      # fs_Hz: 250
      time_s,ecg_mV
      0.000,-0.12
      0.004,-0.11

Every reader validates the sampling rate (:data:`~irelab.ecg.record.FS_RANGE_HZ`) and rejects
empty and all-NaN signals with :class:`~irelab.errors.InputError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from irelab.ecg.record import FS_RANGE_HZ, BeatAnnotations, EcgRecord
from irelab.errors import InputError

_TIME_COLUMNS = ("time_s", "t_s", "time")
_FS_COMMENT = re.compile(r"^#\s*fs_Hz\s*[:=]\s*(\S+)\s*$", re.IGNORECASE)
_EDF_TO_MV = {"uv": 1e-3, "µv": 1e-3, "mv": 1.0, "v": 1e3}


def read_record(path: str | Path) -> EcgRecord:
    """Read one ECG record (WFDB path without extension, ``.edf`` or ``.csv``)."""
    path = Path(path)
    reader = _READERS.get(path.suffix.lower(), _read_wfdb)
    return reader(path)


def _check_fs(source: str, fs_Hz: object) -> float:
    low, high = FS_RANGE_HZ
    try:
        fs = float(fs_Hz)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(source, "fs_Hz", f"a sampling rate between {low:g} and {high:g} Hz",
                         fs_Hz) from None
    if not np.isfinite(fs) or not low <= fs <= high:
        raise InputError(source, "fs_Hz", f"a sampling rate between {low:g} and {high:g} Hz",
                         fs_Hz)
    return fs


def _check_signal(source: str, signal: np.ndarray) -> np.ndarray:
    signal = np.asarray(signal, dtype=np.float64).ravel()
    if signal.size == 0:
        raise InputError(source, "signal", "at least one sample", "an empty signal")
    if not np.isfinite(signal).any():
        raise InputError(source, "signal", "finite samples", "only NaN/inf values")
    return signal


def _read_wfdb(path: Path) -> EcgRecord:
    import wfdb

    wfdb_ext = path.suffix.lower() in {".hea", ".dat", ".atr"}
    record_path = path.with_suffix("") if wfdb_ext else path
    source = str(record_path)
    if not record_path.with_name(record_path.name + ".hea").is_file():
        raise InputError(source, "", "a WFDB record (missing header file "
                         f"{record_path.name}.hea)")
    try:
        header = wfdb.rdheader(str(record_path))
    except Exception as exc:  # wfdb raises bare ValueError/IndexError on malformed headers
        raise InputError(source, "header", "a readable WFDB header", str(exc)) from None
    fs = _check_fs(source, header.fs)
    if not header.n_sig:
        raise InputError(source, "signals", "at least one signal", 0)
    try:
        rec = wfdb.rdrecord(str(record_path), channels=[0])
    except Exception as exc:  # missing or truncated .dat
        raise InputError(source, "signal", "a readable WFDB signal file", str(exc)) from None
    if rec.p_signal is None or rec.p_signal.size == 0:
        raise InputError(source, "signal", "at least one sample", "an empty signal")
    scale = _EDF_TO_MV.get(str(rec.units[0]).strip().lower(), 1.0)
    signal = _check_signal(source, rec.p_signal[:, 0] * scale)
    annotations = None
    if record_path.with_name(record_path.name + ".atr").is_file():
        try:
            ann = wfdb.rdann(str(record_path), "atr")
        except Exception as exc:
            raise InputError(source + ".atr", "", "a readable WFDB annotation file",
                             str(exc)) from None
        annotations = BeatAnnotations(np.asarray(ann.sample), tuple(ann.symbol))
    return EcgRecord(signal_mV=signal, fs_Hz=fs, name=record_path.name, annotations=annotations,
                     adc_rails_mV=_wfdb_rails_mV(rec, scale))


def _wfdb_rails_mV(rec: object, scale: float) -> tuple[float, float] | None:
    """Physical values of the extreme ADC codes: adc_zero -/+ 2**(adc_res - 1) (WFDB header
    fields, PhysioNet WFDB 'header(5)' specification), converted with baseline and gain."""
    res = int((getattr(rec, "adc_res", None) or [0])[0] or 0)
    gain = float((getattr(rec, "adc_gain", None) or [0.0])[0] or 0.0)
    if res <= 0 or gain <= 0:
        return None
    zero = int((getattr(rec, "adc_zero", None) or [0])[0] or 0)
    baseline = int((getattr(rec, "baseline", None) or [zero])[0])
    half = 2 ** (res - 1)
    low, high = zero - half, zero + half - 1
    return ((low - baseline) / gain * scale, (high - baseline) / gain * scale)


def _read_edf(path: Path) -> EcgRecord:
    import pyedflib

    source = str(path)
    if not path.is_file():
        raise InputError(source, "", "an existing EDF file")
    try:
        with pyedflib.EdfReader(source) as reader:
            if reader.signals_in_file < 1:
                raise InputError(source, "signals", "at least one signal", 0)
            fs_raw = reader.getSampleFrequency(0)
            unit = reader.getPhysicalDimension(0).strip().lower()
            signal = reader.readSignal(0)
            rails = (reader.getPhysicalMinimum(0), reader.getPhysicalMaximum(0))
    except InputError:
        raise
    except OSError as exc:
        raise InputError(source, "", "a readable EDF file", str(exc)) from None
    fs = _check_fs(source, fs_raw)
    to_mV = _EDF_TO_MV.get(unit, 1.0)
    signal = _check_signal(source, signal * to_mV)
    low, high = sorted((rails[0] * to_mV, rails[1] * to_mV))
    return EcgRecord(signal_mV=signal, fs_Hz=fs, name=path.stem,
                     adc_rails_mV=(low, high) if low < high else None)


def _read_csv(path: Path) -> EcgRecord:
    source = str(path)
    if not path.is_file():
        raise InputError(source, "", "an existing CSV file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(source, "", "a readable UTF-8 CSV file", str(exc)) from None
    body_start = next((i for i, line in enumerate(lines) if not line.startswith("#")),
                      len(lines))
    fs_comment: str | None = None
    for line in lines[:body_start]:
        match = _FS_COMMENT.match(line)
        if match:
            fs_comment = match.group(1)
    rows = [ln for ln in lines[body_start:] if ln.strip()]
    if not rows:
        raise InputError(source, "header", "a header row naming the columns", "no rows")
    columns = [c.strip() for c in rows[0].split(",")]
    time_col = next((i for i, c in enumerate(columns) if c.lower() in _TIME_COLUMNS), None)
    signal_col = next((i for i in range(len(columns)) if i != time_col), None)
    if signal_col is None:
        raise InputError(source, "header", "a signal column in mV", rows[0])
    try:
        data = np.array([[float(v) if v.strip() else np.nan for v in r.split(",")]
                         for r in rows[1:]], dtype=np.float64).reshape(-1, len(columns))
    except ValueError as exc:
        raise InputError(source, "rows", f"{len(columns)} numeric values per row",
                         str(exc)) from None
    signal = _check_signal(source, data[:, signal_col])
    if fs_comment is not None:
        fs = _check_fs(source, fs_comment)
    elif time_col is not None:
        fs = _check_fs(source, _fs_from_time(source, columns[time_col], data[:, time_col]))
    else:
        raise InputError(source, "fs_Hz", "a '# fs_Hz: <rate>' comment or a time_s column")
    return EcgRecord(signal_mV=signal, fs_Hz=fs, name=path.stem)


def _fs_from_time(source: str, column: str, time_s: np.ndarray) -> float:
    steps = np.diff(time_s)
    if steps.size == 0 or not np.all(np.isfinite(steps)):
        raise InputError(source, column, "at least two finite, increasing times in s")
    step = float(np.median(steps))
    if step <= 0 or np.max(np.abs(steps - step)) > 0.01 * step:
        raise InputError(source, column, "uniformly spaced, increasing times in s (within 1 %)")
    return 1.0 / step


_READERS: dict[str, Callable[[Path], EcgRecord]] = {".edf": _read_edf, ".csv": _read_csv}
