"""reminders: a released survey remembers its channel and when its one reminder is due

Revision ID: 58a9050a1004
Revises: 58a9050a10d4
Create Date: 2026-11-28 03:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '58a9050a1004'
down_revision: Union[str, Sequence[str], None] = '58a9050a10d4'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("released") as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(10), nullable=True))
        batch_op.add_column(sa.Column("remind_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_released_remind_at", ["remind_at"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("released") as batch_op:
        batch_op.drop_index("ix_released_remind_at")
        batch_op.drop_column("remind_at")
        batch_op.drop_column("channel")
