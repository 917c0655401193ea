"""One sample: the perturbed plan as a case, its solve, coverage and minimal margin."""

from __future__ import annotations

import numpy as np
import pytest

from irelab.case import case_text
from irelab.field import TissueRole
from irelab.robust import (
    EvaluationSettings,
    Perturbation,
    evaluate_plan,
    minimal_margin_mm,
    perturbed_case,
)
from irelab.robust.evaluate import nominal_task, sample_task

FLIPPED_VOXELS = 3
"""Lethal voxels on which a warm and a cold solve of the same sample may disagree: both stop at
the solver's nonlinear tolerance (2e-3 of the current), which moves |E| by about that fraction;
measured: 1 of 6,400 voxels on the small plan."""

MARGIN_ATOL_MM = 1.0
"""A voxel-centre distance transform places a sphere's surface to within one voxel (1 mm)."""


def _identity(case, index=0, **changes) -> Perturbation:
    values = {"tip_shift_mm": tuple((0.0, 0.0, 0.0) for _ in case.probes),
              "direction": tuple(p.direction for p in case.probes)} | changes
    return Perturbation(index=index, **values)


def _ball(shape, centre, radius):
    idx = np.indices(shape).astype(float)
    return np.sum((idx - np.reshape(centre, (3, 1, 1, 1))) ** 2, axis=0) <= radius**2


@pytest.mark.parametrize("margin", [0.0, 3.0, 6.0])
def test_minimal_margin_of_concentric_balls(margin) -> None:
    """A ball tumour of radius 8 inside a ball ablation of radius 8 + m has margin m (1 mm
    voxels; both surfaces voxelised)."""
    shape = (41, 41, 41)
    tumour = _ball(shape, (20, 20, 20), 8)
    ablated = _ball(shape, (20, 20, 20), 8 + margin)
    assert minimal_margin_mm(ablated, tumour, 1.0) == pytest.approx(margin, abs=MARGIN_ATOL_MM)


def test_minimal_margin_of_an_offset_ablation_is_the_thinnest_side() -> None:
    shape = (41, 41, 41)
    tumour = _ball(shape, (20, 20, 20), 6)
    ablated = _ball(shape, (23, 20, 20), 12)  # 12 - 6 - 3 = 3 mm on the -x side
    assert minimal_margin_mm(ablated, tumour, 1.0) == pytest.approx(3.0, abs=MARGIN_ATOL_MM)
    missed = _ball(shape, (30, 20, 20), 9)  # the -x part of the tumour is 7 mm outside
    assert minimal_margin_mm(missed, tumour, 1.0) <= -6.0


def test_a_missed_voxel_gives_a_negative_margin() -> None:
    tumour = _ball((21, 21, 21), (10, 10, 10), 4)
    ablated = _ball((21, 21, 21), (10, 10, 10), 7)
    assert minimal_margin_mm(ablated, tumour, 2.0) > 0
    ablated[10, 10, 14] = False  # a surface voxel of the tumour
    assert minimal_margin_mm(ablated, tumour, 2.0) <= -2.0


def test_zero_perturbation_is_the_plan(small_plan) -> None:
    sample = perturbed_case(small_plan, _identity(small_plan))
    assert [p.tip_mm for p in sample.probes] == [p.tip_mm for p in small_plan.probes]
    assert sample.protocol == small_plan.protocol
    assert dict(sample.tissues) == dict(small_plan.tissues)


def test_tissue_factors_go_through_the_case_layer(small_plan) -> None:
    sample = perturbed_case(small_plan, _identity(
        small_plan, conductivity=(("liver", 1.5),), threshold=0.9))
    liver, blood = small_plan.tissues["liver"], small_plan.tissues["blood"]
    assert sample.tissues["liver"].sigma0_S_per_m == pytest.approx(1.5 * liver.sigma0_S_per_m)
    assert sample.tissues["liver"].sigma1_S_per_m == pytest.approx(1.5 * liver.sigma1_S_per_m)
    assert sample.tissues["tumour"].e_irr_V_per_cm == pytest.approx(
        0.9 * small_plan.tissues["tumour"].e_irr_V_per_cm)
    assert sample.tissues["blood"] == blood  # not electroporable: threshold kept


def test_nominal_solve_covers_and_samples_start_from_it(small_plan) -> None:
    settings = EvaluationSettings()
    text = case_text(small_plan)
    nominal, fields = nominal_task(text, small_plan.source, ".", settings)
    assert nominal.covered and nominal.margin_mm == pytest.approx(2.0)
    assert set(fields.potentials_V) == set(small_plan.protocol.keys())
    shifted = _identity(small_plan, index=3, tip_shift_mm=((0, -4.0, 0), (0, -4.0, 0)))
    warm = sample_task(text, small_plan.source, ".", shifted, settings, (nominal, fields))
    cold = sample_task(text, small_plan.source, ".", shifted,
                       EvaluationSettings(warm_start=False), None)
    assert warm.index == 3 and warm.converged and cold.converged
    # both solves stop at the solver's tolerance, from different starts: a voxel within that
    # tolerance of its threshold may flip, no more
    assert np.count_nonzero(warm.lethal() != cold.lethal()) <= FLIPPED_VOXELS
    assert warm.coverage == pytest.approx(cold.coverage, abs=0.02)
    assert warm.coverage < 1.0  # 4 mm sideways, beyond the 2 mm margin


def test_sample_whose_probe_leaves_the_domain_counts_as_a_miss(small_plan) -> None:
    out = _identity(small_plan, tip_shift_mm=((0, 0, -40.0), (0, 0, 0)))
    outcome = sample_task(case_text(small_plan), small_plan.source, ".", out,
                          EvaluationSettings(), None)
    assert not outcome.simulated and not outcome.covered
    assert "inside the domain" in outcome.reason


def test_thermal_model_reports_every_critical_tissue(small_plan) -> None:
    outcome, _ = evaluate_plan(small_plan, EvaluationSettings(thermal=True))
    assert [n for n, _ in outcome.critical_damage_mm3] == list(
        small_plan.tissues_with(TissueRole.CRITICAL))
    assert outcome.thermal_damage is False
