"""The repository of what the collector publishes: answers waiting sealed for their release,
anonymous comments, figure cells, funnel cells, follow-ups and their figures per unit. Every
statement on those tables, inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_collector.figures import COUNT_FIELDS
from palaute_collector.tables import (
    anonymous_comments,
    answers_received,
    figure_cells,
    follow_up_figures,
    follow_ups,
    funnel_cells,
    sealed_answers,
)
from palaute_runtime.database import Row, upsert
from palaute_runtime.sealed import sealed_length
from palaute_schemas import Grain

# What waits sealed (an answer for its release, an SMS reply for its invitation) is sealed to
# this many bytes, whatever it says: a comment of 2,000 characters, each escaped as \u00XX
# at worst, fits with room to spare; 22 kB a row.
SEALED_BYTES = 16_384
SEALED_LENGTH = sealed_length(SEALED_BYTES)

# Replicas on one PostgreSQL database release answers into the figures one at a time.
_FIGURES_LOCK = 0x616E_6F6E_666F_6C64


# A funnel cell: contact day, survey channel, programme.
FunnelCell = tuple[date, str, str]


class FigureStore:
    """Sealed answers, figures, the funnel and follow-ups in one transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    # ---- answers waiting for their release -----------------------------------------------

    async def seal(self, sealed: str) -> None:
        await self.connection.execute(
            sealed_answers.insert().values(id=uuid.uuid4(), sealed=sealed)
        )

    async def count_received(self, day: date) -> None:
        """One more answer of a contact day came."""
        statement = upsert(self.connection, answers_received).values(day=day, received=1)
        await self.connection.execute(
            statement.on_conflict_do_update(
                index_elements=[answers_received.c.day],
                set_={"received": answers_received.c.received + 1},
            )
        )

    async def received_by_day(self) -> dict[date, int]:
        """The answers received of each contact day."""
        rows = await self.connection.execute(sa.select(answers_received))
        return {day: received for day, received in rows}

    async def sealed(self) -> list[Row]:
        return list((await self.connection.execute(sa.select(sealed_answers))).all())

    async def forget_sealed(self, ids: Collection[uuid.UUID]) -> None:
        if ids:
            await self.connection.execute(
                sealed_answers.delete().where(sealed_answers.c.id.in_(ids))
            )

    async def released_comments(self, limit: int) -> list[str]:
        """Anonymous comments as released: text only, in no order of their coming."""
        rows = await self.connection.scalars(
            sa.select(anonymous_comments.c.comment).order_by(anonymous_comments.c.id).limit(limit)
        )
        return list(rows)

    async def keep_comments(self, comments: Sequence[str]) -> None:
        """Comments kept alone, text only, in the order given."""
        if comments:
            await self.connection.execute(
                anonymous_comments.insert(),
                [{"id": uuid.uuid4(), "comment": text} for text in comments],
            )

    # ---- figure cells --------------------------------------------------------------------

    async def lock_figures(self) -> None:
        """Hold the figures for this transaction (PostgreSQL replicas take turns; SQLite
        has one writer anyway)."""
        if self.connection.dialect.name == "postgresql":
            await self.connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_FIGURES_LOCK)))

    async def add_to_cell(
        self, key: dict[str, Any], added: dict[str, int], received: int | None = None
    ) -> Row:
        """Add counts to a cell (made at revision 1), one revision up, with the answers
        received of its period when given; the new row."""
        columns = figure_cells.c
        statement = upsert(self.connection, figure_cells).values(
            **key, **added, revision=1, received=received
        )
        return (
            await self.connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[
                        columns.grain,
                        columns.period_start,
                        columns.dimension,
                        columns.value,
                    ],
                    set_={
                        **{name: getattr(columns, name) + value for name, value in added.items()},
                        "revision": columns.revision + 1,
                        **({} if received is None else {"received": received}),
                    },
                ).returning(*figure_cells.c)
            )
        ).one()

    async def total_cells(self) -> dict[tuple[str, date], Row]:
        """Every period's total cell, by (grain, start)."""
        columns = figure_cells.c
        rows = await self.connection.execute(
            sa.select(figure_cells).where(columns.dimension == "total")
        )
        return {(row.grain, row.period_start): row for row in rows}

    async def set_received(self, grain: str, start: date, received: int) -> Row:
        """A period's total cell (made empty when it has none yet) says how many answers
        came, one revision up; the new row."""
        key = {"grain": grain, "period_start": start, "dimension": "total", "value": ""}
        return await self.add_to_cell(key, dict.fromkeys(COUNT_FIELDS, 0), received)

    async def open_periods(self) -> list[tuple[Grain, date]]:
        """The (grain, start) of every period with cells not final yet."""
        columns = figure_cells.c
        rows = await self.connection.execute(
            sa.select(columns.grain, columns.period_start)
            .where(columns.final.is_(False))
            .distinct()
        )
        return [(grain, start) for grain, start in rows]

    async def final_periods(self) -> set[tuple[Grain, date]]:
        """The (grain, start) of every period whose cells are final."""
        columns = figure_cells.c
        rows = await self.connection.execute(
            sa.select(columns.grain, columns.period_start).where(columns.final.is_(True)).distinct()
        )
        return {(grain, start) for grain, start in rows}

    async def finalize(self, grain: str, start: date) -> list[Row]:
        """Mark a period's cells final, one revision up; the new rows."""
        columns = figure_cells.c
        return list(
            (
                await self.connection.execute(
                    figure_cells.update()
                    .where(columns.grain == grain, columns.period_start == start)
                    .values(final=True, revision=columns.revision + 1)
                    .returning(*figure_cells.c)
                )
            ).all()
        )

    # ---- the funnel ----------------------------------------------------------------------

    async def count_in_funnel(self, cell: FunnelCell, **counts: int) -> None:
        """Add to one funnel cell's counts and mark it for publishing."""
        cells = funnel_cells.c
        day, channel, programme = cell
        statement = upsert(self.connection, funnel_cells).values(
            day=day, channel=channel, programme=programme, changed=True, **counts
        )
        await self.connection.execute(
            statement.on_conflict_do_update(
                index_elements=[cells.day, cells.channel, cells.programme],
                set_={
                    "changed": True,
                    **{name: getattr(cells, name) + value for name, value in counts.items()},
                },
            )
        )

    async def take_changed_funnel(self) -> list[Row]:
        """The funnel cells changed since they were last taken."""
        return list(
            (
                await self.connection.execute(
                    funnel_cells.update()
                    .where(funnel_cells.c.changed.is_(True))
                    .values(changed=False)
                    .returning(*funnel_cells.c)
                )
            ).all()
        )

    async def every_cell(self) -> tuple[list[Row], list[Row], list[Row]]:
        """Every figure cell, funnel cell and unit's follow-up figures, as last published."""
        figures = (await self.connection.execute(sa.select(figure_cells))).all()
        funnel = (await self.connection.execute(sa.select(funnel_cells))).all()
        follow_up = (await self.connection.execute(sa.select(follow_up_figures))).all()
        return list(figures), list(funnel), list(follow_up)

    # ---- follow-ups ----------------------------------------------------------------------

    async def add_follow_up(
        self, follow_up_id: uuid.UUID, unit: str, due: date, requested_at: datetime
    ) -> None:
        await self.connection.execute(
            follow_ups.insert().values(
                id=follow_up_id, unit=unit, due_date=due, requested_at=requested_at
            )
        )

    async def close_follow_up(self, follow_up_id: uuid.UUID, closed_at: datetime) -> str | None:
        """Close an open follow-up; its unit, or None when it was closed or is unknown."""
        unit: str | None = await self.connection.scalar(
            follow_ups.update()
            .where(follow_ups.c.id == follow_up_id, follow_ups.c.closed_at.is_(None))
            .values(closed_at=closed_at)
            .returning(follow_ups.c.unit)
        )
        return unit

    async def follow_up_units(self) -> set[str]:
        """Every unit with published follow-up figures or an open follow-up."""
        units = set(await self.connection.scalars(sa.select(follow_up_figures.c.unit)))
        units |= set(
            await self.connection.scalars(
                sa.select(follow_ups.c.unit).where(follow_ups.c.closed_at.is_(None)).distinct()
            )
        )
        return units

    async def follow_up_counts(self, unit: str, today: date) -> tuple[int, int]:
        """A unit's open follow-ups and those of them overdue today."""
        open_now = sa.select(sa.func.count()).where(
            follow_ups.c.unit == unit, follow_ups.c.closed_at.is_(None)
        )
        overdue = open_now.where(follow_ups.c.due_date < today)
        return (
            int(await self.connection.scalar(open_now) or 0),
            int(await self.connection.scalar(overdue) or 0),
        )

    async def set_follow_up_figures(self, unit: str, open_now: int, overdue: int) -> bool:
        """Store a unit's follow-up figures; False when they were the same already."""
        last = (
            await self.connection.execute(
                sa.select(follow_up_figures).where(follow_up_figures.c.unit == unit)
            )
        ).first()
        if last is not None and (last.open, last.overdue) == (open_now, overdue):
            return False
        statement = upsert(self.connection, follow_up_figures).values(
            unit=unit, open=open_now, overdue=overdue
        )
        await self.connection.execute(
            statement.on_conflict_do_update(
                index_elements=[follow_up_figures.c.unit],
                set_={"open": open_now, "overdue": overdue},
            )
        )
        return True
