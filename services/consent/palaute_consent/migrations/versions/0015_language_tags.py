"""a language is a BCP 47 tag (pl, pt-BR, as its catalogue is named), no longer two letters

Revision ID: 8f2b6c0d3e58
Revises: 8f2b6c0d3e57
Create Date: 2026-12-06 15:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8f2b6c0d3e58"
down_revision: str | Sequence[str] | None = "8f2b6c0d3e57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("plans",)


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "language", type_=sa.String(35), existing_type=sa.String(2), nullable=False
            )


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "language", type_=sa.String(2), existing_type=sa.String(35), nullable=False
            )
