"""email addresses the mail system bounced: consent's suppression list

Revision ID: 6d0f4a8b1c35
Revises: 5c9e3f7a0b24
Create Date: 2026-12-03 17:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6d0f4a8b1c35"
down_revision: str | Sequence[str] | None = "5c9e3f7a0b24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add bounced_addresses (keyed hashes of bounced email addresses)."""
    op.create_table(
        "bounced_addresses",
        sa.Column("address_hash", sa.String(64), primary_key=True),
        sa.Column("hard", sa.Boolean, nullable=False),
        sa.Column("soft_in_row", sa.Integer, nullable=False, server_default="0"),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False, server_default=""),
        sa.Column("last_bounced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("suppressed_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_bounced_addresses_suppressed_until", "bounced_addresses", ["suppressed_until"]
    )


def downgrade() -> None:
    """Drop bounced_addresses."""
    op.drop_index("ix_bounced_addresses_suppressed_until", table_name="bounced_addresses")
    op.drop_table("bounced_addresses")
