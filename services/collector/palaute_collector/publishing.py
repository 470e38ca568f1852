"""What the collector publishes for BI: the figures (answers released in groups, figures.py
says which), the response-rate funnel and the follow-up figures per unit."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_collector.core import Core
from palaute_collector.figure_store import SEALED_LENGTH, FigureStore, FunnelCell
from palaute_collector.figures import (
    COUNT_FIELDS,
    GRAINS,
    Answer,
    Cell,
    Counts,
    all_days_final,
    period_start,
    publication_round,
)
from palaute_collector.invitation_store import InvitationStore
from palaute_collector.tables import inbox
from palaute_runtime.metrics import FIGURE_CELLS_PUBLISHED
from palaute_runtime.outbox import Inbox
from palaute_runtime.sealed import unseal
from palaute_runtime.unit_of_work import uow
from palaute_schemas import (
    FIGURES_PUBLISHED,
    FOLLOW_UP_FIGURES,
    FUNNEL_PUBLISHED,
    FiguresPublished,
    FollowUpClosed,
    FollowUpFigures,
    FunnelPublished,
    Grain,
)

log = structlog.get_logger("palaute.collector")

_shuffle = secrets.SystemRandom().shuffle


class Publishing:
    """Keeps the funnel, the figures and the follow-up figures, and publishes their changes."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._follow_ups_inbox = Inbox(inbox, "collector.follow-up-closed", core.clock)
        self._figures_lock = asyncio.Lock()

    # The funnel --------------------------------------------------------------------------

    async def count_in_funnel(
        self, connection: AsyncConnection, cell: FunnelCell, **counts: int
    ) -> None:
        """Add to one funnel cell's counts (day, channel, programme); published soon."""
        await FigureStore(connection).count_in_funnel(cell, **counts)

    async def publish_funnel(self) -> int:
        """Publish every funnel cell that changed since it was last published; the counts
        derived from answers only from the minimum group size on. Returns how many."""
        minimum = self.core.settings.min_group_size
        async with uow(self.core.engine, self.core.outbox) as work:
            changed = await FigureStore(work.connection).take_changed_funnel()
            await work.publish_all(FUNNEL_PUBLISHED, [funnel_record(c, minimum) for c in changed])
        return len(changed)

    async def republish(self) -> dict[str, int]:
        """Every figure cell, funnel cell and unit's follow-up figures again, as they stand,
        onto their topics (through the outbox, which the running collector relays): after
        Kafka lost a topic. The topics are compacted by cell, so a record published again
        changes nothing for a reader that has it. Returns how many of each."""
        minimum = self.core.settings.min_group_size
        async with uow(self.core.engine, self.core.outbox) as work:
            figures, funnel, follow_up = await FigureStore(work.connection).every_cell()
            await work.publish_all(
                FIGURES_PUBLISHED, [figures_record(row, minimum) for row in figures]
            )
            await work.publish_all(FUNNEL_PUBLISHED, [funnel_record(c, minimum) for c in funnel])
            await work.publish_all(
                FOLLOW_UP_FIGURES,
                [
                    FollowUpFigures(unit=row.unit, open=row.open, overdue=row.overdue)
                    for row in follow_up
                ],
            )
        counts = {"figures": len(figures), "funnel": len(funnel), "follow_ups": len(follow_up)}
        log.info("figures_republished", **counts)
        return counts

    # The follow-up figures ---------------------------------------------------------------

    async def handle_follow_ups_closed(self, batch: Sequence[FollowUpClosed]) -> None:
        """The CRM handled follow-ups: they are no longer open."""
        async with uow(self.core.engine, self.core.outbox, self._follow_ups_inbox, batch) as work:
            units: set[str] = set()
            for closed in work.fresh:
                unit = await FigureStore(work.connection).close_follow_up(
                    closed.follow_up_id, closed.closed_at
                )
                if unit is not None:
                    units.add(unit)
            await self.follow_up_figures_of(work.connection, units)
        log.info("follow_ups_closed", closed=len(work.fresh), units=len(units))

    async def publish_follow_up_figures(self, today: date | None = None) -> int:
        """Publish the figures of every unit whose open or overdue count changed (a
        follow-up turns overdue with the date); returns how many units were published."""
        async with uow(self.core.engine, self.core.outbox) as work:
            units = await FigureStore(work.connection).follow_up_units()
            published = await self.follow_up_figures_of(work.connection, units, today)
        return published

    async def follow_up_figures_of(
        self, connection: AsyncConnection, units: set[str], today: date | None = None
    ) -> int:
        """Publish, in the caller's transaction, the figures of those units that changed
        (overdue as of `today`, else of the day it is now where each unit serves)."""
        store = FigureStore(connection)
        rules = self.core.settings.send_window_rules()
        now = self.core.clock.now()
        published = 0
        for unit in sorted(units):
            open_now, overdue = await store.follow_up_counts(
                unit, today or rules.local_day(now, unit)
            )
            if not await store.set_follow_up_figures(unit, open_now, overdue):
                continue
            await self.core.outbox.add(
                connection,
                FOLLOW_UP_FIGURES,
                FollowUpFigures(unit=unit, open=open_now, overdue=overdue),
            )
            published += 1
        return published

    # The figures -------------------------------------------------------------------------

    async def publish_figures(self, today: date | None = None) -> int:
        """Release what may be released of the waiting answers into the figures, mark the
        periods whose surveys have all closed final, and publish every cell that changed.
        All in one transaction of its own, apart from any answer's. Returns how many cell
        revisions were published."""
        # One release is one transaction, its steps in order; split further it would only
        # pass half-released state between functions.
        today = today or self.core.clock.now().date()
        rule = self.core.settings.figures_rule
        async with self._figures_lock, uow(self.core.engine, self.core.outbox) as work:
            connection = work.connection
            store = FigureStore(connection)
            await store.lock_figures()
            final = await self._final_days(connection, today)
            closed = await store.final_periods()
            waiting = await self._waiting(connection)
            step = publication_round(
                [answer for _, answer, _ in waiting],
                rule,
                today,
                final,
                lambda grain, start: (grain, start) in closed,
            )
            received = await self._received(connection)
            published = 0
            for cell in sorted(step.counts):
                published += await self._add_to_cell(
                    connection,
                    cell,
                    step.counts[cell],
                    received[cell.grain, cell.period_start] if cell.dimension == "total" else None,
                )
            published += await self._coverage(connection, rule.min_group, received)
            published += await self._finalize(connection, final)
            released = [waiting[n] for level in GRAINS for n in step.released[level]]
            never = [waiting[n] for n in step.never]
            await self._forget_released(connection, released + never)
        FIGURE_CELLS_PUBLISHED.inc(published)
        if released or never:
            log.info(
                "figures_released",
                released=len(released),
                **{f"at_{level}": len(step.released[level]) for level in GRAINS},
                never_published=len(never),
                waiting=len(waiting) - len(released) - len(never),
                revisions=published,
            )
        return published

    async def _waiting(self, connection: AsyncConnection) -> list[tuple[uuid.UUID, Answer, str]]:
        """Every answer waiting sealed for its release, with its id and comment."""
        waiting = []
        for row in await FigureStore(connection).sealed():
            opened = unseal(self.core.settings.answer_seal_key, row.sealed, longest=SEALED_LENGTH)
            if opened is None:  # kept: a key mix-up must not lose answers
                log.error("sealed_answer_unreadable")
                continue
            waiting.append((row.id, Answer.unsealed(opened), str(opened.get("comment", ""))))
        return waiting

    async def _forget_released(
        self, connection: AsyncConnection, gone: list[tuple[uuid.UUID, Answer, str]]
    ) -> None:
        """Delete the sealed answers the figures took; their comments are kept alone, text
        only, written shuffled."""
        store = FigureStore(connection)
        await store.forget_sealed([i for i, _, _ in gone])
        comments = [text for _, _, text in gone if text]
        _shuffle(comments)
        await store.keep_comments(comments)

    async def _final_days(self, connection: AsyncConnection, today: date) -> Callable[[date], bool]:
        """Whether a contact day is final: none of its invitations open, and old enough that
        no invitation of it can still come."""
        open_days = await InvitationStore(connection).open_contact_days(self.core.clock.now())
        horizon = today - timedelta(days=self.core.settings.figures_final_after_days)
        return lambda day: day <= horizon and day not in open_days

    async def _add_to_cell(
        self, connection: AsyncConnection, cell: Cell, counts: Counts, received: int | None
    ) -> int:
        """Add released counts to a cell (a total cell: with the answers received of its
        period) and publish its new revision."""
        added = counts.as_dict()
        key = {
            "grain": cell.grain,
            "period_start": cell.period_start,
            "dimension": cell.dimension,
            "value": cell.value,
        }
        row = await FigureStore(connection).add_to_cell(key, added, received)
        await self.core.outbox.add(
            connection,
            FIGURES_PUBLISHED,
            figures_record(row, self.core.settings.min_group_size),
        )
        return 1

    async def _received(self, connection: AsyncConnection) -> Counter[tuple[Grain, date]]:
        """The answers received of each period (released, waiting or never published)."""
        received: Counter[tuple[Grain, date]] = Counter()
        for day, count in (await FigureStore(connection).received_by_day()).items():
            for grain in GRAINS:
                received[grain, period_start(grain, day)] += count
        return received

    async def _coverage(
        self, connection: AsyncConnection, minimum: int, received: Counter[tuple[Grain, date]]
    ) -> int:
        """Each period's total cell says how many answers of the period came: a revision
        when that changed and no release gave it one, a cell of its own only from the
        minimum group size on."""
        store = FigureStore(connection)
        totals = await store.total_cells()
        published = 0
        for (grain, start), count in sorted(received.items()):
            row = totals.get((grain, start))
            if row is None and count < minimum:
                continue
            if row is not None and (row.final or row.received == count):
                continue
            changed = await store.set_received(grain, start, count)
            await self.core.outbox.add(
                connection, FIGURES_PUBLISHED, figures_record(changed, minimum)
            )
            published += 1
        return published

    async def _finalize(self, connection: AsyncConnection, final: Callable[[date], bool]) -> int:
        """Mark final, with a revision of their own, the cells of periods all of whose days
        are final."""
        store = FigureStore(connection)
        periods = await store.open_periods()
        published = 0
        for grain, start in periods:
            if not all_days_final(final, grain, start):
                continue
            rows = await store.finalize(grain, start)
            minimum = self.core.settings.min_group_size
            for row in rows:
                await self.core.outbox.add(
                    connection, FIGURES_PUBLISHED, figures_record(row, minimum)
                )
            published += len(rows)
        return published


def funnel_record(cell: sa.Row[tuple[object, ...]], minimum: int) -> FunnelPublished:
    """The published record of one funnel cell: the counts derived from answers only from
    the minimum group size on."""
    answered = int(cell.answered)
    sent = int(cell.sent)
    return FunnelPublished(
        day=cell.day,
        channel=cell.channel,
        programme=cell.programme,
        not_sampled=cell.not_sampled,
        sent=sent,
        delivered=cell.delivered,
        undelivered=cell.undelivered,
        opened=cell.opened,
        answered=answered if answered >= minimum else None,
        response_rate=(
            round(100.0 * min(answered, sent) / sent, 1) if answered >= minimum and sent else None
        ),
    )


def figures_record(row: sa.Row[tuple[object, ...]], minimum: int) -> FiguresPublished:
    """The published record of one figure cell's row (a total cell's answers received only
    from the minimum group size on)."""
    cell = Cell(row.grain, row.period_start, row.dimension, row.value)
    counts = Counts(**{name: int(getattr(row, name)) for name in COUNT_FIELDS})
    return FiguresPublished(
        grain=cell.grain,
        period=cell.period,
        period_start=cell.period_start,
        dimension=cell.dimension,
        value=cell.value,
        revision=row.revision,
        final=row.final,
        nps=counts.nps,
        csat=counts.csat,
        received=row.received if row.received is not None and row.received >= minimum else None,
        **counts.as_dict(),
    )
