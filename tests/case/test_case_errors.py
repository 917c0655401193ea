"""Bad case files: one InputError naming the file, the key and what was expected.

The command line turns it into one line on stderr and exit code 2 (checked in a subprocess,
through the real entry point).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from case_examples import two_needles

from irelab.case import load_case, parse_case
from irelab.errors import InputError


def _probe(**changes) -> dict:
    probe = {"name": "P3", "tip_mm": [0, 8, -8], "direction": [0, 0, 1], "exposed_mm": 15}
    probe.update(changes)
    return probe


def _with(path: str, value):
    """``two_needles()`` with the value at a dotted path (list indices as integers) set."""
    case = two_needles()
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = case
    for p in parents:
        node = node[p]
    node[last] = value
    return case


def _without(path: str):
    case = two_needles()
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = case
    for p in parents:
        node = node[p]
    del node[last]
    return case


BAD = [
    ("unknown top-level key", _with("colour", "red"), "colour", "a known key"),
    ("unknown nested key", _with("probes.0.tip", [0, 0, 0]), "probes[0].tip", "tip_mm"),
    ("missing domain", _without("domain"), "domain", "required"),
    ("missing probe tip", _without("probes.1.tip_mm"), "probes[1].tip_mm", "required"),
    ("voltage above 3000", _with("protocol.pairs.0.voltage_V", 3001),
     "protocol.pairs[0].voltage_V", "at most 3000"),
    ("voltage zero", _with("protocol.pairs.0.voltage_V", 0), "protocol.pairs[0].voltage_V",
     "above 0"),
    ("negative voltage", _with("protocol.pairs.0.voltage_V", -100),
     "protocol.pairs[0].voltage_V", "above 0"),
    ("voltage not a number", _with("protocol.pairs.0.voltage_V", "high"),
     "protocol.pairs[0].voltage_V", "number"),
    ("pair names unknown probe", _with("protocol.pairs.0.cathode", "P9"),
     "protocol.pairs[0].cathode", "P1, P2"),
    ("pair anode equals cathode", _with("protocol.pairs.0.cathode", "P1"),
     "protocol.pairs[0].cathode", "other than the anode"),
    ("probe tip outside the domain", _with("probes.0.tip_mm", [-5, 0, -40]),
     "probes[0].tip_mm", "inside the domain"),
    ("exposed part leaves the domain", _with("probes.0.exposed_mm", 40),
     "probes[0].tip_mm", "end of the exposed part"),
    ("probes intersect", _with("probes.1.tip_mm", [-4.5, 0, -8]), "probes[1]",
     "does not touch probe P1"),
    ("crossing probes", _with("probes", two_needles()["probes"] + [
        _probe(tip_mm=[-12, 0, 0], direction=[1, 0, 0], exposed_mm=5)]), "probes[2]",
     "does not touch"),
    ("duplicate probe names", _with("probes.1.name", "P1"), "probes[1].name", "no other probe"),
    ("zero direction", _with("probes.0.direction", [0, 0, 0]), "probes[0].direction",
     "zero vector"),
    ("unknown tissue", _with("anatomy.regions.0.tissue", "kidney"),
     "anatomy.regions[0].tissue", "preset tissue"),
    ("two shapes in one region", _with("anatomy.regions.0.box",
                                       {"min_mm": [0, 0, 0], "max_mm": [1, 1, 1]}),
     "anatomy.regions[0]", "exactly one shape"),
    ("negative radius", _with("anatomy.regions.0.sphere.radius_mm", -1),
     "anatomy.regions[0].sphere.radius_mm", "above 0"),
    ("new tissue without numbers", _with("tissues", {"gel": {"sigma0_S_per_m": 0.1}}),
     "tissues.gel.sigma1_S_per_m", "new tissue"),
    ("new tissue without its numbers", _with("tissues", {"gel": {
        "sigma0_S_per_m": 0.1, "sigma1_S_per_m": 0.2, "e_irr_V_per_cm": 2}}),
     "tissues.gel.e_rev_V_per_cm", "all of"),
    ("critical contradicts role", _with("tissues", {"gel": {
        "like": "liver", "critical": True, "role": "target"}}), "tissues.gel", "contradicts"),
    ("unknown role", _with("tissues", {"gel": {"like": "liver", "role": "vessel"}}),
     "tissues.gel.role", "target"),
    ("thresholds reversed", _with("tissues", {"liver": {"e_rev_V_per_cm": 700}}),
     "tissues.liver", "e_rev"),
    ("pullback pulls the tip out", _with("protocol.pullback_steps_mm", [30]),
     "protocol.pullback_steps_mm", "at position 2"),
    ("placement moves a probe out", _with("protocol.placements", [
        {"back_mm": 0}, {"shift_mm": [-20, 0, 0]}]), "protocol.placements", "at position 2"),
    ("pullbacks and placements together", _with("protocol.pullback_steps_mm", [2]) | {
        "protocol": {**two_needles()["protocol"], "pullback_steps_mm": [2],
                     "placements": [{"back_mm": 0}]}}, "protocol", "not both"),
    ("currents per position miscounted", _with("protocol.pairs.0.predicted_currents_A", [1, 2]),
     "protocol.pairs[0].predicted_currents_A", "one current per position"),
    ("spacing too coarse for the box", _with("domain.spacing_mm", 9),
     "domain.spacing_mm", "quarter"),
    ("grid too large", _with("domain", {"size_mm": [400, 400, 400], "spacing_mm": 0.1}),
     "domain.spacing_mm", "at most"),
    ("domain not three sizes", _with("domain.size_mm", [80, 80]), "domain.size_mm",
     "three numbers"),
    ("not a mapping", ["just", "a", "list"], "", "YAML mapping"),
]


@pytest.mark.parametrize(("mapping", "key", "expected"), [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_bad_case_names_the_key_and_what_was_expected(mapping, key, expected) -> None:
    with pytest.raises(InputError) as err:
        parse_case(mapping, source="bad.yaml")
    assert err.value.source == "bad.yaml"
    assert err.value.key == key
    assert expected in str(err.value)
    assert str(err.value).startswith(f"bad.yaml: {key}" if key else "bad.yaml")


def test_image_that_does_not_overlap_the_domain(tmp_path) -> None:
    import numpy as np
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.full((10, 10, 10), 2, dtype=np.uint8))
    image.SetOrigin((500.0, 500.0, 500.0))
    sitk.WriteImage(image, str(tmp_path / "far.nii.gz"))
    mapping = _with("anatomy.regions", [{"tissue": "tumour",
                                         "image": {"path": "far.nii.gz", "label": 2}}])
    with pytest.raises(InputError, match="overlapping the domain") as err:
        parse_case(mapping, source="c.yaml", base_dir=tmp_path)
    assert err.value.key == "anatomy.regions[0].image.path"


def test_missing_image_and_absent_label(tmp_path) -> None:
    import numpy as np
    import SimpleITK as sitk

    mapping = _with("anatomy.regions", [{"tissue": "tumour",
                                         "image": {"path": "none.nii.gz", "label": 2}}])
    with pytest.raises(InputError, match="existing"):
        parse_case(mapping, source="c.yaml", base_dir=tmp_path)
    image = sitk.GetImageFromArray(np.ones((10, 10, 10), dtype=np.uint8))
    image.SetOrigin((-5.0, -5.0, -5.0))
    sitk.WriteImage(image, str(tmp_path / "none.nii.gz"))
    with pytest.raises(InputError, match="label present") as err:
        parse_case(mapping, source="c.yaml", base_dir=tmp_path)
    assert err.value.key == "anatomy.regions[0].image.label"


def test_unreadable_files(tmp_path) -> None:
    with pytest.raises(InputError, match="readable case file"):
        load_case(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(InputError, match="valid YAML") as err:
        load_case(broken)
    assert err.value.source == str(broken)


def test_command_line_prints_one_line_and_exits_2(tmp_path) -> None:
    case_file = tmp_path / "case.yaml"
    case_file.write_text(yaml.safe_dump(_with("protocol.pairs.0.voltage_V", 5000)))
    run = subprocess.run([sys.executable, "-m", "irelab.cli.main", "simulate", str(case_file),
                          "--json"], capture_output=True, text=True, check=False)
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(case_file) in lines[0] and "protocol.pairs[0].voltage_V" in lines[0]
    assert "at most 3000" in lines[0]
