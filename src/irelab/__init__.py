"""irelab: irreversible electroporation of liver metastases, from case to evidence.

Subpackages (imported lazily, so ``import irelab`` stays cheap and the numerical core never pulls
in the web or plotting stacks):

- ``irelab.field``: electric field with field-dependent conductivity (the solver).
- ``irelab.case``: case files, tissues and anatomy on a voxel grid; ``irelab.simulation`` runs them.
- ``irelab.thermal`` and ``irelab.plan``: bioheat, thermal damage and the treatment planner.
- ``irelab.ecg`` and ``irelab.delivery``: R-wave detection, gating and the generator simulator.
- ``irelab.procedure``: the probes as placed and the re-plan for them.
- ``irelab.registry`` and ``irelab.outcomes``: the research registry and its outcome analysis.
- ``irelab.imaging``: patient CT and segmentations in, plans out in the scanner's frame.
- ``irelab.validation``: predictions against published and achieved ablation zones, and site
  calibration of the lethal threshold.

Every public name of a subpackage is also reachable from the root, e.g. ``irelab.Grid``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

SUBPACKAGES: tuple[str, ...] = (
    "errors",
    "field",
    "case",
    "simulation",
    "thermal",
    "plan",
    "ecg",
    "delivery",
    "procedure",
    "outcomes",
    "registry",
    "imaging",
    "validation",
)


def _subpackage(name: str) -> ModuleType:
    return importlib.import_module(f"irelab.{name}")


def _public_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for sub in SUBPACKAGES:
        for public in _subpackage(sub).__all__:
            names.setdefault(public, sub)
    return names


def __getattr__(name: str) -> object:
    if name == "__all__":
        return sorted(_public_names())
    if name.startswith("_"):
        raise AttributeError(name)
    for sub in SUBPACKAGES:
        module = _subpackage(sub)
        if name in module.__all__:
            return getattr(module, name)
    raise AttributeError(f"module 'irelab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_public_names()))
