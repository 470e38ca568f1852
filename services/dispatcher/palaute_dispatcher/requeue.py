"""The operator's second chance: invitations given up (failed or expired) in a time range put
back in the queue with a new send-by time (`palaute-dispatcher requeue`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_dispatcher.repository import Invitations
from palaute_dispatcher.settings import DispatcherSettings
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
    send_by = now + timedelta(hours=settings.max_send_delay_hours)
    async with engine.begin() as connection:
        requeued, closed = await Invitations(connection).requeue(
            since, until, statuses, now, send_by, dry_run=dry_run
        )
    if dry_run:
        return requeued, closed
    log.info("invitations_requeued", count=requeued, left_closed=closed)
    return requeued, closed
