"""delivery reports that came before their message's sid was stored

Revision ID: 5e4d0b1a0011
Revises: 5e4d0b1a0010
Create Date: 2026-12-06 06:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e4d0b1a0011"
down_revision: str | Sequence[str] | None = "5e4d0b1a0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add early_receipts (a provider may report on a message before we read its sid)."""
    op.create_table(
        "early_receipts",
        sa.Column("partner_message_id", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    """Drop early_receipts."""
    op.drop_table("early_receipts")
