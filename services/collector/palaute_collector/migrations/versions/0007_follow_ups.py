"""follow-ups on request: the contact behind a named invitation, the follow-ups asked for,
and the figures last published per unit

Revision ID: c011ec70a007
Revises: c011ec70a006
Create Date: 2026-11-28 04:10:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'c011ec70a007'
down_revision: Union[str, Sequence[str], None] = 'c011ec70a006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("invitations") as batch_op:
        batch_op.add_column(sa.Column("contact_id", sa.String(100), nullable=True))
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("unit", sa.String(100), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_follow_ups_unit", "follow_ups", ["unit"], unique=False)
    op.create_table(
        "follow_up_figures",
        sa.Column("unit", sa.String(100), nullable=False),
        sa.Column("open", sa.Integer(), nullable=False),
        sa.Column("overdue", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("unit"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("follow_up_figures")
    op.drop_index("ix_follow_ups_unit", table_name="follow_ups")
    op.drop_table("follow_ups")
    with op.batch_alter_table("invitations") as batch_op:
        batch_op.drop_column("contact_id")
