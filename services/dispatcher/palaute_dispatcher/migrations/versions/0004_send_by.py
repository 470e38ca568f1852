"""send_by: the moment an unsent invitation is given up (expired), whatever the outage

Revision ID: 5e4d0b1a0004
Revises: 7b68a93cbc12
Create Date: 2026-11-23 14:40:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '5e4d0b1a0004'
down_revision: Union[str, Sequence[str], None] = '7b68a93cbc12'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("invitations") as batch_op:
        batch_op.add_column(sa.Column("send_by", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE invitations SET send_by = expires_at")
    with op.batch_alter_table("invitations") as batch_op:
        batch_op.alter_column(
            "send_by", existing_type=sa.DateTime(timezone=True), nullable=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("invitations") as batch_op:
        batch_op.drop_column("send_by")
