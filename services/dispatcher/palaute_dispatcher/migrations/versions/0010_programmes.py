"""invitations remember their survey programme

Revision ID: 5e4d0b1a0010
Revises: 5e4d0b1a0009
Create Date: 2026-12-03 14:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e4d0b1a0010"
down_revision: str | Sequence[str] | None = "5e4d0b1a0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add invitations.programme (those from before are the default programme's)."""
    with op.batch_alter_table("invitations") as batch:
        batch.add_column(
            sa.Column("programme", sa.String(40), nullable=False, server_default="default")
        )


def downgrade() -> None:
    """Drop invitations.programme."""
    with op.batch_alter_table("invitations") as batch:
        batch.drop_column("programme")
