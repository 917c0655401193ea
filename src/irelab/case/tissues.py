"""Tissue electrical models: the presets a case file names, each number with its source.

A tissue is a field-dependent conductivity (a model from :data:`irelab.field.MODELS`, default the
smoothed step of Sel et al. 2005) plus its lethal threshold ``e_irr``: the lethal (IRE) zone is
where |E| reaches the local tissue's ``e_irr``. Case files give thresholds in V/cm; inside they
are V/m.

Presets (sources; each entry's ``source`` repeats them). What could and could not be checked
against the papers is stated: the stored copies we could read reached abstracts, not tables.

* ``liver``: Sel D, Cukjati D, Batiuskaite D, Slivnik T, Mir LM, Miklavcic D. Sequential finite
  element model of tissue electropermeabilization. IEEE Trans Biomed Eng 52(5):816-827, 2005
  (rabbit liver: sigma0 0.067 S/m, sigma1 0.241 S/m, E_rev 362 V/cm, E_irr 637 V/cm). The
  smoothed step keeps Sel's end points and thresholds; between them its shape differs slightly
  from their fitted sigmoid.
* ``tumour`` (colorectal liver metastasis), *derived, provisional*: no tumour-specific
  electroporation parameter set could be verified. Haemmerich D, Schutt DJ. RF ablation at
  audio frequencies preferentially targets tumor - a finite element study. IEEE Trans Biomed Eng
  58(2):404-410, 2011, report that below 20 kHz metastases have about half the resistivity of
  normal liver; so sigma0 and sigma1 are twice the liver's, and the thresholds are the liver's
  (an assumption: no verified tumour threshold). A conductive tumour lowers the field inside it,
  so this errs on the side of planning more, not less.
* ``blood``: non-electroporable, constant 0.68 S/m: Gabriel C. Compilation of the dielectric
  properties of body tissues at RF and microwave frequencies. Report AL/OE-TR-1996-0037, Brooks
  Air Force Base, 1996, appendix B (blood 0.68 S/m at 1-100 kHz, after Schwan 1956). The
  thresholds are the liver's; they only decide whether the lethal zone is drawn through a lumen.
* ``bile``: non-electroporable, constant 1.4 S/m, *provisional*: Gabriel C, Peyman A, Grant EH.
  Electrical conductivity of tissue at frequencies below 1 MHz. Phys Med Biol 54:4863-4878,
  2009, measured pig bile below 1 MHz; the value 1.4 S/m (also the IT'IS database's
  low-frequency bile entry) is recalled, not checked against their table. Thresholds as blood.

A case file can override any field (``tissues: {tumour: {sigma0_S_per_m: ..., source: ...}}``)
or define a new tissue (``like:`` a preset, or all four numbers). A new tissue without a
``source`` is accepted and flagged *unsourced* wherever sources are shown.

Each tissue has a role for planning (:class:`~irelab.field.TissueRole`): the ``tumour`` preset
is the target, ``blood`` and ``bile`` are critical structures, everything else is background; a
tissue ``like:`` a preset inherits its role, and ``role:`` (or ``critical: true``) sets it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from irelab.field.conductivity import MODELS, ConductivityModel
from irelab.field.problem import Material, TissueRole

__all__ = ["Tissue", "TISSUE_PRESETS"]


@dataclass(frozen=True)
class Tissue:
    """One tissue of a case: conductivity model parameters (file units), where they come from,
    and its role for planning.

    ``source`` is None for a tissue whose file gave no source (shown as unsourced). ``kind`` is
    the preset it derives from (its own name for a preset or a tissue defined from scratch): the
    thermal model looks its properties up by kind.
    """

    name: str
    sigma0_S_per_m: float
    sigma1_S_per_m: float
    e_rev_V_per_cm: float
    e_irr_V_per_cm: float
    source: str | None
    model: str = "smoothstep"
    role: TissueRole = TissueRole.BACKGROUND
    kind: str = ""

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown conductivity model {self.model!r}; "
                             f"known: {', '.join(MODELS)}")
        object.__setattr__(self, "role", TissueRole(self.role))
        if not self.kind:
            object.__setattr__(self, "kind", self.name)
        self.conductivity()  # the model checks its own parameters (ValueError if invalid)

    @property
    def critical(self) -> bool:
        """Whether the planner must spare it (keep probes and heat away)."""
        return self.role == TissueRole.CRITICAL

    @property
    def sourced(self) -> bool:
        return bool(self.source)

    @property
    def source_text(self) -> str:
        """The source, or ``UNSOURCED`` (what reports print)."""
        return self.source if self.source else "UNSOURCED: the case file gives no source"

    @property
    def e_irr_V_per_m(self) -> float:
        return self.e_irr_V_per_cm * 100.0

    def conductivity(self) -> ConductivityModel:
        """The solver's model object (thresholds converted to V/m)."""
        return MODELS[self.model](
            sigma0_S_per_m=self.sigma0_S_per_m,
            sigma1_S_per_m=self.sigma1_S_per_m,
            e_rev_V_per_m=self.e_rev_V_per_cm * 100.0,
            e_irr_V_per_m=self.e_irr_V_per_cm * 100.0,
        )

    def material(self) -> Material:
        """What the field problem and the planner need of this tissue."""
        return Material(self.name, self.conductivity(), self.e_irr_V_per_m, self.role, self.kind)

    def updated(self, **changes) -> Tissue:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_SEL_2005 = ("Sel D et al., Sequential finite element model of tissue electropermeabilization, "
             "IEEE Trans Biomed Eng 52(5):816-827, 2005 (rabbit liver)")
_TUMOUR = ("provisional, derived: twice the liver conductivities (Haemmerich D, Schutt DJ, IEEE "
           "Trans Biomed Eng 58(2):404-410, 2011: metastasis resistivity about half of normal "
           "liver below 20 kHz); thresholds assumed equal to the liver's (Sel et al. 2005)")
_BLOOD = ("Gabriel C, Report AL/OE-TR-1996-0037, 1996, appendix B: blood 0.68 S/m at 1-100 kHz; "
          "non-electroporable (constant); thresholds: the liver's, for drawing only")
_BILE = ("provisional: 1.4 S/m recalled from Gabriel C, Peyman A, Grant EH, Phys Med Biol "
         "54:4863-4878, 2009 (pig bile) / IT'IS database, not checked against the table; "
         "non-electroporable (constant); thresholds: the liver's, for drawing only")

_T = TissueRole
TISSUE_PRESETS: dict[str, Tissue] = {
    "liver": Tissue("liver", 0.067, 0.241, 362.0, 637.0, source=_SEL_2005),
    "tumour": Tissue("tumour", 0.134, 0.482, 362.0, 637.0, source=_TUMOUR, role=_T.TARGET),
    "blood": Tissue("blood", 0.68, 0.68, 362.0, 637.0, source=_BLOOD, role=_T.CRITICAL),
    "bile": Tissue("bile", 1.4, 1.4, 362.0, 637.0, source=_BILE, role=_T.CRITICAL),
}
"""Preset tissues by name; a case's ``tissues:`` entries override their fields."""
