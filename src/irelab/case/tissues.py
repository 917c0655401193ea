"""Tissue electrical models: the presets a case file names, each number with its source.

A tissue is a field-dependent conductivity (a model from :data:`irelab.field.MODELS`, default the
smoothed step of Sel et al. 2005: sigma0 below ``e_rev``, sigma1 above ``e_irr``) plus its lethal
threshold: the lethal (IRE) zone is where |E| reaches the local tissue's lethal threshold. The
lethal threshold is ``lethal_threshold_V_per_cm`` when a tissue gives one, else ``e_irr`` (Sel's
model uses one number for both; a tissue file that changes ``e_irr`` without giving a lethal
threshold keeps that meaning, so files written before the key existed read as they did). Case
files give thresholds in V/cm; inside they are V/m.

The lethal threshold does not depend on the pulse protocol here: Ben-David et al. 2012 (below)
found no difference in in vivo porcine liver zones between 50 and 90 pulses of 50-100 us, and
the protocol-dependent cell-kill parameter sets we could reach (a Peleg-Fermi fit to prostate
cancer cells in vitro, quoted second-hand) predict a threshold that falls about fourfold from 50
to 90 pulses, which those in vivo zones contradict. A protocol-dependent model belongs in the
lethal threshold (the field solver reads only the conductivity) once an in vivo parameter set
can be checked against its paper. Conductivity does not depend on temperature here either:
porcine liver's conductivity rises about 1.2 % per degree C (Beitel-White N et al., IEEE Trans
Biomed Eng 68(3):771-782, 2021, abstract, read), but the solver takes sigma(E) per tissue, not a
temperature per voxel, and the in vivo fit below already includes whatever heating its protocol
caused.

Presets (what was read in the source itself and what is second-hand is stated; the stored copies
we could read reached abstracts, not tables):

* ``liver`` (default; in vivo liver, human conductivity, lethal threshold fitted on porcine
  zones):

  - sigma0 0.13 S/m: in vivo human normal liver at 3 kHz, 0.13 +- 0.06 S/m (20 patients during
    liver resection). Sarreshtehdari A, Garcia-Sanchez T, Sanchez-Velazquez P, Ielpo B,
    Berjano E, Villamonte M, Moll X, Burdio F. Electrical conductivity measurement in human
    liver tissue: assessment on normal vs. tumor tissue and under in vivo vs. ex vivo
    conditions. Biosensors 14(8):382, 2024, abstract (read). 3 kHz is the lowest frequency they
    measured, the nearest to the plateau of a 70-100 us pulse.
  - sigma1 0.47 S/m: sigma0 times Sel et al.'s rise 0.241 / 0.067 = 3.6 (rabbit liver in vivo;
    Sel's numbers are recalled, not read in the paper: second-hand). No in vivo human rise
    could be read.
  - e_rev 362, e_irr 637 V/cm: where Sel et al.'s conductivity rise starts and ends (recalled,
    as above): they shape sigma(E) only.
  - lethal threshold 440 V/cm: fitted (:func:`irelab.validation.fit_lethal_threshold`, the
    ``fit`` rows of ``validation/points.csv``) on one data point, the 2250 V zone of Ben-David E,
    Appelbaum L, Sosna J, Nissenbaum I, Goldberg SN. Characterization of irreversible
    electroporation ablation in in vivo porcine liver. AJR 198(1):W62-W68, 2012, abstract
    (read): two 18 G needles 15 mm apart, 20 mm exposed, 50-90 pulses of 50-100 us, zone
    30 +- 4 x 17 +- 4 x 30 +- 6 mm. Held out and reported by ``irelab validate``: their 3000 V
    and 20 mm-spacing zones. A 2025 clinical CT study of 10 liver IRE procedures (Technol Cancer
    Res Treat, doi 10.1177/15330338251384207, abstract read) found simulated zones matched the
    segmented ones best at 500-600 V/cm with its own conductivity model.
* ``tumour`` (colorectal liver metastasis in vivo):

  - sigma0 0.41 S/m: in vivo human liver tumours at 3 kHz, 0.41 +- 0.10 S/m (Sarreshtehdari et
    al. 2024, abstract, read; pooled over metastases, cholangiocarcinoma and hepatocellular
    carcinoma: the metastasis-only value is in the paper's text, which we could not reach).
    Consistent with ex vivo colorectal metastases 2-5 times as conductive as normal liver
    (Prakash S et al., Physiol Meas 36(2):315-328, 2015, abstract, read).
  - sigma1 1.47 S/m: the liver's rise (3.6, second-hand as above), an assumption: a smaller
    rise in tumour would raise the field inside it, so the same rise errs towards planning
    more, not less.
  - e_rev, e_irr and the lethal threshold: the liver's (assumed: no tumour-specific in vivo
    threshold could be read).
* ``blood``: non-electroporable, constant 0.68 S/m: Gabriel C. Compilation of the dielectric
  properties of body tissues at RF and microwave frequencies. Report AL/OE-TR-1996-0037, Brooks
  Air Force Base, 1996, appendix B (blood 0.68 S/m at 1-100 kHz, after Schwan 1956). Thresholds
  are the liver's; they only decide whether the lethal zone is drawn through a lumen.
* ``bile``: non-electroporable, constant 1.4 S/m, *provisional*: Gabriel C, Peyman A, Grant EH.
  Electrical conductivity of tissue at frequencies below 1 MHz. Phys Med Biol 54:4863-4878,
  2009, measured pig bile below 1 MHz; the value 1.4 S/m (also the IT'IS database's
  low-frequency bile entry) is recalled, not checked against their table. Thresholds as blood.
* ``liver-sel2005``: the former default, Sel D, Cukjati D, Batiuskaite D, Slivnik T, Mir LM,
  Miklavcic D. Sequential finite element model of tissue electropermeabilization. IEEE Trans
  Biomed Eng 52(5):816-827, 2005 (rabbit liver in vivo: sigma0 0.067 S/m, sigma1 0.241 S/m,
  E_rev 362 V/cm, E_irr 637 V/cm, the lethal threshold; recalled, the abstract we read names
  the model and the rabbit-liver experiments but not the numbers). It predicts the Ben-David
  2250 V zone 22 x 13 x 26.5 mm, 2.0 SD too narrow.
* ``tumour-sel2005``: the former default tumour, *provisional, derived*: twice Sel's liver
  conductivities (Haemmerich D, Schutt DJ, IEEE Trans Biomed Eng 58(2):404-410, 2011: below
  20 kHz metastases have about half the resistivity of normal liver), Sel's thresholds.

A case file can override any field (``tissues: {tumour: {sigma0_S_per_m: ..., source: ...}}``)
or define a new tissue (``like:`` a preset, or all four numbers). A new tissue without a
``source`` is accepted and flagged *unsourced* wherever sources are shown.

Each tissue has a role for planning (:class:`~irelab.field.TissueRole`): ``tumour`` is the
target, ``blood`` and ``bile`` are critical structures, everything else is background; a tissue
``like:`` a preset inherits its role, and ``role:`` (or ``critical: true``) sets it. ``kind`` is
the tissue family the thermal model looks up (``liver-sel2005`` is of kind ``liver``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from irelab.field.conductivity import MODELS, ConductivityModel
from irelab.field.problem import Material, TissueRole

__all__ = ["Tissue", "TISSUE_PRESETS"]


@dataclass(frozen=True)
class Tissue:
    """One tissue of a case: conductivity model parameters (file units), its lethal threshold,
    where they come from, and its role for planning.

    ``source`` is None for a tissue whose file gave no source (shown as unsourced). ``kind`` is
    the tissue family (the preset it derives from, or its own name): the thermal model looks
    its properties up by kind. ``lethal_threshold_V_per_cm`` is None when the lethal threshold
    is ``e_irr_V_per_cm`` (Sel's single threshold).
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
    lethal_threshold_V_per_cm: float | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown conductivity model {self.model!r}; "
                             f"known: {', '.join(MODELS)}")
        object.__setattr__(self, "role", TissueRole(self.role))
        if not self.kind:
            object.__setattr__(self, "kind", self.name)
        if self.lethal_threshold_V_per_cm is not None and not self.lethal_threshold_V_per_cm > 0:
            raise ValueError("the lethal threshold must be positive")
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
        """Where the conductivity rise ends (the model's upper threshold)."""
        return self.e_irr_V_per_cm * 100.0

    @property
    def lethal_V_per_cm(self) -> float:
        """The lethal threshold in V/cm: its own, else ``e_irr``."""
        if self.lethal_threshold_V_per_cm is not None:
            return self.lethal_threshold_V_per_cm
        return self.e_irr_V_per_cm

    @property
    def lethal_threshold_V_per_m(self) -> float:
        return self.lethal_V_per_cm * 100.0

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
        return Material(self.name, self.conductivity(), self.lethal_threshold_V_per_m, self.role,
                        self.kind)

    def updated(self, **changes) -> Tissue:
        """A copy with the given fields changed (None leaves a field as it is). Changing
        ``e_irr_V_per_cm`` without a lethal threshold makes ``e_irr`` the lethal threshold
        again (Sel's meaning, as in files that predate the key)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if "e_irr_V_per_cm" in changes and "lethal_threshold_V_per_cm" not in changes:
            changes["lethal_threshold_V_per_cm"] = None
        return replace(self, **changes)


LETHAL_IN_VIVO_V_PER_CM = 440.0
"""The in vivo lethal threshold: :func:`irelab.validation.fit_lethal_threshold` on the ``fit``
rows of ``validation/points.csv`` (Ben-David et al. 2012, 2250 V) at 0.5 mm, rounded to
5 V/cm (the fit's step); a slow test repeats the fit."""

SEL_RISE = 0.241 / 0.067
"""sigma1 / sigma0 of Sel et al. 2005 (rabbit liver; second-hand, see the module docstring)."""

_SARRESHTEHDARI = ("Sarreshtehdari A et al., Biosensors 14(8):382, 2024 (in vivo human liver at "
                   "3 kHz, abstract)")
_SEL_2005 = ("Sel D et al., Sequential finite element model of tissue electropermeabilization, "
             "IEEE Trans Biomed Eng 52(5):816-827, 2005 (rabbit liver)")
_LIVER = (f"in vivo liver: sigma0 0.13 S/m ({_SARRESHTEHDARI}: normal 0.13 +- 0.06); sigma1 = "
          "3.6 x sigma0 and e_rev/e_irr 362/637 V/cm from Sel et al. 2005 (rabbit liver, "
          "second-hand); lethal threshold 440 V/cm fitted on the Ben-David et al. AJR 2012 "
          "in vivo porcine 2250 V zone (validation/points.csv, rows marked fit)")
_TUMOUR = (f"colorectal liver metastasis in vivo: sigma0 0.41 S/m ({_SARRESHTEHDARI}: tumours "
           "0.41 +- 0.10, pooled types); sigma1 = 3.6 x sigma0 (the liver's rise, assumed); "
           "thresholds assumed equal to the in vivo liver's")
_BLOOD = ("Gabriel C, Report AL/OE-TR-1996-0037, 1996, appendix B: blood 0.68 S/m at 1-100 kHz; "
          "non-electroporable (constant); thresholds: the liver's, for drawing only")
_BILE = ("provisional: 1.4 S/m recalled from Gabriel C, Peyman A, Grant EH, Phys Med Biol "
         "54:4863-4878, 2009 (pig bile) / IT'IS database, not checked against the table; "
         "non-electroporable (constant); thresholds: the liver's, for drawing only")
_TUMOUR_SEL = ("provisional, derived: twice the Sel et al. 2005 liver conductivities (Haemmerich "
               "D, Schutt DJ, IEEE Trans Biomed Eng 58(2):404-410, 2011: metastasis resistivity "
               "about half of normal liver below 20 kHz); thresholds: Sel et al. 2005's")

_T = TissueRole
_LETHAL = LETHAL_IN_VIVO_V_PER_CM
TISSUE_PRESETS: dict[str, Tissue] = {
    "liver": Tissue("liver", 0.13, round(0.13 * SEL_RISE, 2), 362.0, 637.0, source=_LIVER,
                    lethal_threshold_V_per_cm=_LETHAL),
    "tumour": Tissue("tumour", 0.41, round(0.41 * SEL_RISE, 2), 362.0, 637.0, source=_TUMOUR,
                     role=_T.TARGET, lethal_threshold_V_per_cm=_LETHAL),
    "blood": Tissue("blood", 0.68, 0.68, 362.0, 637.0, source=_BLOOD, role=_T.CRITICAL,
                    lethal_threshold_V_per_cm=_LETHAL),
    "bile": Tissue("bile", 1.4, 1.4, 362.0, 637.0, source=_BILE, role=_T.CRITICAL,
                   lethal_threshold_V_per_cm=_LETHAL),
    "liver-sel2005": Tissue("liver-sel2005", 0.067, 0.241, 362.0, 637.0, source=_SEL_2005,
                            kind="liver"),
    "tumour-sel2005": Tissue("tumour-sel2005", 0.134, 0.482, 362.0, 637.0, source=_TUMOUR_SEL,
                             role=_T.TARGET, kind="tumour"),
}
"""Preset tissues by name; a case's ``tissues:`` entries override their fields."""
