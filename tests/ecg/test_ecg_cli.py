"""`irelab ecg detect RECORD [--json]`: the documented JSON contract, the readable summary,
and bad input (InputError, which the entry point turns into exit code 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from irelab.cli.main import app
from irelab.ecg import EcgRecord
from irelab.errors import InputError

runner = CliRunner()


def test_detect_json_contract(mitdb_dir: Path, records: dict[str, EcgRecord]) -> None:
    result = runner.invoke(app, ["ecg", "detect", str(mitdb_dir / "100"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"fs_Hz", "r_peaks", "latency_ms", "score"}
    assert out["fs_Hz"] == 360.0
    assert len(out["r_peaks"]) == len(out["latency_ms"]) > 2000
    assert all(isinstance(p, int) for p in out["r_peaks"])
    assert out["score"]["se"] >= 0.995 and out["score"]["ppv"] >= 0.995


def test_detect_csv_without_annotations(tmp_path: Path, records: dict[str, EcgRecord]) -> None:
    """Ten seconds of record 100 written as CSV: no score key, same beats as the library."""
    rec = records["100"]
    x = rec.signal_mV[:3600]
    path = tmp_path / "ten.csv"
    path.write_text("# fs_Hz: 360\necg_mV\n" + "\n".join(f"{v:.3f}" for v in x) + "\n",
                    encoding="utf-8")
    result = runner.invoke(app, ["ecg", "detect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"fs_Hz", "r_peaks", "latency_ms"}
    ann = rec.annotations.beats_only().samples
    ref = ann[(ann >= 720) & (ann < 3600 - 30)]
    assert np.abs(np.array(out["r_peaks"])[:, None] - ref[None, :]).min(axis=0).max() <= 10


def test_detect_summary(mitdb_dir: Path) -> None:
    result = runner.invoke(app, ["ecg", "detect", str(mitdb_dir / "232")])
    assert result.exit_code == 0, result.output
    assert "beats detected" in result.stdout and "Se / +P" in result.stdout


def test_detect_missing_record(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ecg", "detect", str(tmp_path / "none")])
    assert isinstance(result.exception, InputError)
