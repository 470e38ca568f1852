"""inbox: an index on handled_at, which the purge deletes by

Revision ID: 5e4d0b1a0007
Revises: 5e4d0b1a0006
Create Date: 2026-11-28 07:20:00.000000

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '5e4d0b1a0007'
down_revision: Union[str, Sequence[str], None] = '5e4d0b1a0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index("ix_inbox_handled_at", "inbox", ["handled_at"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_inbox_handled_at", "inbox")
