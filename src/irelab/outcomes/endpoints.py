"""Endpoint definitions: StudyData -> one row per tumour and one row per patient.

Terminology and definitions follow Ahmed M, Solbiati L, Brace CL, et al. Image-guided tumor
ablation: standardization of terminology and reporting criteria - a 10-year update. Radiology
2014;273:241-260 (doi 10.1148/radiol.14132958):

- **Technical success** (per tumour, first session): the tumour was treated according to
  protocol and covered by the ablation zone, as recorded at the end of the first ablation
  session (``treatments.technical_success`` of session 1).
- **Primary technique efficacy**: complete ablation at the first follow-up imaging after the
  first session (usually at about 1 month) and before any repeat ablation of that tumour.
- **Assisted (secondary) technique efficacy**: complete ablation at the first follow-up imaging
  after the last ablation session, counting tumours that needed repeat ablation(s).
  Both efficacies use the tumours with at least one follow-up imaging study as denominator.
- **Local tumour progression (LTP)**: tumour foci at the edge of the ablation zone after at least
  one contrast-enhanced follow-up study documented complete ablation. A tumour is *at risk* of
  LTP only once complete ablation has been documented; residual unablated tumour is a technique
  failure, not LTP.

Time origin and censoring (all times in months of 365.25/12 days):

- Per-tumour LTP: origin is the date of the tumour's first ablation session; event at the first
  imaging showing LTP; otherwise censored at the tumour's last imaging study (death censors).
- Per-patient LTP: origin is the patient's first IRE procedure; event at the first LTP of any of
  the patient's tumours; otherwise censored at the patient's last imaging study.
- Competing risks: per tumour, LTP (1) versus death without prior LTP (2) at the death date;
  censored at the last imaging study of alive or lost patients.
- Overall survival (OS): origin the first IRE procedure; event death; censored at last contact.
- Progression-free survival (PFS): event at the first imaging showing any progression (LTP as
  defined above, new intrahepatic or extrahepatic disease) or death, whichever is first;
  censored at the last imaging study.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from irelab.outcomes.data import StudyData

if TYPE_CHECKING:
    import pandas as pd

#: Days per month (365.25 / 12) used for every time in months.
DAYS_PER_MONTH = 365.25 / 12

#: Findings of remote disease; with (valid) LTP they count as progression for PFS.
REMOTE_FINDINGS = ("new_intrahepatic", "extrahepatic")

#: Event codes of the competing-risks table.
CENSORED, LTP_EVENT, DEATH_EVENT = 0, 1, 2


@dataclass(frozen=True)
class Endpoints:
    """Analysis tables derived from a StudyData.

    ``tumours``: one row per treated tumour: study_id, size_mm, cardiac_sync (of its first
    session), technical_success, has_followup, primary_efficacy, assisted_efficacy,
    complete_documented, ltp_months, ltp_event, cr_months, cr_event.
    ``patients``: one row per treated patient: study_id, ltp_months, ltp_event, os_months,
    os_event, pfs_months, pfs_event.
    """

    tumours: pd.DataFrame
    patients: pd.DataFrame


def _months(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.days / DAYS_PER_MONTH


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    import pandas as pd

    return pd.to_datetime(frame[column])


def derive_endpoints(data: StudyData) -> Endpoints:
    """The per-tumour and per-patient endpoint tables of ``data`` (see the module docstring)."""
    import numpy as np
    import pandas as pd

    if data.treatments.empty:
        return _empty_endpoints()
    procs = data.procedures.assign(date=_dates(data.procedures, "date"))
    treat = data.treatments.merge(
        procs[["procedure_id", "date", "cardiac_sync"]], on="procedure_id"
    )
    treat = treat.merge(data.tumours[["tumour_id", "study_id", "size_mm"]], on="tumour_id")
    fu = data.followups.assign(date=_dates(data.followups, "date"))
    pts = data.patients.assign(
        death_date=_dates(data.patients, "death_date"),
        last_contact_date=_dates(data.patients, "last_contact_date"),
    ).set_index("study_id")

    first = treat.sort_values(["tumour_id", "session", "date"]).groupby("tumour_id").first()
    last_date = treat.groupby("tumour_id")["date"].max()
    second = treat[treat["session"] >= 2].groupby("tumour_id")["date"].min()
    tum = pd.DataFrame(
        {
            "study_id": first["study_id"],
            "size_mm": first["size_mm"].astype(float),
            "cardiac_sync": first["cardiac_sync"].astype(bool),
            "technical_success": first["technical_success"].astype(bool),
            "origin": first["date"],
            "last_session": last_date,
            "repeat_session": second.reindex(first.index),
        }
    )
    tum.index.name = "tumour_id"
    tfu = (
        fu[fu["tumour_id"].notna()]
        .merge(
            tum[["origin", "last_session", "repeat_session"]], left_on="tumour_id", right_index=True
        )
        .reset_index(drop=True)
    )
    tfu = tfu[tfu["date"] >= tfu["origin"]].sort_values(["tumour_id", "date"])
    complete = tfu["finding"] == "complete_ablation"

    before_repeat = tfu[tfu["repeat_session"].isna() | (tfu["date"] < tfu["repeat_session"])]
    first_finding = before_repeat.groupby("tumour_id")["finding"].first()
    after_last = tfu[tfu["date"] > tfu["last_session"]]
    last_course_finding = after_last.groupby("tumour_id")["finding"].first()
    tum["has_followup"] = tum.index.isin(tfu["tumour_id"])
    tum["primary_efficacy"] = first_finding.reindex(tum.index).eq("complete_ablation")
    tum["assisted_efficacy"] = last_course_finding.reindex(tum.index).eq("complete_ablation")

    first_complete = tfu[complete].groupby("tumour_id")["date"].min()
    ltp_rows = (
        tfu[tfu["finding"] == "local_tumour_progression"]
        .merge(first_complete.rename("first_complete"), left_on="tumour_id", right_index=True)
        .reset_index(drop=True)
    )
    ltp_date = (
        ltp_rows[ltp_rows["date"] > ltp_rows["first_complete"]].groupby("tumour_id")["date"].min()
    )
    last_imaging = tfu.groupby("tumour_id")["date"].max()
    tum["complete_documented"] = tum.index.isin(first_complete.index)
    tum["ltp_event"] = tum.index.isin(ltp_date.index)
    end = ltp_date.reindex(tum.index).fillna(last_imaging.reindex(tum.index))
    tum["ltp_months"] = _months(end, tum["origin"])

    death = pts["death_date"].reindex(tum["study_id"]).to_numpy()
    dead = ~pd.isna(death)
    tum["cr_event"] = np.where(tum["ltp_event"], LTP_EVENT, np.where(dead, DEATH_EVENT, CENSORED))
    cr_end = np.where(tum["ltp_event"], end, np.where(dead, death, end))
    tum["cr_months"] = _months(pd.Series(pd.to_datetime(cr_end), index=tum.index), tum["origin"])

    patients = _patient_endpoints(tum, procs, fu, pts)
    return Endpoints(tumours=tum.reset_index()[list(TUMOUR_COLUMNS)], patients=patients)


TUMOUR_COLUMNS = (
    "tumour_id",
    "study_id",
    "size_mm",
    "cardiac_sync",
    "technical_success",
    "has_followup",
    "primary_efficacy",
    "assisted_efficacy",
    "complete_documented",
    "ltp_months",
    "ltp_event",
    "cr_months",
    "cr_event",
)
PATIENT_COLUMNS = (
    "study_id",
    "ltp_at_risk",
    "ltp_months",
    "ltp_event",
    "os_months",
    "os_event",
    "pfs_months",
    "pfs_event",
)


def _empty_endpoints() -> Endpoints:
    import pandas as pd

    def dtype(column: str) -> str:
        if column.endswith("_id"):
            return "object"
        if column.endswith(("_months", "_mm")):
            return "float64"
        return "int64" if column == "cr_event" else "bool"

    def frame(columns: tuple[str, ...]) -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(dtype=dtype(c)) for c in columns})

    return Endpoints(tumours=frame(TUMOUR_COLUMNS), patients=frame(PATIENT_COLUMNS))


def _patient_endpoints(
    tum: pd.DataFrame, procs: pd.DataFrame, fu: pd.DataFrame, pts: pd.DataFrame
) -> pd.DataFrame:
    import pandas as pd

    origin = procs.groupby("study_id")["date"].min()
    fu = fu[fu["study_id"].isin(origin.index)]
    last_imaging = fu.groupby("study_id")["date"].max().reindex(origin.index).fillna(origin)
    at_risk = tum[tum["complete_documented"]]
    ltp_at = at_risk["origin"] + pd.to_timedelta(at_risk["ltp_months"] * DAYS_PER_MONTH, "D")
    first_ltp = ltp_at[at_risk["ltp_event"]].groupby(at_risk["study_id"]).min()
    has_ltp_risk = origin.index.isin(at_risk["study_id"])
    ltp_end = first_ltp.reindex(origin.index).fillna(last_imaging)

    death = pts["death_date"].reindex(origin.index)
    contact = pts["last_contact_date"].reindex(origin.index)
    remote = fu[fu["finding"].isin(REMOTE_FINDINGS)].groupby("study_id")["date"].min()
    progressed = pd.concat([remote.reindex(origin.index), first_ltp.reindex(origin.index)], axis=1)
    progressed = progressed.min(axis=1)
    pfs_end = pd.concat([progressed, death], axis=1).min(axis=1)
    pfs_event = pfs_end.notna()
    pfs_end = pfs_end.fillna(last_imaging)
    frame = pd.DataFrame(
        {
            "study_id": origin.index,
            "ltp_at_risk": has_ltp_risk,
            "ltp_months": _months(ltp_end, origin).to_numpy(),
            "ltp_event": origin.index.isin(first_ltp.index),
            "os_months": _months(death.fillna(contact), origin).to_numpy(),
            "os_event": death.notna().to_numpy(),
            "pfs_months": _months(pfs_end, origin).to_numpy(),
            "pfs_event": pfs_event.to_numpy(),
        }
    )
    return frame.reset_index(drop=True)
