"""invitations keep a random token sealed until the partner has the message

Revision ID: 5e4d0b1a0009
Revises: 5e4d0b1a0008
Create Date: 2026-12-03 09:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e4d0b1a0009"
down_revision: str | Sequence[str] | None = "5e4d0b1a0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add invitations.token_sealed (pending ones from before draw a random token anew)."""
    with op.batch_alter_table("invitations") as batch:
        batch.add_column(sa.Column("token_sealed", sa.Text, nullable=True))


def downgrade() -> None:
    """Drop invitations.token_sealed."""
    with op.batch_alter_table("invitations") as batch:
        batch.drop_column("token_sealed")
