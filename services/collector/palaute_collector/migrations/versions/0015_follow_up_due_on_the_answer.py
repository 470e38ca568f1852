"""a named answer that asked for a follow-up keeps its due date (the staff's comment reader
shows it)

Revision ID: 7a0b15c0d015
Revises: 7a0b14c0d014
Create Date: 2026-12-06 12:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a0b15c0d015"
down_revision: str | Sequence[str] | None = "7a0b14c0d014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("responses") as batch:
        batch.add_column(sa.Column("follow_up_due", sa.Date, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("responses") as batch:
        batch.drop_column("follow_up_due")
