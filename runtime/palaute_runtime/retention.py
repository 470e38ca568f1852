"""Retention: every service forgets on a schedule, and says how much (never what).

`periodic` turns one step into a background loop; `purge_inbox` forgets the consumed-message
ids older than any redelivery could be (the topics keep records `Topic.retention_days`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_runtime.database import rowcount
from palaute_runtime.service import Loop

log = structlog.get_logger("palaute.retention")

# A message id is remembered this long: past the topics' 7-day retention with a margin.
INBOX_KEEP = timedelta(days=14)


def periodic(name: str, seconds: float, step: Callable[[], Awaitable[object]]) -> Loop:
    """A loop that runs `step` now and then every `seconds`; a failing step is logged and
    tried again next time (a database outage must not end the loop)."""

    async def loop() -> None:
        while True:
            try:
                await step()
            except Exception as exc:
                log.error("loop_step_failed", loop=name, error=type(exc).__name__)
            await asyncio.sleep(seconds)

    return loop


async def purge_inbox(connection: AsyncConnection, inbox: sa.Table, now: datetime) -> int:
    """Forget consumed-message ids older than INBOX_KEEP; returns how many."""
    cutoff = now - INBOX_KEEP
    result = await connection.execute(inbox.delete().where(inbox.c.handled_at < cutoff))
    return rowcount(result)


def report(service: str, counts: dict[str, int]) -> None:
    """Log one purge: counts per table, never a value."""
    log.info("purged", service=service, **counts)
