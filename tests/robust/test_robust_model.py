"""The uncertainty model: sourced defaults, the case's ``uncertainty:`` key, overrides, and the
samples drawn from it.

The default spreads are derived from published summary figures (see irelab.robust.model); the
tests draw many samples (no solves: cheap) and check that the drawn errors give those figures
back, through the same distributional relations the derivations used:

* mean lateral tip error 3.7 mm (Tinguely et al., Front Oncol 11:713685, 2021);
* median |change of a probe pair's distance| 1.3 mm and mean angle between two probes 2.7
  degrees (IRE applicators in a liver phantom with CT navigation, Sci Rep 11, 2021);
* conductivity coefficients of variation 0.06 / 0.13 (liver) and 0.10 / 0.41 (tumour)
  (Sarreshtehdari et al., Biosensors 14:382, 2024);
* threshold factor within 500-600 V/cm about its centre (Technol Cancer Res Treat 2025, doi
  10.1177/15330338251384207).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import yaml
from robust_cases import SMALL_PLAN
from scipy import stats

from irelab.case import case_text, parse_case
from irelab.errors import InputError
from irelab.robust import DEFAULT_PLACEMENT, Spread, UncertaintyModel, draw_samples
from irelab.robust.model import Distribution
from irelab.robust.sampling import lateral_frame

MANY = 4096
SAMPLING_RTOL = 0.05
"""Tolerance on moments of 4096 samples: the standard error of a standard deviation is
sd / sqrt(2 n) = 1.1 % (less with Sobol points); 5 % leaves room for the medians and means of
derived, skewed quantities (pair distances, angles)."""


def _four_probes():
    """The small plan with four parallel probes on a 14 mm square (a typical IRE array)."""
    mapping = dict(SMALL_PLAN)
    mapping["probes"] = [{"name": f"P{k + 1}", "tip_mm": [x, y, -9], "direction": [0, 0, 1],
                          "exposed_mm": 18}
                         for k, (x, y) in enumerate([(-7, -7), (7, -7), (7, 7), (-7, 7)])]
    return parse_case(mapping, source="<four probes>")


def test_defaults_reproduce_the_published_placement_figures() -> None:
    case = _four_probes()
    samples = draw_samples(UncertaintyModel.for_case(case), case, MANY)
    shifts = np.array([p.tip_shift_mm for p in samples.perturbations])  # (n, probes, 3)
    dirs = np.array([p.direction for p in samples.perturbations])
    lateral = np.linalg.norm(shifts[..., :2], axis=-1)  # probes along z: lateral is x, y
    assert lateral.mean() == pytest.approx(3.7, rel=SAMPLING_RTOL)
    assert shifts[..., 2].std() == pytest.approx(DEFAULT_PLACEMENT.depth_sd_mm,
                                                 rel=SAMPLING_RTOL)
    tips = np.array([p.tip_mm for p in case.probes])
    changes, angles = [], []
    for i, j in itertools.combinations(range(4), 2):
        planned = np.linalg.norm(tips[i, :2] - tips[j, :2])
        moved = np.linalg.norm(tips[i, :2] + shifts[:, i, :2] - tips[j, :2] - shifts[:, j, :2],
                               axis=1)
        changes.append(np.abs(moved - planned))
        angles.append(np.degrees(np.arccos(np.clip(np.sum(dirs[:, i] * dirs[:, j], axis=1),
                                                   -1, 1))))
    assert np.median(np.concatenate(changes)) == pytest.approx(1.3, rel=SAMPLING_RTOL)
    assert np.mean(np.concatenate(angles)) == pytest.approx(2.7, rel=SAMPLING_RTOL)


def test_defaults_reproduce_the_published_tissue_spreads(small_plan) -> None:
    samples = draw_samples(UncertaintyModel.for_case(small_plan), small_plan, MANY)
    names = [p.name for p in samples.parameters]
    liver = samples.values[:, names.index("liver conductivity")]
    tumour = samples.values[:, names.index("tumour conductivity")]
    threshold = samples.values[:, names.index("lethal threshold")]
    assert liver.mean() == pytest.approx(1.0, rel=SAMPLING_RTOL)
    assert liver.std() / liver.mean() == pytest.approx(0.06 / 0.13, rel=SAMPLING_RTOL)
    assert tumour.std() / tumour.mean() == pytest.approx(0.10 / 0.41, rel=SAMPLING_RTOL)
    assert 500 / 550 - 1e-3 < threshold.min() and threshold.max() < 600 / 550 + 1e-3
    assert "blood conductivity" not in names  # no published spread: kept as it is


def test_lognormal_factor_is_the_lognormal_with_mean_one() -> None:
    """A lognormal with log-sd s = sqrt(ln(1 + cv^2)) and median exp(-s^2 / 2) has mean 1 and
    coefficient of variation cv (the moments of the lognormal distribution)."""
    cv = 0.46
    s = np.sqrt(np.log1p(cv**2))
    reference = stats.lognorm(s, scale=np.exp(-s * s / 2))
    u = np.linspace(0.01, 0.99, 9)
    np.testing.assert_allclose(Spread(Distribution.LOGNORMAL, cv).factor(u), reference.ppf(u),
                               rtol=1e-12)
    assert reference.mean() == pytest.approx(1.0) and reference.std() == pytest.approx(cv)
    np.testing.assert_allclose(Spread(Distribution.UNIFORM, 0.1).factor([0.0, 0.5, 1.0]),
                               [0.9, 1.0, 1.1])


def test_first_samples_do_not_depend_on_the_sample_count(small_plan) -> None:
    model = UncertaintyModel.for_case(small_plan)
    few = draw_samples(model, small_plan, 5)
    more = draw_samples(model, small_plan, 12)
    np.testing.assert_array_equal(few.values, more.values[:5])
    assert few.perturbations == more.perturbations[:5]
    other = draw_samples(model.with_seed(1), small_plan, 5)
    assert not np.array_equal(few.values, other.values)


def test_correlation_splits_shared_and_own_displacement(small_plan) -> None:
    rigid = UncertaintyModel.for_case(small_plan, placement={"correlation": 1.0,
                                                             "angle_sd_deg": 0.0})
    samples = draw_samples(rigid, small_plan, 64)
    for p in samples.perturbations:
        np.testing.assert_allclose(p.tip_shift_mm[0], p.tip_shift_mm[1], atol=1e-12)
        assert p.direction[0] == pytest.approx((0, 0, 1))
    independent = UncertaintyModel.for_case(small_plan, placement={"correlation": 0.0})
    names = [p.name for p in draw_samples(independent, small_plan, 4).parameters]
    assert not any(n.startswith("array") for n in names)


def test_case_key_then_overrides_replace_the_defaults(small_plan) -> None:
    mapping = yaml.safe_load(case_text(small_plan))
    mapping["uncertainty"] = {"seed": 7, "placement": {"lateral_sd_mm": 1.0},
                              "conductivity": {"tumour": {"spread": 0.1}},
                              "threshold": {"distribution": "lognormal", "spread": 0.05}}
    case = parse_case(mapping, source="plan.yaml")
    model = UncertaintyModel.for_case(case, placement={"depth_sd_mm": 0.5})
    assert model.seed == 7
    assert model.placement.lateral_sd_mm == 1.0 and model.placement.depth_sd_mm == 0.5
    assert model.placement.angle_sd_deg == DEFAULT_PLACEMENT.angle_sd_deg
    assert model.conductivity["tumour"].spread == 0.1
    assert model.conductivity["liver"].spread == 0.46
    assert model.sources["placement.lateral_sd_mm"] == "plan.yaml"
    assert model.sources["placement.depth_sd_mm"] == "the command line"
    assert UncertaintyModel.for_case(case, seed=3).seed == 3
    # the key survives a round trip through the case writer
    assert parse_case(yaml.safe_load(case_text(case))).uncertainty == case.uncertainty


@pytest.mark.parametrize("entry, key", [
    ({"placement": {"depth_sd_mm": -1}}, "uncertainty.placement.depth_sd_mm"),
    ({"placement": {"correlation": 1.5}}, "uncertainty.placement.correlation"),
    ({"conductivity": {"liver": {"spread": -0.2}}}, "uncertainty.conductivity.liver.spread"),
    ({"conductivity": {"fat": {"spread": 0.2}}}, "uncertainty.conductivity.fat"),
    ({"threshold": {"distribution": "uniform", "spread": 1.2}}, "uncertainty.threshold"),
])
def test_bad_spreads_in_the_case_are_one_error(small_plan, entry, key) -> None:
    mapping = yaml.safe_load(case_text(small_plan))
    mapping["uncertainty"] = entry
    with pytest.raises(InputError) as err:
        parse_case(mapping, source="plan.yaml")
    assert err.value.key == key


def test_negative_override_is_refused(small_plan) -> None:
    with pytest.raises(ValueError, match="lateral_sd_mm must be a non-negative number"):
        UncertaintyModel.for_case(small_plan, placement={"lateral_sd_mm": -2.0})


def test_lateral_frame_is_orthonormal() -> None:
    for direction in ([0, 0, 1], [1, 0, 0], [0.3, -0.4, 0.866]):
        u = np.asarray(direction) / np.linalg.norm(direction)
        e1, e2 = lateral_frame(u)
        frame = np.stack([e1, e2, u])
        np.testing.assert_allclose(frame @ frame.T, np.eye(3), atol=1e-12)
