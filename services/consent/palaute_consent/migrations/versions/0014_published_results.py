"""the results page's copy of what BI reads: the newest record of every figure and funnel
cell from their topics

Revision ID: 8f2b6c0d3e57
Revises: 7e1a5b9c2d46
Create Date: 2026-12-06 12:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8f2b6c0d3e57"
down_revision: str | Sequence[str] | None = "7e1a5b9c2d46"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add published_figures and published_funnel."""
    op.create_table(
        "published_figures",
        sa.Column("key", sa.String(160), primary_key=True),
        sa.Column("grain", sa.String(5), nullable=False),
        sa.Column("dimension", sa.String(20), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )
    op.create_index(
        "published_figures_by_view", "published_figures", ["grain", "dimension", "period_start"]
    )
    op.create_table(
        "published_funnel",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )
    op.create_index("ix_published_funnel_day", "published_funnel", ["day"])


def downgrade() -> None:
    """Drop them."""
    op.drop_table("published_funnel")
    op.drop_table("published_figures")
