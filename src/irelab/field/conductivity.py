"""Field-dependent tissue conductivity models sigma(E).

A model is a small object with two vectorised methods, ``sigma(E)`` and ``dsigma_dE(E)`` (E in
V/m, sigma in S/m). The solver uses only those, so a new model is one small class registered in
:data:`MODELS`.

The default, :class:`SmoothStepConductivity`, is the C1 smoothed step used by the Ljubljana
group for liver and tumour: sigma rises from ``sigma0`` below the reversible threshold to
``sigma1`` above the irreversible one,

    sigma(E) = sigma0 + (sigma1 - sigma0) * s(t),  s(t) = 3 t^2 - 2 t^3,
    t = clip((E - e_rev) / (e_irr - e_rev), 0, 1).

(Sel D, Cukjati D, Batiuskaite D, Slivnik T, Mir LM, Miklavcic D. Sequential finite element
model of tissue electropermeabilization. IEEE Trans Biomed Eng 52(5):816-827, 2005, which
introduced the smoothed step; the smoothstep polynomial s(t) is the cubic Hermite step, as in
COMSOL's ``flc1hs``.) Setting ``sigma0 == sigma1`` gives a linear medium.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["ConductivityModel", "SmoothStepConductivity", "MODELS"]


@runtime_checkable
class ConductivityModel(Protocol):
    """What the solver needs of a tissue's conductivity: sigma(E) and its derivative."""

    sigma0_S_per_m: float

    def sigma(self, e_V_per_m: np.ndarray) -> np.ndarray: ...

    def dsigma_dE(self, e_V_per_m: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class SmoothStepConductivity:
    """sigma(E) = sigma0 + (sigma1 - sigma0) (3 t^2 - 2 t^3), t = clip((E-e_rev)/(e_irr-e_rev)).

    Thresholds are in V/m inside the code; case files give them in V/cm.
    """

    sigma0_S_per_m: float
    sigma1_S_per_m: float
    e_rev_V_per_m: float
    e_irr_V_per_m: float

    def __post_init__(self) -> None:
        if not (self.sigma0_S_per_m > 0 and self.sigma1_S_per_m > 0):
            raise ValueError("conductivities must be positive")
        if not self.e_irr_V_per_m > self.e_rev_V_per_m >= 0:
            raise ValueError("thresholds must satisfy 0 <= e_rev < e_irr")

    @property
    def is_linear(self) -> bool:
        return self.sigma0_S_per_m == self.sigma1_S_per_m

    def _t(self, e: np.ndarray) -> np.ndarray:
        span = self.e_irr_V_per_m - self.e_rev_V_per_m
        return np.clip((np.asarray(e, dtype=float) - self.e_rev_V_per_m) / span, 0.0, 1.0)

    def sigma(self, e_V_per_m: np.ndarray) -> np.ndarray:
        t = self._t(e_V_per_m)
        step = t * t * (3 - 2 * t)
        return self.sigma0_S_per_m + (self.sigma1_S_per_m - self.sigma0_S_per_m) * step

    def dsigma_dE(self, e_V_per_m: np.ndarray) -> np.ndarray:
        t = self._t(e_V_per_m)
        span = self.e_irr_V_per_m - self.e_rev_V_per_m
        return (self.sigma1_S_per_m - self.sigma0_S_per_m) * 6 * t * (1 - t) / span


MODELS: dict[str, type] = {"smoothstep": SmoothStepConductivity}
"""Named conductivity models a case file may select with ``model:`` (default ``smoothstep``)."""
