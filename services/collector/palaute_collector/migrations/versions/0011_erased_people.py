"""erased people: keyed pseudonyms of people erased lately, so a late invitation to them is
not recorded

Revision ID: c011ec70a011
Revises: c011ec70a010
Create Date: 2026-11-28 07:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'c011ec70a011'
down_revision: Union[str, Sequence[str], None] = 'c011ec70a010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "erased_people",
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pseudonym"),
    )
    op.create_index("ix_erased_people_erased_at", "erased_people", ["erased_at"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_erased_people_erased_at", "erased_people")
    op.drop_table("erased_people")
