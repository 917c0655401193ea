"""A synthetic demo cohort: realistic-looking IRE registry data that is clearly NOT real.

Every study ID starts with ``SYN-``, every site code with ``SYN-SITE-``, and reports built from
it are headed "SYNTHETIC DEMO DATA". The generator exists so that a fresh install can show a full
outcome report; its numbers mean nothing clinically.

The parameters in :class:`CohortParameters` are ILLUSTRATIVE ASSUMPTIONS chosen by us to give a
plausible-looking cohort of colorectal liver metastases treated by IRE; they are not estimates
from any study. Where a value was chosen to sit near a published figure, the comment names the
figure (see :mod:`irelab.outcomes.evidence` for the sourced series). Time-to-event parts are
exponential with a patient-level gamma frailty, so tumours of one patient are correlated (which
is what the per-tumour cluster bootstrap in :mod:`irelab.outcomes.survival` is for).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from irelab.outcomes.data import StudyData

#: Days per month used to turn monthly hazards into days (365.25 / 12).
DAYS_PER_MONTH = 365.25 / 12

#: Imaging schedule after the first ablation, months (typical reporting-standard practice of a
#: first contrast-enhanced study at about 1 month, Ahmed et al. 2014, then every 3-6 months).
IMAGING_MONTHS = (1, 3, 6, 9, 12, 15, 18, 24, 30, 36, 42, 48, 60)


@dataclass(frozen=True)
class _AeSpec:
    """One adverse-event term of the demo: probability per procedure and its grade mix."""

    term: str
    probability: float
    grades: tuple[int, ...]
    grade_weights: tuple[float, ...]
    onset_days: tuple[int, int]


@dataclass(frozen=True)
class CohortParameters:
    """Illustrative assumptions of the synthetic cohort (see the module docstring)."""

    study_start: dt.date = dt.date(2015, 1, 5)
    accrual_days: int = 4 * 365
    study_end: dt.date = dt.date(2021, 6, 30)
    tumour_count_weights: tuple[float, float, float] = (0.5, 0.3, 0.2)
    #: median tumour size: sizes are log-normal around 25 mm (design choice of the demo cohort).
    size_median_mm: float = 25.0
    size_log_sd: float = 0.45
    percutaneous: float = 0.85
    open_surgery: float = 0.10
    neuromuscular_block: float = 0.98
    #: share of procedures with ECG-synchronised pulse delivery (design choice: about 90 %).
    cardiac_sync: float = 0.9
    technical_success: float = 0.97
    #: residual unablated tumour at first imaging, at 25 mm and per extra 10 mm (odds ratio).
    residual_at_25mm: float = 0.06
    residual_odds_per_10mm: float = 1.8
    repeat_success: float = 0.7
    #: LTP hazard per month at 25 mm, hazard ratio per extra 10 mm ("LTP hazard increasing
    #: with size", a design choice of the demo cohort); gives roughly 20-25 % LTP at one year.
    ltp_hazard_per_month: float = 0.018
    ltp_hr_per_10mm: float = 1.6
    #: variance of the patient-level gamma frailty shared by a patient's tumours.
    frailty_variance: float = 0.8
    death_hazard_per_month: float = np.log(2) / 36.0
    new_intrahepatic_per_month: float = 0.03
    extrahepatic_per_month: float = 0.015
    lost_to_follow_up: float = 0.05


#: Adverse events per procedure of the demo. Rates sit near the sourced series of
#: :mod:`irelab.outcomes.evidence` where there is one (arrhythmia under ECG synchronisation is
#: lower than in the early unsynchronised series); the others are illustrative.
AE_SPECS: tuple[_AeSpec, ...] = (
    _AeSpec("Supraventricular tachycardia", 0.05, (1, 2), (0.7, 0.3), (0, 0)),
    _AeSpec("Atrial fibrillation", 0.03, (1, 2, 3), (0.4, 0.4, 0.2), (0, 1)),
    _AeSpec("Pneumothorax", 0.06, (1, 2, 3), (0.5, 0.3, 0.2), (0, 1)),
    _AeSpec("Portal vein thrombosis", 0.03, (1, 2, 3), (0.4, 0.4, 0.2), (1, 30)),
    _AeSpec("Alanine aminotransferase increased", 0.35, (1, 2, 3), (0.6, 0.3, 0.1), (1, 3)),
    _AeSpec("Blood bilirubin increased", 0.10, (1, 2), (0.7, 0.3), (1, 3)),
    _AeSpec("Fever", 0.15, (1, 2), (0.8, 0.2), (0, 3)),
    _AeSpec("Pain", 0.25, (1, 2), (0.6, 0.4), (0, 3)),
    _AeSpec("Hematoma", 0.03, (1, 2, 3), (0.5, 0.3, 0.2), (0, 2)),
    _AeSpec("Biliary fistula", 0.01, (2, 3), (0.5, 0.5), (3, 30)),
)

#: Arrhythmia terms of the demo and how much likelier they are without ECG synchronisation
#: (illustrative; the direction follows Thomson et al. 2011, see irelab.outcomes.evidence).
_ARRHYTHMIAS = ("Supraventricular tachycardia", "Atrial fibrillation")
_UNSYNCHRONISED_ARRHYTHMIA_FACTOR = 4.0

#: CTCAE grade -> CIRSE grades it is mapped to in the demo (CIRSE 6 is death).
_CIRSE_FOR_CTCAE = {1: (1, 2), 2: (2, 3), 3: (3,), 4: (4,), 5: (6,)}
_MODALITIES = ("CT", "MRI", "PET-CT")
_MODALITY_WEIGHTS = (0.6, 0.35, 0.05)


def _day(start: dt.date, days: float) -> dt.date:
    return start + dt.timedelta(days=int(round(days)))


def synthetic_cohort(
    n_patients: int = 60, seed: int = 20240611, params: CohortParameters | None = None
) -> StudyData:
    """A synthetic IRE registry of ``n_patients`` (SYNTHETIC DEMO DATA, ids prefixed ``SYN-``).

    Deterministic for a given ``seed`` (``numpy.random.default_rng``). The result passes
    :meth:`StudyData.validate` and the registry's date-order rules (inclusion <= procedures <=
    death, imaging after the first ablation of its tumour and not after death).
    """
    p = params or CohortParameters()
    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict]] = {
        k: []
        for k in ("patients", "tumours", "procedures", "treatments", "adverse_events", "followups")
    }
    sites = ("SYN-SITE-A", "SYN-SITE-B", "SYN-SITE-C")
    counter = {"tumour": 0, "procedure": 0, "ae": 0, "followup": 0}

    def next_id(kind: str, prefix: str) -> str:
        counter[kind] += 1
        return f"{prefix}{counter[kind]:04d}"

    def procedure(study_id: str, date: dt.date, sizes: list[float]) -> str:
        pid = next_id("procedure", "SYN-P")
        shares = [p.percutaneous, p.open_surgery, 1 - p.percutaneous - p.open_surgery]
        approach = rng.choice(["percutaneous", "open", "laparoscopic"], p=shares)
        probes = int(np.clip(np.ceil(max(sizes) / 12.0) + 1, 2, 6))
        pairs = min(probes * (probes - 1) // 2, 2 * probes - 2)  # adjacent pairs of an array
        sync = bool(rng.random() < p.cardiac_sync)
        rows["procedures"].append(
            {
                "procedure_id": pid,
                "study_id": study_id,
                "date": date,
                "approach": str(approach),
                "general_anaesthesia": True,
                "neuromuscular_block": bool(rng.random() < p.neuromuscular_block),
                "cardiac_sync": sync,
                "n_probes": probes,
                "n_pairs": pairs,
                "pulses": 90 * pairs,
                "max_voltage_V": float(np.round(rng.uniform(2200, 3000), -1)),
                "max_current_A": float(np.round(rng.uniform(18, 45), 1)),
            }
        )
        for spec in AE_SPECS:
            unsynced = not sync and spec.term in _ARRHYTHMIAS
            rate = spec.probability * (_UNSYNCHRONISED_ARRHYTHMIA_FACTOR if unsynced else 1.0)
            if spec.term == "Pneumothorax" and approach != "percutaneous":
                rate = 0.0
            if rng.random() >= rate:
                continue
            grade = int(rng.choice(spec.grades, p=spec.grade_weights))
            rows["adverse_events"].append(
                {
                    "ae_id": next_id("ae", "SYN-AE"),
                    "procedure_id": pid,
                    "study_id": study_id,
                    "term": spec.term,
                    "ctcae_version": "5.0",
                    "ctcae_grade": grade,
                    "cirse_grade": int(rng.choice(_CIRSE_FOR_CTCAE[grade])),
                    "onset_day": int(rng.integers(spec.onset_days[0], spec.onset_days[1] + 1)),
                    "serious": grade >= 3,
                    "relation": "related" if rng.random() < 0.8 else "possibly",
                    "outcome": "resolved",
                }
            )
        return pid

    def imaging(study_id: str, tumour_id: str | None, date: dt.date, finding: str) -> None:
        rows["followups"].append(
            {
                "followup_id": next_id("followup", "SYN-F"),
                "study_id": study_id,
                "tumour_id": tumour_id,
                "date": date,
                "modality": str(rng.choice(_MODALITIES, p=_MODALITY_WEIGHTS)),
                "finding": finding,
            }
        )

    for i in range(n_patients):
        study_id = f"SYN-{i + 1:03d}"
        inclusion = _day(p.study_start, rng.uniform(0, p.accrual_days))
        first = _day(inclusion, rng.integers(3, 29))
        frailty = rng.gamma(1 / p.frailty_variance, p.frailty_variance)
        death_days = rng.exponential(1 / p.death_hazard_per_month) * DAYS_PER_MONTH
        end_days = (p.study_end - first).days
        lost_days = rng.uniform(60, end_days) if rng.random() < p.lost_to_follow_up else np.inf
        stop_days = min(death_days, end_days, lost_days)
        dead = death_days <= min(end_days, lost_days)
        status = "dead" if dead else ("lost" if lost_days < end_days else "alive")
        last_contact = _day(first, stop_days)
        rows["patients"].append(
            {
                "study_id": study_id,
                "site": sites[i % len(sites)],
                "sex": "M" if rng.random() < 0.62 else "F",
                "age_years": int(np.clip(rng.normal(63, 10), 30, 88)),
                "inclusion_date": inclusion,
                "vital_status": status,
                "last_contact_date": last_contact,
                "death_date": last_contact if dead else None,
            }
        )
        n_tumours = int(rng.choice([1, 2, 3], p=p.tumour_count_weights))
        sizes = np.clip(p.size_median_mm * np.exp(rng.normal(0, p.size_log_sd, n_tumours)), 8, 90)
        sizes = [float(np.round(s, 1)) for s in sizes]
        tumour_ids = []
        for size in sizes:
            tid = next_id("tumour", "SYN-T")
            tumour_ids.append(tid)
            rows["tumours"].append(
                {
                    "tumour_id": tid,
                    "study_id": study_id,
                    "origin": "colorectal",
                    "size_mm": size,
                    "segment": int(rng.integers(1, 9)),
                    "distance_vessel_mm": float(np.round(rng.exponential(5.0), 1)),
                    "distance_bile_duct_mm": float(np.round(rng.exponential(8.0), 1)),
                }
            )
        pid = procedure(study_id, first, sizes)
        visits = [m * DAYS_PER_MONTH + rng.integers(-7, 8) for m in IMAGING_MONTHS]
        visits = [v for v in visits if v <= stop_days]
        for tid, size in zip(tumour_ids, sizes, strict=True):
            success = bool(rng.random() < p.technical_success)
            rows["treatments"].append(
                {"procedure_id": pid, "tumour_id": tid, "session": 1, "technical_success": success}
            )
            odds = p.residual_at_25mm / (1 - p.residual_at_25mm)
            odds *= p.residual_odds_per_10mm ** ((size - 25.0) / 10.0)
            residual = (not success) or rng.random() < odds / (1 + odds)
            hazard = p.ltp_hazard_per_month * frailty * p.ltp_hr_per_10mm ** ((size - 25) / 10)
            ltp_days = rng.exponential(1 / hazard) * DAYS_PER_MONTH
            for k, visit in enumerate(visits):
                if k == 0 and residual:
                    imaging(study_id, tid, _day(first, visit), "residual_unablated_tumour")
                    repeat_day = visit + rng.integers(14, 35)
                    if len(visits) < 2 or repeat_day >= visits[1]:
                        break
                    rpid = procedure(study_id, _day(first, repeat_day), [size])
                    rows["treatments"].append(
                        {
                            "procedure_id": rpid,
                            "tumour_id": tid,
                            "session": 2,
                            "technical_success": True,
                        }
                    )
                    if rng.random() >= p.repeat_success:
                        imaging(study_id, tid, _day(first, visits[1]), "residual_unablated_tumour")
                        break
                    ltp_days += repeat_day
                    continue
                if visit >= ltp_days and k > 0:
                    imaging(study_id, tid, _day(first, visit), "local_tumour_progression")
                    break
                imaging(study_id, tid, _day(first, visit), "complete_ablation")
        remote_days = {
            "new_intrahepatic": rng.exponential(1 / p.new_intrahepatic_per_month) * DAYS_PER_MONTH,
            "extrahepatic": rng.exponential(1 / p.extrahepatic_per_month) * DAYS_PER_MONTH,
        }
        for finding, onset in remote_days.items():
            seen = [v for v in visits if v >= onset]
            if seen:
                imaging(study_id, None, _day(first, seen[0]), finding)
    return _frames(rows).validate()


def _frames(rows: dict[str, list[dict]]) -> StudyData:
    import pandas as pd

    from irelab.outcomes.data import SCHEMA

    frames = {name: pd.DataFrame(rows[name], columns=list(cols)) for name, cols in SCHEMA.items()}
    for name, col in (
        ("patients", "inclusion_date"),
        ("patients", "last_contact_date"),
        ("patients", "death_date"),
        ("procedures", "date"),
        ("followups", "date"),
    ):
        frames[name][col] = pd.to_datetime(frames[name][col])
    frames["followups"]["tumour_id"] = frames["followups"]["tumour_id"].astype(object)
    return StudyData(**frames)
