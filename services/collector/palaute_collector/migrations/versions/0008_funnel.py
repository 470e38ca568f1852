"""funnel: an invitation remembers its page was shown; funnel cells by day and channel

Revision ID: c011ec70a008
Revises: c011ec70a007
Create Date: 2026-11-28 04:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'c011ec70a008'
down_revision: Union[str, Sequence[str], None] = 'c011ec70a007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("invitations") as batch_op:
        batch_op.add_column(
            sa.Column("opened", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "funnel_cells",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False, server_default="0")
            for name in ("sent", "delivered", "undelivered", "opened", "answered")
        ),
        sa.Column("changed", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.PrimaryKeyConstraint("day", "channel"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("funnel_cells")
    with op.batch_alter_table("invitations") as batch_op:
        batch_op.drop_column("opened")
