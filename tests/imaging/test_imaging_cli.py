"""The ``irelab case`` commands and the image hooks of ``irelab plan``: results on stdout, bad
input as one line on stderr with exit code 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from irelab.cli.main import app


def _run(args):
    """Run through main() semantics: InputError -> one stderr line, exit 2."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "irelab.cli.main", *args], capture_output=True,
                          text=True, check=False)


@pytest.fixture(scope="module")
def made(axial, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "liver.yaml"
    run = CliRunner().invoke(app, ["case", "from-images", "--ct", str(axial.ct),
                                   "--seg", str(axial.files["slicer"]), "--tumour", "tumor",
                                   "--map", "colon=bowel", "--out", str(out), "--json"])
    assert run.exit_code == 0, run.output
    return out, json.loads(run.stdout.strip().splitlines()[-1])


def test_from_images_writes_the_case_and_its_labels(made) -> None:
    out, data = made
    assert data["case"] == str(out) and out.is_file()
    assert data["labels"].endswith("liver-labels.seg.nrrd")
    assert data["aligned_with_ct"] == [True, True, False]
    assert {s["structure"] for s in data["structures"]} >= {"liver", "tumour", "rib", "body"}


def test_approaches_command(made) -> None:
    out, _ = made
    run = CliRunner().invoke(app, ["case", "approaches", str(out), "--json"])
    assert run.exit_code == 0, run.output
    proposals = json.loads(run.stdout)
    assert proposals[0]["approach"].startswith("anterior")


def test_plan_without_an_approach_stops_and_lists_them(made) -> None:
    out, _ = made
    run = _run(["plan", str(out)])
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "--approach" in lines[0] and "anterior" in lines[0]


def test_bad_inputs_exit_2_with_one_line(axial, tmp_path) -> None:
    """A non-CT as --ct, a missing tumour name, a bad --map."""
    seg = str(axial.files["dicom-seg"])
    cases = [
        (["--ct", seg, "--seg", seg, "--tumour", "x"], "expected a CT image (modality CT)"),
        (["--ct", str(axial.ct), "--seg", seg, "--tumour", "nothing"],
         "--tumour: expected the name of a segment"),
        (["--ct", str(axial.ct), "--seg", seg, "--tumour", "Liver metastasis", "--map", "Colon"],
         "--map: expected NAME=STRUCTURE"),
    ]
    for args, message in cases:
        run = _run(["case", "from-images", *args, "--out", str(tmp_path / "c.yaml")])
        assert run.returncode == 2, run.stderr
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], run.stderr
