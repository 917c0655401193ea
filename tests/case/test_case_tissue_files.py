"""Lethal thresholds apart from the conductivity rise, and tissue files a case includes."""

from __future__ import annotations

import pytest
import yaml
from case_examples import two_needles

from irelab.case import (
    TISSUE_PRESETS,
    case_text,
    load_case,
    load_tissues,
    parse_case,
    write_case,
    write_tissue_file,
)
from irelab.errors import InputError


def test_the_lethal_threshold_is_its_own_key_and_round_trips(tmp_path) -> None:
    case = parse_case(two_needles(tissues={"liver": {"lethal_threshold_V_per_cm": 500}}))
    liver = case.tissues["liver"]
    assert liver.lethal_V_per_cm == 500 and liver.e_irr_V_per_cm == 637
    assert case.field_problem().materials[0].lethal_threshold_V_per_m == 50000
    again = load_case(write_case(case, tmp_path / "plan.yaml"))
    assert again.tissues["liver"] == liver


def test_a_file_that_changes_e_irr_alone_means_sel_s_single_threshold() -> None:
    """A plan written before the key existed (Sel's four numbers) keeps its lethal threshold:
    e_irr."""
    sel = {"sigma0_S_per_m": 0.067, "sigma1_S_per_m": 0.241, "e_rev_V_per_cm": 362,
           "e_irr_V_per_cm": 637}
    case = parse_case(two_needles(tissues={"liver": sel}))
    assert case.tissues["liver"].lethal_V_per_cm == 637
    assert case.tissues["liver"].lethal_V_per_cm != TISSUE_PRESETS["liver"].lethal_V_per_cm
    assert "lethal_threshold_V_per_cm" not in yaml.safe_load(case_text(case))["tissues"]["liver"]


def test_an_included_tissue_file_applies_before_the_case_s_own(tmp_path) -> None:
    site = {"liver": TISSUE_PRESETS["liver"].updated(lethal_threshold_V_per_cm=512.0,
                                                     source="site calibration (test)")}
    write_tissue_file(site, tmp_path / "site.yaml", description="test site")
    assert load_tissues(tmp_path / "site.yaml")["liver"].lethal_V_per_cm == 512
    mapping = two_needles(include=["site.yaml"],
                          tissues={"tumour": {"lethal_threshold_V_per_cm": 520}})
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(mapping))
    case = load_case(tmp_path / "case.yaml")
    assert case.tissues["liver"].lethal_V_per_cm == 512
    assert case.tissues["liver"].source == "site calibration (test)"
    assert case.tissues["tumour"].lethal_V_per_cm == 520
    written = yaml.safe_load(case_text(case))  # a plan holds its tissues, not the include
    assert "include" not in written and written["tissues"]["liver"][
        "lethal_threshold_V_per_cm"] == 512
    # the case's own entry wins over the included one
    mapping["tissues"]["liver"] = {"lethal_threshold_V_per_cm": 480}
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(mapping))
    assert load_case(tmp_path / "case.yaml").tissues["liver"].lethal_V_per_cm == 480


def test_bad_includes_name_the_file_and_key(tmp_path) -> None:
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(two_needles(include=["nope.yaml"])))
    with pytest.raises(InputError, match=r"case.yaml: include\[0\]: expected an existing"):
        load_case(tmp_path / "case.yaml")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"tissues": {"liver": {"sigma": 1}}}))
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(two_needles(include=["bad.yaml"])))
    with pytest.raises(InputError, match=r"bad.yaml: tissues.liver.sigma: expected a known key"):
        load_case(tmp_path / "case.yaml")
    with pytest.raises(InputError, match="lethal_threshold_V_per_cm"):
        parse_case(two_needles(tissues={"liver": {"lethal_threshold_V_per_cm": -5}}))
