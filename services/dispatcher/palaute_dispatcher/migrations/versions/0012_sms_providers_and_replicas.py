"""the SMS provider of each message, and the dispatcher replicas sharing the contracted rates

Revision ID: 5e4d0b1a0012
Revises: 5e4d0b1a0011
Create Date: 2026-12-06 08:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e4d0b1a0012"
down_revision: str | Sequence[str] | None = "5e4d0b1a0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add invitations.provider and dispatcher_replicas."""
    with op.batch_alter_table("invitations") as table:
        table.add_column(sa.Column("provider", sa.String(10), nullable=True))
    op.create_table(
        "dispatcher_replicas",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("dispatcher_replicas")
    with op.batch_alter_table("invitations") as table:
        table.drop_column("provider")
