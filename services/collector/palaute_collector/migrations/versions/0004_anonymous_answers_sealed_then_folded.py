"""anonymous answers: sealed while they wait for a batch, then folded into the counts; their
comments kept alone, without attributes; earlier anonymous rows moved there, shuffled

Revision ID: c011ec70a004
Revises: a1c0ffee0003
Create Date: 2026-11-28 03:10:00.000000

"""
import secrets
import uuid
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'c011ec70a004'
down_revision: Union[str, Sequence[str], None] = 'a1c0ffee0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "sealed_answers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    comments = op.create_table(
        "anonymous_comments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # Anonymous answers stored as rows before this revision: their counts are in the
    # aggregate cells already; their comments move, in random order, and the rows go.
    connection = op.get_bind()
    responses = sa.table(
        "responses", sa.column("anonymous", sa.Boolean), sa.column("comment", sa.Text)
    )
    moved = [
        row.comment
        for row in connection.execute(
            sa.select(responses.c.comment).where(responses.c.anonymous.is_(True))
        )
        if row.comment
    ]
    secrets.SystemRandom().shuffle(moved)
    if moved:
        op.bulk_insert(comments, [{"id": uuid.uuid4(), "comment": text} for text in moved])
    connection.execute(sa.delete(responses).where(responses.c.anonymous.is_(True)))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("anonymous_comments")
    op.drop_table("sealed_answers")
