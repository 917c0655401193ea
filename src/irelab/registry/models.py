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

The clinical tables' columns, ranges and meanings are declared once in
:mod:`irelab.outcomes.variables`; :func:`declared_columns` turns a declared table into the mixin of
ORM columns (types, NULL-ability, foreign keys, indexes, CHECK and UNIQUE constraints) that its
model inherits, so the model cannot drift from the API schemas, CSV files, data dictionary and
outcome checks that derive from the same declaration.

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
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship
from sqlalchemy.types import TypeEngine

from irelab.outcomes.variables import TABLES, Kind, Variable

ROLES: tuple[str, ...] = ("investigator", "data_manager", "monitor", "admin")
#: Non-data actions: a wrong username or password, the failure that locked a username, an attempt
#: refused while locked (see :mod:`irelab.registry.login`), a data export, a logout and the
#: approval of an account by a second admin.
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


def _sql_type(variable: Variable) -> TypeEngine:
    kind = variable.kind
    if kind is Kind.FREE_TEXT:
        return Text()
    if kind in (Kind.TEXT, Kind.CODE, Kind.CHOICE):
        return String(variable.width)
    if kind in (Kind.INT, Kind.REFERENCE):
        return Integer()
    return {Kind.FLOAT: Double(), Kind.BOOL: Boolean(), Kind.DATE: Date()}[kind]


def _column(variable: Variable) -> Any:
    args: list[Any] = [_sql_type(variable)]
    if variable.references is not None:
        args.append(ForeignKey(f"{variable.references}.id"))
    default = {} if variable.default is None else {"default": variable.default}
    return mapped_column(
        *args,
        nullable=not variable.required,
        index=variable.index,
        unique=variable.unique or None,
        **default,
    )


def declared_columns(table: str) -> type:
    """A mixin with the ORM columns and constraints of declared ``table`` (module docstring)."""
    spec = TABLES[table]
    namespace: dict[str, Any] = {
        v.name: declared_attr(lambda cls, v=v: _column(v)) for v in spec.variables
    }
    constraints = [
        CheckConstraint(f"{v.name} BETWEEN {v.low:g} AND {v.high:g}", name=v.check)
        for v in spec.variables
        if v.check is not None
    ] + [UniqueConstraint(*columns, name=name) for name, columns in spec.unique]
    namespace["__table_args__"] = tuple(constraints)
    return type(f"{table.title().replace('_', '')}Columns", (), namespace)


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
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.version}


class Site(Tracked, Base):
    """A participating centre."""

    __tablename__ = "sites"
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(Text)


class User(Tracked, Base):
    """A registry user; ``password_hash`` is a bcrypt hash and never leaves the database.

    An account with a clinical role that an admin created stays *pending* (``approved_at`` None,
    cannot log in) until a second admin approves it (:mod:`irelab.registry.accounts`).
    """

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES}", name="ck_users_role"),)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    site: Mapped[Site | None] = relationship()


class Patient(declared_columns("patients"), Tracked, Base):
    """A patient under a pseudonymous study ID (no names, no birth date).

    ``date_shift_days`` is drawn at random when the patient is created and added to every date of
    this patient in pseudonymised views and exports, so intervals between dates are kept.
    """

    __tablename__ = "patients"
    site: Mapped[Site] = relationship()


class Tumour(declared_columns("tumours"), Tracked, Base):
    """A treated liver tumour (metastasis) with its size and its distances to vessels and ducts."""

    __tablename__ = "tumours"
    patient: Mapped[Patient] = relationship()


class Procedure(declared_columns("procedures"), Tracked, Base):
    """One IRE session: approach, anaesthesia, synchronisation and the delivered dose summary."""

    __tablename__ = "procedures"
    patient: Mapped[Patient] = relationship()
    pairs: Mapped[list[ProcedurePair]] = relationship(back_populates="procedure")


class ProcedurePair(declared_columns("procedure_pairs"), Tracked, Base):
    """One electrode pair of a procedure at one placement of the probe array: planned voltage
    and current, delivered pulses. A plan may repeat its pairs at several placements
    (pullbacks and sideways moves); ``placement`` is the 0-based index of the placement."""

    __tablename__ = "procedure_pairs"
    procedure: Mapped[Procedure] = relationship(back_populates="pairs")


class Treatment(declared_columns("treatments"), Tracked, Base):
    """A tumour treated in a procedure; ``session`` 1 is the first ablation, 2+ repeat ablation.

    ``technical_success`` as defined by Ahmed et al. 2014 (module docstring).
    """

    __tablename__ = "treatments"


class AdverseEvent(declared_columns("adverse_events"), Tracked, Base):
    """An adverse event of a procedure: CTCAE v5.0 term and grade, CIRSE grade 1-6."""

    __tablename__ = "adverse_events"


class FollowUp(declared_columns("followups"), Tracked, Base):
    """A follow-up imaging study and its finding for one tumour, or for the patient (no tumour)."""

    __tablename__ = "followups"


class AuditEntry(Base):
    """Append-only audit trail: one row per create/update/retire, failed login and export.

    Written in the same transaction as the change (see :mod:`irelab.registry.audit`). The ORM
    refuses to update or delete these rows and the migration adds database triggers that reject
    UPDATE and DELETE on SQLite and PostgreSQL.
    """

    __tablename__ = "audit_log"
    #: the login throttle counts a username's recent failures (:mod:`irelab.registry.login`);
    #: the audit page of a record filters by table and record
    __table_args__ = (
        Index("ix_audit_log_username_action_at", "username", "action", "at"),
        Index("ix_audit_log_table_record", "table_name", "record_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    table_name: Mapped[str | None] = mapped_column(String(32))
    record_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class RevokedToken(Base):
    """A session token ended before its expiry (logout): its ``jti`` is refused until then.

    Kept in the database, so a logout holds in every worker; rows past ``expires_at`` are of no
    further use and are removed at the next logout.
    """

    __tablename__ = "revoked_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


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
