"""outbox ids are never reused: AUTOINCREMENT on SQLite, BIGINT on PostgreSQL

Revision ID: a1c0ffee0001
Revises: 5853d24d2015
Create Date: 2026-11-23 11:00:00.000000

"""
from typing import Sequence, Union

from palaute_runtime.migrations import outbox_ids_never_reused


# revision identifiers, used by Alembic.
revision: str = 'a1c0ffee0001'
down_revision: Union[str, Sequence[str], None] = '5853d24d2015'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    outbox_ids_never_reused("upgrade")


def downgrade() -> None:
    """Downgrade schema."""
    outbox_ids_never_reused("downgrade")
