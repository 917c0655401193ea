"""Index audit_log (username, action, at) for the login throttle, which counts a username's
recent ``login-failure`` rows on every login (irelab.registry.login). No table changes: the
throttle's state is the audit trail itself.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEX = "ix_audit_log_username_action_at"


def upgrade() -> None:
    op.create_index(INDEX, "audit_log", ["username", "action", "at"], unique=False)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="audit_log")
