"""Revocable sessions, second-admin approval of accounts, one pair per placement, indexes.

- ``revoked_tokens``: the ``jti`` of every session token ended by a logout, refused until the
  token would have expired (irelab.registry.security), so a logout holds in every worker.
- ``users.approved_at/approved_by``: an account with a clinical role created by an admin waits
  for a second admin (irelab.registry.accounts); accounts that exist already count as approved
  by whoever created them.
- ``procedure_pairs``: a pair is recorded once per placement of a procedure, unique per
  (procedure, anode, cathode, placement) (the ``placement`` column came with revision 0003).
- Indexes for keyset pagination of an investigator's site (``patients.site_id``) and for the
  audit trail of one record (``audit_log (table_name, record_id)``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index("ix_revoked_tokens_expires_at", "revoked_tokens", ["expires_at"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("approved_by", sa.String(length=64), nullable=True))
    op.execute("UPDATE users SET approved_at = created_at, approved_by = created_by")
    with op.batch_alter_table("procedure_pairs") as batch:
        batch.create_unique_constraint(
            "uq_procedure_pairs", ["procedure_id", "anode", "cathode", "placement"]
        )
    op.create_index("ix_patients_site_id", "patients", ["site_id"])
    op.create_index("ix_audit_log_table_record", "audit_log", ["table_name", "record_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_table_record", table_name="audit_log")
    op.drop_index("ix_patients_site_id", table_name="patients")
    with op.batch_alter_table("procedure_pairs") as batch:
        batch.drop_constraint("uq_procedure_pairs", type_="unique")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("approved_by")
        batch.drop_column("approved_at")
    op.drop_index("ix_revoked_tokens_expires_at", table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
