"""Adverse-event rates per procedure: by CTCAE v5.0 grade, by CIRSE grade and by IRE harm.

The unit is the procedure: a rate is the share of procedures with at least one event of the
kind counted (several events of one kind in one procedure count once), with Wilson 95 %
intervals (:mod:`irelab.outcomes.proportions`). CTCAE: Common Terminology Criteria for Adverse
Events v5.0 (NCI, 2017), grades 1-5. CIRSE: Filippiadis DK et al., Cardiovasc Intervent Radiol
2017;40:1141-1146, grades 1-6 (6 = death).

:data:`IRE_HARMS` groups CTCAE terms into the harms reported for IRE of liver metastases
(arrhythmia, pneumothorax, portal vein thrombosis, transient ALT/bilirubin rises, post-ablation
syndrome). CTCAE has no "post-ablation syndrome" term; we count its flu-like components (fever,
fatigue, myalgia, nausea, vomiting). The grouping is ours, not a published mapping.
"""

from __future__ import annotations

from dataclasses import dataclass

from irelab.outcomes.data import StudyData
from irelab.outcomes.proportions import Proportion, proportion

#: IRE harm -> the CTCAE v5.0 terms counted for it (see the module docstring).
IRE_HARMS: dict[str, tuple[str, ...]] = {
    "Arrhythmia": (
        "Atrial fibrillation",
        "Atrial flutter",
        "Sinus bradycardia",
        "Sinus tachycardia",
        "Supraventricular tachycardia",
        "Ventricular arrhythmia",
        "Ventricular fibrillation",
        "Ventricular tachycardia",
    ),
    "Pneumothorax": ("Pneumothorax",),
    "Portal vein thrombosis": ("Portal vein thrombosis",),
    "Transient ALT/bilirubin rise": (
        "Alanine aminotransferase increased",
        "Aspartate aminotransferase increased",
        "Blood bilirubin increased",
    ),
    "Post-ablation syndrome": ("Fever", "Fatigue", "Myalgia", "Nausea", "Vomiting"),
}

CTCAE_GRADES = (1, 2, 3, 4, 5)
CIRSE_GRADES = (1, 2, 3, 4, 5, 6)


@dataclass(frozen=True)
class RateRow:
    """One line of an adverse-event table: what was counted and its per-procedure rate."""

    label: str
    rate: Proportion


@dataclass(frozen=True)
class AdverseEventRates:
    """Per-procedure adverse-event rates (denominator: all procedures)."""

    procedures: int
    events: int
    ctcae: tuple[RateRow, ...]
    cirse: tuple[RateRow, ...]
    harms: tuple[RateRow, ...]
    serious: Proportion


def _rate(ae, mask, total: int) -> Proportion:
    return proportion(ae.loc[mask, "procedure_id"].nunique(), total)


def adverse_event_rates(data: StudyData) -> AdverseEventRates:
    """Per-procedure rates: any grade, each grade and grade >= 3 for CTCAE and CIRSE; harms."""
    total = int(data.procedures["procedure_id"].nunique())
    ae = data.adverse_events
    ctcae = ae["ctcae_grade"].astype(int)
    cirse = ae["cirse_grade"].astype(int)
    ctcae_rows = [RateRow("Any grade", _rate(ae, ctcae >= 1, total))]
    ctcae_rows += [RateRow(f"Grade {g}", _rate(ae, ctcae == g, total)) for g in CTCAE_GRADES]
    ctcae_rows.append(RateRow("Grade >= 3", _rate(ae, ctcae >= 3, total)))
    cirse_rows = [RateRow("Any grade", _rate(ae, cirse >= 1, total))]
    cirse_rows += [RateRow(f"Grade {g}", _rate(ae, cirse == g, total)) for g in CIRSE_GRADES]
    cirse_rows.append(RateRow("Grade >= 3", _rate(ae, cirse >= 3, total)))
    harms = tuple(
        RateRow(harm, _rate(ae, ae["term"].isin(terms), total)) for harm, terms in IRE_HARMS.items()
    )
    serious = _rate(ae, ae["serious"].astype(bool), total)
    return AdverseEventRates(
        total, int(len(ae)), tuple(ctcae_rows), tuple(cirse_rows), harms, serious
    )
