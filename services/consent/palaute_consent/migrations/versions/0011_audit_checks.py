"""the audit chain's scheduled check: when it last ran and what it found

Revision ID: 5c9e3f7a0b24
Revises: 4b8d2e6f9a13
Create Date: 2026-12-03 14:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c9e3f7a0b24"
down_revision: str | Sequence[str] | None = "4b8d2e6f9a13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add audit_checks (one row: the newest check of the chain)."""
    op.create_table(
        "audit_checks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("broken_at", sa.Integer, nullable=True),
        sa.Column("why", sa.String(500), nullable=False, server_default=""),
    )


def downgrade() -> None:
    """Drop audit_checks."""
    op.drop_table("audit_checks")
