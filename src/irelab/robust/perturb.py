"""One sample's plan as delivered: the plan case with its probes moved and tilted and its tissues
changed, built and validated by the case layer (:meth:`irelab.case.Case.with_plan`), so a
sample is a case like any other.

Probes: every placement of the array (pullbacks, sideways moves) keeps the probe's error, as the
needle stays in its track when the array is pulled back or moved by the guide (a
simplification for sideways re-insertions, which would draw a new error). Tissues: the
conductivity factor scales both conductivities of a tissue; the threshold factor scales the
lethal threshold (:attr:`irelab.case.Tissue.lethal_V_per_cm`: its own, else ``e_irr``) of every
electroporable tissue (those whose conductivity changes with the field; blood and bile keep
theirs, which only decide how a lumen is drawn). The conductivity rise's ``e_rev`` and ``e_irr``
are kept: the spread is that of the clinical best-fit lethal threshold, not of the rise.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from irelab.case import Case, Tissue
from irelab.robust.sampling import Perturbation

__all__ = ["perturbed_case", "perturbed_tissues"]


def perturbed_tissues(case: Case, perturbation: Perturbation) -> dict[str, Tissue]:
    """The case's tissues with the sample's conductivity and threshold factors applied."""
    tissues = dict(case.tissues)
    for name, factor in perturbation.conductivity:
        t = tissues[name]
        tissues[name] = t.updated(sigma0_S_per_m=t.sigma0_S_per_m * factor,
                                  sigma1_S_per_m=t.sigma1_S_per_m * factor)
    if perturbation.threshold is not None:
        for name, t in tissues.items():
            if t.sigma0_S_per_m != t.sigma1_S_per_m:
                tissues[name] = t.updated(
                    lethal_threshold_V_per_cm=t.lethal_V_per_cm * perturbation.threshold)
    return tissues


def perturbed_case(case: Case, perturbation: Perturbation) -> Case:
    """``case`` (a plan) as one sample delivers it; raises :class:`~irelab.errors.InputError`
    when the moved probes leave the domain or touch each other (a sample that cannot be
    simulated)."""
    if len(perturbation.tip_shift_mm) != len(case.probes):
        raise ValueError(f"the sample moves {len(perturbation.tip_shift_mm)} probes, the plan "
                         f"has {len(case.probes)}")
    probes = tuple(
        replace(probe, tip_mm=tuple(float(c) for c in np.add(probe.tip_mm, shift)),
                direction=tuple(float(c) for c in direction))
        for probe, shift, direction in zip(case.probes, perturbation.tip_shift_mm,
                                           perturbation.direction, strict=True))
    base = replace(case, tissues=perturbed_tissues(case, perturbation), _labels={})
    return base.with_plan(probes, case.protocol, name=f"{case.name}-sample-{perturbation.index}")
