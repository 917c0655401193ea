"""Shared fixtures of the ECG tests: the eight MIT-BIH records (tests/data/mitdb, ODC-By 1.0,
see its README) and the streaming detector's beats on each, computed once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from irelab.ecg import Beat, EcgRecord, detect_beats, read_record

MITDB = Path(__file__).resolve().parents[1] / "data" / "mitdb"
RECORDS = ("100", "101", "103", "105", "106", "119", "200", "232")


@pytest.fixture(scope="session")
def mitdb_dir() -> Path:
    return MITDB


@pytest.fixture(scope="session")
def records() -> dict[str, EcgRecord]:
    return {name: read_record(MITDB / name) for name in RECORDS}


@pytest.fixture(scope="session")
def detections(records: dict[str, EcgRecord]) -> dict[str, list[Beat]]:
    return {name: detect_beats(rec.signal_mV, rec.fs_Hz) for name, rec in records.items()}

