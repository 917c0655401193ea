"""Readers: WFDB (MIT-BIH record 100), EDF written here with pyedflib, CSV; and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from irelab.ecg import BEAT_SYMBOLS, EcgRecord, read_record
from irelab.errors import InputError


def test_wfdb_record_100(records: dict[str, EcgRecord], mitdb_dir: Path) -> None:
    """Header 100.hea: 360 Hz, 650000 samples, MLII gain 200 adu/mV, baseline 1024. The first
    sample is decoded here by hand from the format-212 bytes of 100.dat (12 bits: byte 0 plus
    the low nibble of byte 1 as bits 8-11), independently of the wfdb package. Beat count:
    MIT-BIH Arrhythmia Database Directory, record 100: 2239 N, 33 A, 1 V = 2273 beats."""
    rec = records["100"]
    assert rec.fs_Hz == 360.0
    assert rec.signal_mV.shape == (650000,)
    raw = (mitdb_dir / "100.dat").read_bytes()[:2]
    first_adu = raw[0] + ((raw[1] & 0x0F) << 8)
    assert rec.signal_mV[0] == pytest.approx((first_adu - 1024) / 200.0)
    beats = rec.annotations.beats_only()
    assert beats.samples.size == 2273
    assert sorted(set(beats.symbols)) == ["A", "N", "V"]
    assert set(rec.annotations.symbols) - BEAT_SYMBOLS == {"+"}  # the rhythm label is dropped
    # 11-bit ADC, zero 1024: codes 0..2047 -> (0 - 1024)/200 and (2047 - 1024)/200 mV
    assert rec.adc_rails_mV == pytest.approx((-5.12, 5.115))


def test_wfdb_header_path_and_no_annotations(tmp_path: Path, mitdb_dir: Path) -> None:
    for ext in (".hea", ".dat"):
        shutil.copy(mitdb_dir / f"103{ext}", tmp_path / f"103{ext}")
    rec = read_record(tmp_path / "103.hea")
    assert rec.name == "103" and rec.annotations is None and rec.signal_mV.size == 650000
    assert read_record(tmp_path / "103.dat").name == "103"


def test_edf_roundtrip(tmp_path: Path) -> None:
    """A 10 Hz sine of 1 mV amplitude written in uV at 250 Hz reads back in mV within the
    16-bit digital resolution of the EDF file (range 2000 uV / 65535 steps = 0.03 uV)."""
    import pyedflib.highlevel as edf

    fs = 250
    t = np.arange(5 * fs) / fs
    sig_uV = 1000.0 * np.sin(2 * np.pi * 10 * t)
    header = edf.make_signal_header("ECG", dimension="uV", sample_frequency=fs,
                                    physical_min=-1000.0, physical_max=1000.0)
    path = tmp_path / "sine.edf"
    edf.write_edf(str(path), [sig_uV], [header])
    rec = read_record(path)
    assert rec.fs_Hz == fs and rec.name == "sine"
    assert rec.adc_rails_mV == pytest.approx((-1.0, 1.0))
    np.testing.assert_allclose(rec.signal_mV, sig_uV * 1e-3, atol=1e-4)


def test_csv_with_fs_comment_and_time_column(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("# patient: demo\n# fs_Hz: 250\ntime_s,ecg_mV\n0.000,0.1\n0.004,-0.2\n"
                    "0.008,0.3\n", encoding="utf-8")
    rec = read_record(path)
    assert rec.fs_Hz == 250.0 and rec.adc_rails_mV is None
    np.testing.assert_array_equal(rec.signal_mV, [0.1, -0.2, 0.3])
    path.write_text("t_s,lead_mV\n0.0,1\n0.002,2\n0.004,3\n0.006,4\n", encoding="utf-8")
    rec = read_record(path)
    assert rec.fs_Hz == pytest.approx(500.0)
    np.testing.assert_array_equal(rec.signal_mV, [1, 2, 3, 4])


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("# fs_Hz: 50\nmV\n1\n2\n", "fs_Hz"),  # below 125 Hz
        ("# fs_Hz: 0\nmV\n1\n2\n", "fs_Hz"),
        ("# fs_Hz: -360\nmV\n1\n2\n", "fs_Hz"),
        ("# fs_Hz: 5000\nmV\n1\n2\n", "fs_Hz"),
        ("# fs_Hz: abc\nmV\n1\n2\n", "fs_Hz"),
        ("mV\n1\n2\n", "fs_Hz"),  # no rate at all
        ("time_s,mV\n0,1\n0.004,2\n0.010,3\n", "time_s"),  # uneven times
        ("# fs_Hz: 250\nmV\n", "signal"),  # empty
        ("# fs_Hz: 250\nmV\nnan\nnan\n", "signal"),  # all NaN
        ("# fs_Hz: 250\nmV\n1\nx\n", "rows"),
        ("# fs_Hz: 250\n", "header"),
    ],
)
def test_bad_csv(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_record(path)
    assert err.value.key == key
    assert str(err.value).startswith(str(path))


def test_missing_files(tmp_path: Path) -> None:
    for name in ("nothing", "nothing.edf", "nothing.csv"):
        with pytest.raises(InputError):
            read_record(tmp_path / name)


def test_wfdb_bad_rate_and_truncated_signal(tmp_path: Path, mitdb_dir: Path) -> None:
    """A copy of 100.hea claiming 50 Hz is rejected; a .dat cut to 0 bytes is unreadable."""
    header = (mitdb_dir / "100.hea").read_text(encoding="ascii")
    (tmp_path / "slow.hea").write_text(header.replace("100 2 360 650000", "slow 2 50 650000")
                                       .replace("100.dat", "slow.dat"), encoding="ascii")
    shutil.copy(mitdb_dir / "100.dat", tmp_path / "slow.dat")
    with pytest.raises(InputError) as err:
        read_record(tmp_path / "slow")
    assert err.value.key == "fs_Hz"
    (tmp_path / "cut.hea").write_text(header.replace("100 2 360 650000", "cut 2 360 650000")
                                      .replace("100.dat", "cut.dat"), encoding="ascii")
    (tmp_path / "cut.dat").write_bytes(b"")
    with pytest.raises(InputError):
        read_record(tmp_path / "cut")


def test_edf_bad_rate(tmp_path: Path) -> None:
    import pyedflib.highlevel as edf

    header = edf.make_signal_header("ECG", dimension="mV", sample_frequency=100,
                                    physical_min=-5.0, physical_max=5.0)
    path = tmp_path / "slow.edf"
    edf.write_edf(str(path), [np.zeros(500)], [header])
    with pytest.raises(InputError) as err:
        read_record(path)
    assert err.value.key == "fs_Hz"
