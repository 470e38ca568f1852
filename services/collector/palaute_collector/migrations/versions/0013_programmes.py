"""survey programmes: invitations and named answers remember theirs; the funnel counts per
programme, with the contacts left out of its sample

Revision ID: 7a0b13c0d013
Revises: 2702eaae5d6f
Create Date: 2026-12-03 14:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a0b13c0d013"
down_revision: str | Sequence[str] | None = "2702eaae5d6f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = ("sent", "delivered", "undelivered", "opened", "answered")


def _funnel(name: str, with_programme: bool) -> None:
    op.create_table(
        name,
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("channel", sa.String(10), primary_key=True),
        *(
            [sa.Column("programme", sa.String(40), primary_key=True, server_default="default")]
            if with_programme
            else []
        ),
        *(
            sa.Column(count, sa.Integer, nullable=False, server_default="0")
            for count in (*_COUNTS, *(("not_sampled",) if with_programme else ()))
        ),
        sa.Column("changed", sa.Boolean, nullable=False, server_default=sa.true()),
    )


def upgrade() -> None:
    """Add invitations.programme and responses.programme (earlier ones: "default"); the
    funnel's cells gain the programme in their key and a not_sampled count (earlier cells:
    the default programme's)."""
    for table in ("invitations", "responses"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("programme", sa.String(40), nullable=False, server_default="default")
            )
    _funnel("funnel_cells_by_programme", with_programme=True)
    columns = ", ".join(("day", "channel", *_COUNTS, "changed"))
    op.execute(
        f"INSERT INTO funnel_cells_by_programme ({columns}) SELECT {columns} FROM funnel_cells"  # noqa: S608
    )
    op.drop_table("funnel_cells")
    op.rename_table("funnel_cells_by_programme", "funnel_cells")


def downgrade() -> None:
    """Sum the funnel's programmes back into one cell per day and channel; drop the columns."""
    _funnel("funnel_cells_by_day", with_programme=False)
    sums = ", ".join(f"SUM({count})" for count in _COUNTS)
    op.execute(
        f"INSERT INTO funnel_cells_by_day (day, channel, {', '.join(_COUNTS)}, changed) "  # noqa: S608
        f"SELECT day, channel, {sums}, MAX(CASE WHEN changed THEN 1 ELSE 0 END) = 1 "
        "FROM funnel_cells GROUP BY day, channel"
    )
    op.drop_table("funnel_cells")
    op.rename_table("funnel_cells_by_day", "funnel_cells")
    for table in ("responses", "invitations"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("programme")
