"""Procedure pairs carry their placement: a plan repeats its pairs at every placement of the
probe array (pullbacks, sideways moves), and each is delivered and recorded on its own.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("procedure_pairs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("placement", sa.Integer(), nullable=False,
                                      server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("procedure_pairs", schema=None) as batch_op:
        batch_op.drop_column("placement")
