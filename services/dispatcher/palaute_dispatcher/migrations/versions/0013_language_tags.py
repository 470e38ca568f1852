"""a language is a BCP 47 tag (pl, pt-BR, as its catalogue is named), no longer two letters

Revision ID: 5e4d0b1a0013
Revises: 5e4d0b1a0012
Create Date: 2026-12-06 15:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e4d0b1a0013"
down_revision: str | Sequence[str] | None = "5e4d0b1a0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("invitations",)


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
