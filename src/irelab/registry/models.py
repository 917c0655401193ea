"""The registry's tables: sites, users, patients, tumours, procedures, treatments, adverse events,
follow-up imaging and the audit trail (SQLAlchemy 2 typed declarative models).

Terminology follows the image-guided tumour ablation reporting standards (Ahmed M, Solbiati L,
Brace CL et al. "Image-guided tumor ablation: standardization of terminology and reporting
criteria - a 10-year update", Radiology 2014;273(1):241-260):

- *ablation zone*: the region of tissue destroyed by the ablation, seen on imaging;
- *ablative margin*: the rim of ablated tissue beyond the tumour edge;
- *technical success*: the tumour was treated per protocol and covered completely by the
  ablation zone on imaging at the end of the procedure (or at the first follow-up);
- *technique efficacy*: complete ablation of the macroscopic tumour on follow-up imaging at a
  pre-defined time point (primary after the planned ablation, assisted/secondary after repeat
  ablation sessions);
- *residual unablated tumour*: tumour left at the edge of the ablation zone on the first
  follow-up, i.e. incomplete ablation;
- *local tumour progression*: tumour foci at the edge of the ablation zone after at least one
  follow-up study documented adequate ablation.

Time-to-event end points per patient, per session and per tumour (e.g. local tumour
progression-free survival, counted from the ablation) follow Puijk RS, Ahmed M, Adam A et al.
"Consensus Guidelines for the Definition of Time-to-Event End Points in Image-guided Tumor
Ablation: Results of the SIO and DATECAN Initiative", Radiology 2021 (Society of Interventional
Oncology with the DATECAN group, not CIRSE); the registry stores the dated events they need.

Adverse events carry a CTCAE v5.0 term and grade (U.S. DHHS, Common Terminology Criteria for
Adverse Events v5.0, 2017) and the CIRSE complication grade 1-6 (Filippiadis DK, Binkert C,
Pellerin O et al. "Cirse Quality Assurance Document and Standards for Classification of
Complications: The Cirse Classification System", Cardiovasc Intervent Radiol 2017;40:1141-1146).

Every clinical row carries ``version`` (optimistic locking through SQLAlchemy's
``version_id_col``: an UPDATE only matches the version that was read), who created and last
changed it and when, and ``retired_at/retired_by/retire_reason``: records are retired, never
deleted. Patients are stored under a pseudonymous study ID only (no names, no birth dates), with a
per-patient random date shift applied to every date shown to monitors or exported for them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

ROLES: tuple[str, ...] = ("investigator", "data_manager", "monitor", "admin")
SEXES: tuple[str, ...] = ("F", "M")
VITAL_STATUSES: tuple[str, ...] = ("alive", "dead", "lost")
APPROACHES: tuple[str, ...] = ("percutaneous", "open", "laparoscopic")
MODALITIES: tuple[str, ...] = ("CT", "MRI", "PET-CT", "US")
#: Per-tumour (or patient-level) imaging findings, Ahmed et al. 2014 (module docstring).
FINDINGS: tuple[str, ...] = (
    "complete_ablation",
    "residual_unablated_tumour",
    "local_tumour_progression",
    "new_intrahepatic",
    "extrahepatic",
)
RELATIONS: tuple[str, ...] = ("related", "possibly", "unrelated")
AE_OUTCOMES: tuple[str, ...] = ("resolved", "ongoing", "fatal")
#: Non-data actions: a wrong username or password, the failure that locked a username, an attempt
#: refused while locked (see :mod:`irelab.registry.login`), and a data export.
AUDIT_ACTIONS: tuple[str, ...] = (
    "create",
    "update",
    "retire",
    "login-failure",
    "login-lockout",
    "login-refused",
    "export",
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every registry table."""


class Tracked:
    """Columns shared by every audited, versioned, retire-only table."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_by: Mapped[str] = mapped_column(String(64))
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    retired_by: Mapped[str | None] = mapped_column(String(64))
    retire_reason: Mapped[str | None] = mapped_column(Text)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805 - SQLAlchemy's classmethod idiom
        return {"version_id_col": cls.version}


class Site(Tracked, Base):
    """A participating centre."""

    __tablename__ = "sites"
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(Text)


class User(Tracked, Base):
    """A registry user; ``password_hash`` is a bcrypt hash and never leaves the database."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES}", name="ck_users_role"),)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    site: Mapped[Site | None] = relationship()


class Patient(Tracked, Base):
    """A patient under a pseudonymous study ID (no names, no birth date).

    ``date_shift_days`` is drawn at random when the patient is created and added to every date of
    this patient in pseudonymised views and exports, so intervals between dates are kept.
    """

    __tablename__ = "patients"
    study_id: Mapped[str] = mapped_column(String(64), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    sex: Mapped[str] = mapped_column(String(1))
    age_years: Mapped[int] = mapped_column(Integer)
    inclusion_date: Mapped[dt.date]
    vital_status: Mapped[str] = mapped_column(String(8), default="alive")
    last_contact_date: Mapped[dt.date]
    death_date: Mapped[dt.date | None]
    date_shift_days: Mapped[int] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)
    site: Mapped[Site] = relationship()


class Tumour(Tracked, Base):
    """A treated liver tumour (metastasis) with its size and its distances to vessels and ducts."""

    __tablename__ = "tumours"
    __table_args__ = (CheckConstraint("segment BETWEEN 1 AND 8", name="ck_tumours_segment"),)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    origin: Mapped[str] = mapped_column(String(64))
    size_mm: Mapped[float]
    segment: Mapped[int] = mapped_column(Integer)
    distance_vessel_mm: Mapped[float | None]
    distance_bile_duct_mm: Mapped[float | None]
    notes: Mapped[str | None] = mapped_column(Text)
    patient: Mapped[Patient] = relationship()


class Procedure(Tracked, Base):
    """One IRE session: approach, anaesthesia, synchronisation and the delivered dose summary."""

    __tablename__ = "procedures"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    date: Mapped[dt.date]
    approach: Mapped[str] = mapped_column(String(16))
    general_anaesthesia: Mapped[bool]
    neuromuscular_block: Mapped[bool]
    cardiac_sync: Mapped[bool]
    n_probes: Mapped[int] = mapped_column(Integer)
    n_pairs: Mapped[int] = mapped_column(Integer)
    pulses: Mapped[int] = mapped_column(Integer)
    max_voltage_V: Mapped[float | None]  # noqa: N815 - unit in the name (STYLE.md)
    max_current_A: Mapped[float | None]  # noqa: N815
    notes: Mapped[str | None] = mapped_column(Text)
    patient: Mapped[Patient] = relationship()
    pairs: Mapped[list[ProcedurePair]] = relationship(back_populates="procedure")


class ProcedurePair(Tracked, Base):
    """One electrode pair of a procedure at one placement: planned voltage and current,
    delivered pulses."""

    __tablename__ = "procedure_pairs"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id"), index=True)
    anode: Mapped[str] = mapped_column(String(32))
    cathode: Mapped[str] = mapped_column(String(32))
    placement: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Which placement of the probe array (from 0: pullbacks and sideways moves repeat the
    plan's pairs)."""
    voltage_V: Mapped[float]  # noqa: N815
    predicted_current_A: Mapped[float | None]  # noqa: N815
    delivered_pulses: Mapped[int | None] = mapped_column(Integer)
    max_current_A: Mapped[float | None]  # noqa: N815
    energy_J: Mapped[float | None]  # noqa: N815
    procedure: Mapped[Procedure] = relationship(back_populates="pairs")


class Treatment(Tracked, Base):
    """A tumour treated in a procedure; ``session`` 1 is the first ablation, 2+ repeat ablation.

    ``technical_success`` as defined by Ahmed et al. 2014 (module docstring).
    """

    __tablename__ = "treatments"
    __table_args__ = (UniqueConstraint("procedure_id", "tumour_id", name="uq_treatments"),)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id"), index=True)
    tumour_id: Mapped[int] = mapped_column(ForeignKey("tumours.id"), index=True)
    session: Mapped[int] = mapped_column(Integer, default=1)
    technical_success: Mapped[bool]


class AdverseEvent(Tracked, Base):
    """An adverse event of a procedure: CTCAE v5.0 term and grade, CIRSE grade 1-6."""

    __tablename__ = "adverse_events"
    __table_args__ = (
        CheckConstraint("ctcae_grade BETWEEN 1 AND 5", name="ck_ae_ctcae_grade"),
        CheckConstraint("cirse_grade BETWEEN 1 AND 6", name="ck_ae_cirse_grade"),
    )
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id"), index=True)
    term: Mapped[str] = mapped_column(String(128))
    ctcae_version: Mapped[str] = mapped_column(String(8), default="5.0")
    ctcae_grade: Mapped[int] = mapped_column(Integer)
    cirse_grade: Mapped[int] = mapped_column(Integer)
    onset_day: Mapped[int] = mapped_column(Integer)
    serious: Mapped[bool]
    relation: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text)


class FollowUp(Tracked, Base):
    """A follow-up imaging study and its finding for one tumour, or for the patient (no tumour)."""

    __tablename__ = "followups"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    tumour_id: Mapped[int | None] = mapped_column(ForeignKey("tumours.id"), index=True)
    date: Mapped[dt.date]
    modality: Mapped[str] = mapped_column(String(8))
    finding: Mapped[str] = mapped_column(String(32))
    notes: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """Append-only audit trail: one row per create/update/retire, failed login and export.

    Written in the same transaction as the change (see :mod:`irelab.registry.audit`). The ORM
    refuses to update or delete these rows and the migration adds database triggers that reject
    UPDATE and DELETE on SQLite and PostgreSQL.
    """

    __tablename__ = "audit_log"
    #: the login throttle counts a username's recent failures (:mod:`irelab.registry.login`)
    __table_args__ = (Index("ix_audit_log_username_action_at", "username", "action", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    table_name: Mapped[str | None] = mapped_column(String(32))
    record_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


#: Clinical tables, in the order their rows can be created (parents first).
CLINICAL_MODELS: tuple[type[Tracked], ...] = (
    Patient,
    Tumour,
    Procedure,
    ProcedurePair,
    Treatment,
    AdverseEvent,
    FollowUp,
)
#: Columns never written to the audit trail or any export.
SECRET_COLUMNS: frozenset[str] = frozenset({"password_hash"})
