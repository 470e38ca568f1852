"""delivery receipts: what the partner reported of a sent invitation, and its lookup

Revision ID: 5e4d0b1a0005
Revises: 5e4d0b1a0004
Create Date: 2026-11-23 15:10:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '5e4d0b1a0005'
down_revision: Union[str, Sequence[str], None] = '5e4d0b1a0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("invitations") as batch_op:
        batch_op.add_column(sa.Column("delivery", sa.String(12), nullable=True))
        batch_op.add_column(sa.Column("delivery_reason", sa.String(200), nullable=True))
        batch_op.add_column(
            sa.Column("delivery_reported_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_invitations_partner_message_id", ["partner_message_id"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("invitations") as batch_op:
        batch_op.drop_index("ix_invitations_partner_message_id")
        batch_op.drop_column("delivery_reported_at")
        batch_op.drop_column("delivery_reason")
        batch_op.drop_column("delivery")
