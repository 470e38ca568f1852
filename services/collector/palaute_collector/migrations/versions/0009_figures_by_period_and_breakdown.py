"""figures by day, ISO week and month and by each breakdown, replacing day x contact channel

The day x contact channel cells (survey.aggregate.v1) cannot be split into the new
breakdowns (anonymous answers were folded into them without their survey channel, language
or unit), so they are retired with their topic: the new figures (survey.figures.v1) count
the answers released from this version on. Answers still waiting sealed keep waiting and
are released like new ones (figures.Answer reads their older, shorter form).

Revision ID: c011ec70a009
Revises: c011ec70a008
Create Date: 2026-11-28 07:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'c011ec70a009'
down_revision: Union[str, Sequence[str], None] = 'c011ec70a008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_COUNTS = (
    "responses",
    "promoters",
    "passives",
    "detractors",
    "nps_responses",
    "csat_responses",
    "satisfied",
)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "figure_cells",
        sa.Column("grain", sa.String(5), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("dimension", sa.String(20), nullable=False),
        sa.Column("value", sa.String(100), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("grain", "period_start", "dimension", "value"),
    )
    op.drop_table("aggregate_cells")


def downgrade() -> None:
    """Downgrade schema."""
    op.create_table(
        "aggregate_cells",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("contact_channel", sa.String(20), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False, server_default="0") for name in _COUNTS),
        sa.Column("published_responses", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("day", "contact_channel"),
    )
    op.drop_table("figure_cells")
