"""The case writer: what it writes reads back as the same case, byte for byte on a second write;
tissue roles and unsourced tissues survive the round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from case_examples import two_needles

from irelab.case import Case, Pair, Placement, Probe, Protocol, load_case, parse_case, write_case
from irelab.case.tissues import TISSUE_PRESETS
from irelab.field import TissueRole
from irelab.plan.phantom import PHANTOMS, phantom_mapping

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def _same(a: Case, b: Case) -> None:
    assert (a.name, a.domain, a.background, a.regions) == (b.name, b.domain, b.background,
                                                          b.regions)
    assert dict(a.tissues) == dict(b.tissues)
    assert a.probes == b.probes and a.protocol == b.protocol


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_reads_back_as_the_same_case(path, tmp_path) -> None:
    case = load_case(path)
    again = load_case(write_case(case, tmp_path / "a.yaml"))
    _same(case, again)
    write_case(again, tmp_path / "b.yaml")
    assert (tmp_path / "a.yaml").read_bytes() == (tmp_path / "b.yaml").read_bytes()


@pytest.mark.parametrize("name", sorted(PHANTOMS))
def test_every_phantom_reads_back_as_the_same_case(name, tmp_path) -> None:
    case = parse_case(phantom_mapping(name), source=name)
    _same(case, load_case(write_case(case, tmp_path / "phantom.yaml")))


def test_a_plan_built_from_typed_values_is_validated_like_a_file(tmp_path) -> None:
    """``with_plan`` goes through the writer and the reader: a probe outside the box is the
    same error a file would give, and a valid plan writes what it holds."""
    from irelab.errors import InputError

    base = parse_case(two_needles())
    probes = (Probe("A", (-4.0, 0.0, -6.0), (0.0, 0.0, 1.0), exposed_mm=12.0),
              Probe("B", (4.0, 0.0, -6.0), (0.0, 0.0, 1.0), exposed_mm=12.0))
    protocol = Protocol(pulses=70, pairs=(Pair("A", "B", 1800.0, 20.5, (20.5, 19.25)),),
                        placements=(Placement(), Placement(2.0, (1.0, 0.0, 0.0))))
    plan = base.with_plan(probes, protocol, name="plan", spacing_mm=0.5)
    assert plan.grid().spacing_m == pytest.approx(0.5e-3)
    written = yaml.safe_load(Path(write_case(plan, tmp_path / "plan.yaml")).read_text())
    assert written["protocol"]["placements"][1] == {"back_mm": 2, "shift_mm": [1, 0, 0]}
    assert written["protocol"]["pairs"][0]["predicted_currents_A"] == [20.5, 19.25]
    assert load_case(tmp_path / "plan.yaml").protocol == protocol
    far = (Probe("A", (-4.0, 0.0, -60.0), (0.0, 0.0, 1.0), exposed_mm=12.0), probes[1])
    with pytest.raises(InputError, match="probes\\[0\\].tip_mm"):
        base.with_plan(far, protocol)


def test_the_pauses_a_plan_needs_are_optional_protocol_keys(tmp_path) -> None:
    """A plan that needs longer pauses (thermal safety) writes ``train_pause_s`` and
    ``pair_pause_s`` and reads them back; a protocol without them writes neither key; a
    negative pause is an error naming the key."""
    from irelab.errors import InputError

    base = parse_case(two_needles())
    probes = (Probe("A", (-4.0, 0.0, -6.0), (0.0, 0.0, 1.0), exposed_mm=12.0),
              Probe("B", (4.0, 0.0, -6.0), (0.0, 0.0, 1.0), exposed_mm=12.0))
    protocol = Protocol(pulses=50, pulse_width_us=70.0, pairs=(Pair("A", "B", 1800.0),),
                        train_pause_s=10.0, pair_pause_s=30.0)
    written = write_case(base.with_plan(probes, protocol), tmp_path / "plan.yaml")
    mapping = yaml.safe_load(Path(written).read_text())["protocol"]
    assert (mapping["train_pause_s"], mapping["pair_pause_s"]) == (10, 30)
    assert load_case(written).protocol == protocol
    usual = write_case(base.with_plan(probes, Protocol(pairs=protocol.pairs)),
                       tmp_path / "usual.yaml")
    assert "pause" not in Path(usual).read_text()
    text = Path(written).read_text().replace("train_pause_s: 10", "train_pause_s: -1")
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(InputError, match="train_pause_s"):
        load_case(tmp_path / "bad.yaml")


def test_tissue_roles_come_from_presets_like_and_role_keys() -> None:
    mapping = two_needles(tissues={
        "metastasis": {"like": "tumour", "sigma0_S_per_m": 0.3},
        "duct": {"like": "liver", "critical": True},
        "gel": {"sigma0_S_per_m": 0.1, "sigma1_S_per_m": 0.2, "e_rev_V_per_cm": 100,
                "e_irr_V_per_cm": 500, "role": "target", "source": "a bench measurement"},
    })
    mapping["anatomy"]["regions"][0]["tissue"] = "metastasis"
    case = parse_case(mapping)
    roles = {name: t.role for name, t in case.tissues.items()}
    assert roles["liver"] == TissueRole.BACKGROUND
    assert roles["metastasis"] == TissueRole.TARGET and roles["blood"] == TissueRole.CRITICAL
    assert roles["duct"] == TissueRole.CRITICAL and roles["gel"] == TissueRole.TARGET
    assert case.tissues["metastasis"].kind == "tumour"  # thermal properties of a tumour
    problem = case.field_problem()
    assert [m.role for m in problem.materials] == [TissueRole.BACKGROUND, TissueRole.TARGET,
                                                   TissueRole.CRITICAL]
    assert problem.mask(TissueRole.TARGET).sum() == case.region_masks(case.grid())[
        "metastasis"].sum()


def test_a_new_tissue_without_source_is_accepted_and_flagged_unsourced(tmp_path) -> None:
    mapping = two_needles(tissues={"gel": {"sigma0_S_per_m": 0.1, "sigma1_S_per_m": 0.2,
                                           "e_rev_V_per_cm": 100, "e_irr_V_per_cm": 500}})
    mapping["anatomy"]["regions"][0]["tissue"] = "gel"
    case = parse_case(mapping)
    gel = case.tissues["gel"]
    assert gel.source is None and not gel.sourced and "UNSOURCED" in gel.source_text
    assert all(TISSUE_PRESETS[n].sourced for n in TISSUE_PRESETS)
    again = load_case(write_case(case, tmp_path / "gel.yaml"))
    assert again.tissues["gel"] == gel
    assert "source" not in yaml.safe_load((tmp_path / "gel.yaml").read_text())["tissues"]["gel"]
