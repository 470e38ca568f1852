"""figures say what they leave out: answers received per contact day, and each period's
total cell publishes how many of its answers the collector has

Revision ID: 7a0b14c0d014
Revises: 7a0b13c0d013
Create Date: 2026-12-06 12:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a0b14c0d014"
down_revision: str | Sequence[str] | None = "7a0b13c0d013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "answers_received",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("received", sa.Integer, nullable=False),
    )
    with op.batch_alter_table("figure_cells") as batch:
        batch.add_column(sa.Column("received", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("figure_cells") as batch:
        batch.drop_column("received")
    op.drop_table("answers_received")
