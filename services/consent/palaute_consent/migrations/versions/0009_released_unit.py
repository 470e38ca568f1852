"""released surveys remember their unit (the zone of an email recipient's reminder)

Revision ID: 7c3e9a51d2f4
Revises: 1dc475210b07
Create Date: 2026-12-03 08:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c3e9a51d2f4"
down_revision: str | Sequence[str] | None = "1dc475210b07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add released.unit (surveys released before it keep the default country's zone)."""
    with op.batch_alter_table("released") as batch:
        batch.add_column(sa.Column("unit", sa.String(100), nullable=True))


def downgrade() -> None:
    """Drop released.unit."""
    with op.batch_alter_table("released") as batch:
        batch.drop_column("unit")
