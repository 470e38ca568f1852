"""csat beside nps: an answer has an NPS score, a CSAT score or both; cells count each

Revision ID: c011ec70a006
Revises: c011ec70a005
Create Date: 2026-11-28 04:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'c011ec70a006'
down_revision: Union[str, Sequence[str], None] = 'c011ec70a005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("responses") as batch_op:
        batch_op.alter_column("score", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("csat", sa.Integer(), nullable=True))
    with op.batch_alter_table("aggregate_cells") as batch_op:
        for name in ("nps_responses", "csat_responses", "satisfied"):
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    # Every answer so far had an NPS score.
    op.execute(sa.text("UPDATE aggregate_cells SET nps_responses = responses"))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("aggregate_cells") as batch_op:
        for name in ("satisfied", "csat_responses", "nps_responses"):
            batch_op.drop_column(name)
    op.execute(sa.text("DELETE FROM responses WHERE score IS NULL"))
    with op.batch_alter_table("responses") as batch_op:
        batch_op.drop_column("csat")
        batch_op.alter_column("score", existing_type=sa.Integer(), nullable=False)
