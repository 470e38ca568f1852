"""The operator's second chance: invitations given up (failed or expired) in a time range put
back in the queue with a new send-by time (`palaute-dispatcher requeue`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_dispatcher.settings import DispatcherSettings
from palaute_dispatcher.tables import invitations, withdrawals
from palaute_runtime.clock import Clock

log = structlog.get_logger("palaute.dispatcher")


async def requeue(
    engine: AsyncEngine,
    settings: DispatcherSettings,
    since: datetime,
    until: datetime,
    statuses: Sequence[str],
    *,
    dry_run: bool = False,
    clock: Clock | None = None,
) -> tuple[int, int]:
    """Put given-up invitations requested in [since, until) back in the queue, with a new
    send-by time; returns (requeued, left because their survey has closed). A running
    dispatcher picks them up within its poll interval."""
    now = (clock or settings.clock()).now()
    chosen = sa.and_(
        invitations.c.reminder_of.is_(None),  # a reminder's moment has passed with its window
        invitations.c.status.in_(statuses),
        invitations.c.created_at >= since,
        invitations.c.created_at < until,
        invitations.c.contact_id.not_in(sa.select(withdrawals.c.contact_id)),
    )
    async with engine.begin() as connection:
        closed = int(
            await connection.scalar(
                sa.select(sa.func.count())
                .select_from(invitations)
                .where(chosen, invitations.c.expires_at <= now)
            )
            or 0
        )
        open_ones = sa.and_(chosen, invitations.c.expires_at > now)
        if dry_run:
            count = await connection.scalar(
                sa.select(sa.func.count()).select_from(invitations).where(open_ones)
            )
            return int(count or 0), closed
        ids = (await connection.scalars(sa.select(invitations.c.id).where(open_ones))).all()
        send_by = now + timedelta(hours=settings.max_send_delay_hours)
        chosen_ids = invitations.c.id.in_(ids)
        await connection.execute(
            invitations.update()
            .where(chosen_ids)
            .values(
                status="pending", attempts=0, next_attempt_at=now, last_error=None, send_by=send_by
            )
        )
        # Never past the survey's close.
        await connection.execute(
            invitations.update()
            .where(chosen_ids, invitations.c.expires_at < send_by)
            .values(send_by=invitations.c.expires_at)
        )
    log.info("invitations_requeued", count=len(ids), left_closed=closed)
    return len(ids), closed
