"""reminders: a reminder is a message of its own that points at its invitation; an
invitation knows it was answered

Revision ID: 5e4d0b1a0006
Revises: 5e4d0b1a0005
Create Date: 2026-11-28 03:40:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '5e4d0b1a0006'
down_revision: Union[str, Sequence[str], None] = '5e4d0b1a0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("invitations") as batch_op:
        batch_op.add_column(sa.Column("reminder_of", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("answered", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index("ix_invitations_reminder_of", ["reminder_of"], unique=True)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("invitations") as batch_op:
        batch_op.drop_index("ix_invitations_reminder_of")
        batch_op.drop_column("answered")
        batch_op.drop_column("reminder_of")
