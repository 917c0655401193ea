"""Builders of small hand-made StudyData for the outcome tests."""

from __future__ import annotations

import datetime as dt

import pandas as pd

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


def zone(procedure_id: str, tumour_id: str, margin_mm: float | None, *,
         predicted_mm: float | None = 5.0, dice: float = 0.7):
    """An ablation zone of a treatment: ``irelab compare``'s metrics."""
    return {
        "procedure_id": procedure_id,
        "tumour_id": tumour_id,
        "dice": dice,
        "hd95_mm": 4.0,
        "volume_ratio": 1.0,
        "predicted_volume_cm3": 30.0,
        "achieved_volume_cm3": 30.0,
        "tumour_volume_cm3": 4.0,
        "minimal_margin_mm": margin_mm,
        "predicted_minimal_margin_mm": predicted_mm,
    }
