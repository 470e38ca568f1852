"""partner_deletions: the partner's deletion on instruction as a job after commit

Revision ID: 5e4d0b1a0008
Revises: 5e4d0b1a0007
Create Date: 2026-11-30 08:00:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '5e4d0b1a0008'
down_revision: Union[str, Sequence[str], None] = '5e4d0b1a0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "partner_deletions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("erased", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_partner_deletions_next_attempt_at", "partner_deletions", ["next_attempt_at"]
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_partner_deletions_next_attempt_at", "partner_deletions")
    op.drop_table("partner_deletions")
