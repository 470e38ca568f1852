"""sms replies answer what they reply to: the partner's message ids seen (a replayed webhook
counts once), and held replies sealed like anonymous answers

Revision ID: c011ec70a005
Revises: c011ec70a004
Create Date: 2026-11-28 04:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'c011ec70a005'
down_revision: Union[str, Sequence[str], None] = 'c011ec70a004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "inbound_messages",
        sa.Column("partner_message_id", sa.String(200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partner_message_id"),
    )
    op.create_index(
        "ix_inbound_messages_received_at", "inbound_messages", ["received_at"], unique=False
    )
    # A held reply waits an hour at most: the few held while upgrading are dropped rather
    # than kept in plaintext.
    op.execute(sa.text("DELETE FROM held_replies"))
    with op.batch_alter_table("held_replies") as batch_op:
        batch_op.drop_column("score")
        batch_op.drop_column("comment")
        batch_op.add_column(sa.Column("sealed", sa.Text(), nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    op.execute(sa.text("DELETE FROM held_replies"))
    with op.batch_alter_table("held_replies") as batch_op:
        batch_op.drop_column("sealed")
        batch_op.add_column(sa.Column("score", sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column("comment", sa.Text(), nullable=False))
    op.drop_index("ix_inbound_messages_received_at", table_name="inbound_messages")
    op.drop_table("inbound_messages")
