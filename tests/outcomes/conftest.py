"""Small hand-made StudyData for the outcome tests."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from irelab.outcomes.data import SCHEMA, StudyData

D0 = dt.date(2020, 1, 1)


def day(n: int) -> pd.Timestamp:
    return pd.Timestamp(D0 + dt.timedelta(days=n))


def make_study(rows: dict[str, list[dict]]) -> StudyData:
    """A StudyData from row dicts (missing frames empty), dates as pandas timestamps."""
    frames = {
        name: pd.DataFrame(rows.get(name, []), columns=list(cols)) for name, cols in SCHEMA.items()
    }
    frames["followups"]["tumour_id"] = frames["followups"]["tumour_id"].astype(object)
    return StudyData(**frames)


def patient(study_id: str, *, dead_on: int | None = None, last: int = 400, site: str = "A"):
    return {
        "study_id": study_id,
        "site": site,
        "sex": "F",
        "age_years": 60,
        "inclusion_date": day(0),
        "vital_status": "dead" if dead_on is not None else "alive",
        "last_contact_date": day(dead_on if dead_on is not None else last),
        "death_date": day(dead_on) if dead_on is not None else pd.NaT,
    }


def tumour(tumour_id: str, study_id: str, size_mm: float = 20.0):
    return {
        "tumour_id": tumour_id,
        "study_id": study_id,
        "origin": "colorectal",
        "size_mm": size_mm,
        "segment": 4,
        "distance_vessel_mm": 3.0,
        "distance_bile_duct_mm": 5.0,
    }


def procedure(procedure_id: str, study_id: str, on: int, *, sync: bool = True):
    return {
        "procedure_id": procedure_id,
        "study_id": study_id,
        "date": day(on),
        "approach": "percutaneous",
        "general_anaesthesia": True,
        "neuromuscular_block": True,
        "cardiac_sync": sync,
        "n_probes": 3,
        "n_pairs": 3,
        "pulses": 270,
        "max_voltage_V": 2700.0,
        "max_current_A": 30.0,
    }


def treatment(procedure_id: str, tumour_id: str, session: int = 1, success: bool = True):
    return {
        "procedure_id": procedure_id,
        "tumour_id": tumour_id,
        "session": session,
        "technical_success": success,
    }


def followup(fid: str, study_id: str, tumour_id: str | None, on: int, finding: str):
    return {
        "followup_id": fid,
        "study_id": study_id,
        "tumour_id": tumour_id,
        "date": day(on),
        "modality": "CT",
        "finding": finding,
    }


def adverse(ae_id: str, procedure_id: str, study_id: str, term: str, ctcae: int, cirse: int):
    return {
        "ae_id": ae_id,
        "procedure_id": procedure_id,
        "study_id": study_id,
        "term": term,
        "ctcae_version": "5.0",
        "ctcae_grade": ctcae,
        "cirse_grade": cirse,
        "onset_day": 0,
        "serious": ctcae >= 3,
        "relation": "related",
        "outcome": "resolved",
    }


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
