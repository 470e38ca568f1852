"""inbox: an index on handled_at, which the purge deletes by

Revision ID: c011ec70a010
Revises: c011ec70a009
Create Date: 2026-11-28 07:20:00.000000

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'c011ec70a010'
down_revision: Union[str, Sequence[str], None] = 'c011ec70a009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index("ix_inbox_handled_at", "inbox", ["handled_at"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_inbox_handled_at", "inbox")
