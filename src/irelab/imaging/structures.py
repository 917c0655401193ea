"""The structures of a case made from images: its label volume on the CT lattice with a legend.

:func:`case_structures` reads ``imaging.labels`` (SimpleITK: the ``.seg.nrrd`` written by
``case from-images``) and sorts its labels by what they are to a plan: the body outline, the
obstacles a needle must not cross, the critical tissues (by the case tissues' roles: vessels and
ducts) and the target (the tumour). Approaches, insertion depths and crossing warnings look
labels up here, over the whole scan, not only inside the solver's domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from irelab.case import TISSUE_PRESETS, Case
from irelab.case.schema import StructureSpec
from irelab.errors import InputError
from irelab.field import TissueRole
from irelab.imaging.geometry import ImageGeometry

__all__ = ["CaseStructures", "case_structures"]


@dataclass(frozen=True, eq=False)
class CaseStructures:
    """A case's label volume (``[i, j, k]`` on the CT lattice) and its legend by role."""

    geometry: ImageGeometry
    labels: np.ndarray
    legend: tuple[StructureSpec, ...]
    body: frozenset[int]
    obstacles: frozenset[int]
    critical: frozenset[int]
    target: frozenset[int]
    source: str

    @property
    def has_body(self) -> bool:
        return bool(self.body)

    def name(self, value: int) -> str:
        return next((s.name for s in self.legend if s.label == value), str(value))

    def sample(self, world_mm: np.ndarray) -> np.ndarray:
        """The label at each LPS point (0 outside the scan)."""
        return self.geometry.sample(self.labels, world_mm)

    def inside_body(self, values: np.ndarray) -> np.ndarray:
        """Whether sampled labels lie inside the body (every structure lies inside it)."""
        return values != 0

    def mask(self, values: frozenset[int]) -> np.ndarray:
        return np.isin(self.labels, sorted(values))


def _tissue_role(case: Case, tissue: str) -> TissueRole:
    """A tissue's role in the case, or (for one not inside the domain) its preset's."""
    if tissue in case.tissues:
        return case.tissues[tissue].role
    from irelab.imaging.terms import TERMS

    like = next((t.like or t.tissue for t in TERMS if t.tissue == tissue), tissue)
    preset = TISSUE_PRESETS.get(like)
    return preset.role if preset is not None else TissueRole.BACKGROUND


def case_structures(case: Case) -> CaseStructures | None:
    """The structures of ``case`` (None for a case of shapes)."""
    import SimpleITK as sitk

    if case.imaging is None:
        return None
    path = Path(case.imaging.labels)
    if not path.is_absolute():
        path = case.base_dir / path
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError:
        raise InputError(case.source, "imaging.labels", "a readable label volume", str(path)) \
            from None
    labels = np.transpose(sitk.GetArrayFromImage(image), (2, 1, 0))
    legend = tuple(case.imaging.structures)
    roles: dict[str, set[int]] = {"body": set(), "obstacle": set(), "critical": set(),
                                  "target": set()}
    for s in legend:
        if s.role in ("body", "obstacle"):
            roles[s.role].add(s.label)
        elif s.tissue is not None:
            role = _tissue_role(case, s.tissue)
            if role == TissueRole.CRITICAL:
                roles["critical"].add(s.label)
            elif role == TissueRole.TARGET:
                roles["target"].add(s.label)
    return CaseStructures(ImageGeometry.from_sitk(image), labels, legend,
                          frozenset(roles["body"]), frozenset(roles["obstacle"]),
                          frozenset(roles["critical"]), frozenset(roles["target"]), str(path))
