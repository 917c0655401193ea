"""Achieved ablation zones: per tumour treated in a procedure, the metrics of ``irelab compare``
(Dice, HD95, volume ratio, predicted/achieved/tumour volumes, achieved and predicted minimal
ablative margin) and their provenance (plan and segmentation file names, registration residual,
irelab version). One row per (procedure, tumour); the Dice and the margins are range-checked by
the database too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ablation_zones",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("procedure_id", sa.Integer(), nullable=False),
        sa.Column("tumour_id", sa.Integer(), nullable=False),
        sa.Column("dice", sa.Double(), nullable=False),
        sa.Column("hd95_mm", sa.Double(), nullable=True),
        sa.Column("volume_ratio", sa.Double(), nullable=True),
        sa.Column("predicted_volume_cm3", sa.Double(), nullable=False),
        sa.Column("achieved_volume_cm3", sa.Double(), nullable=False),
        sa.Column("tumour_volume_cm3", sa.Double(), nullable=False),
        sa.Column("minimal_margin_mm", sa.Double(), nullable=True),
        sa.Column("predicted_minimal_margin_mm", sa.Double(), nullable=True),
        sa.Column("plan_file", sa.String(length=255), nullable=True),
        sa.Column("segmentation_file", sa.String(length=255), nullable=True),
        sa.Column("registration_residual", sa.Double(), nullable=True),
        sa.Column("irelab_version", sa.String(length=32), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=64), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("dice BETWEEN 0 AND 1", name="ck_ablation_zones_dice"),
        sa.CheckConstraint(
            "minimal_margin_mm BETWEEN -100 AND 100", name="ck_ablation_zones_minimal_margin"
        ),
        sa.CheckConstraint(
            "predicted_minimal_margin_mm BETWEEN -100 AND 100",
            name="ck_ablation_zones_predicted_minimal_margin",
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.ForeignKeyConstraint(["procedure_id"], ["procedures.id"]),
        sa.ForeignKeyConstraint(["tumour_id"], ["tumours.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("procedure_id", "tumour_id", name="uq_ablation_zones"),
    )
    for column in ("patient_id", "procedure_id", "tumour_id"):
        op.create_index(f"ix_ablation_zones_{column}", "ablation_zones", [column])


def downgrade() -> None:
    for column in ("tumour_id", "procedure_id", "patient_id"):
        op.drop_index(f"ix_ablation_zones_{column}", table_name="ablation_zones")
    op.drop_table("ablation_zones")
