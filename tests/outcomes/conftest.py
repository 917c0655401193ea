"""Fixtures of the outcome tests."""

from __future__ import annotations

import pytest
from outcomes_study import (
    adverse,
    followup,
    make_study,
    patient,
    procedure,
    treatment,
    tumour,
)

from irelab.outcomes.data import StudyData


@pytest.fixture
def small_study() -> StudyData:
    """Two patients, four tumours, covering each endpoint definition.

    P1: T1 complete at day 30 then LTP at day 180; T2 residual at day 30, repeat ablation on
    day 45, complete at day 75, censored at its last imaging on day 300.
    P2 (dies day 250): T3 complete at day 30 and 120; T4 'LTP' at day 30 without any
    documented complete ablation (a technique failure, never at risk of LTP).
    """
    return make_study(
        {
            "patients": [patient("P1", last=400), patient("P2", dead_on=250)],
            "tumours": [
                tumour("T1", "P1", 15),
                tumour("T2", "P1", 35),
                tumour("T3", "P2", 55),
                tumour("T4", "P2", 25),
            ],
            "procedures": [
                procedure("X1", "P1", 0),
                procedure("X2", "P1", 45),
                procedure("X3", "P2", 0, sync=False),
            ],
            "treatments": [
                treatment("X1", "T1"),
                treatment("X1", "T2", success=False),
                treatment("X2", "T2", session=2),
                treatment("X3", "T3"),
                treatment("X3", "T4"),
            ],
            "adverse_events": [
                adverse("A1", "X1", "P1", "Supraventricular tachycardia", 1, 1),
                adverse("A2", "X1", "P1", "Pneumothorax", 3, 3),
                adverse("A3", "X3", "P2", "Fever", 1, 1),
            ],
            "followups": [
                followup("F1", "P1", "T1", 30, "complete_ablation"),
                followup("F2", "P1", "T1", 180, "local_tumour_progression"),
                followup("F3", "P1", "T2", 30, "residual_unablated_tumour"),
                followup("F4", "P1", "T2", 75, "complete_ablation"),
                followup("F5", "P1", "T2", 300, "complete_ablation"),
                followup("F6", "P2", "T3", 30, "complete_ablation"),
                followup("F7", "P2", "T3", 120, "complete_ablation"),
                followup("F8", "P2", "T4", 30, "local_tumour_progression"),
                followup("F9", "P2", None, 120, "new_intrahepatic"),
            ],
        }
    )
