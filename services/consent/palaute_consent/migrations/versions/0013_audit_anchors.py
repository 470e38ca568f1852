"""a local copy of every audit anchor published: a chain anchored before is known to be

Revision ID: 7e1a5b9c2d46
Revises: 6d0f4a8b1c35
Create Date: 2026-12-06 08:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7e1a5b9c2d46"
down_revision: str | Sequence[str] | None = "6d0f4a8b1c35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add audit_anchors."""
    op.create_table(
        "audit_anchors",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("head_id", sa.Integer, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("signature", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    """Drop audit_anchors."""
    op.drop_table("audit_anchors")
