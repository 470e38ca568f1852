"""Counting failures per key (a client address, an account) within a sliding window, across
every replica of a service: the failures are kept in the service's database."""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_runtime.clock import Clock
from palaute_runtime.database import as_utc


def add_throttle_table(metadata: sa.MetaData) -> sa.Table:
    """The table of a service's shared throttles: one row per failure, its key hashed."""
    return sa.Table(
        "throttle_misses",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(40), nullable=False),  # which throttle
        sa.Column("subject", sa.String(64), nullable=False),  # HMAC of the key, never the key
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_throttle_misses_scope_subject_at", "scope", "subject", "at"),
        sa.Index("ix_throttle_misses_at", "at"),
    )


class SharedThrottle:
    """Failures per key within a window, and how long a key must wait once it has had too
    many (unknown survey links per client address, failed sign-ins per address and per
    account). The failures live in the service's database, so N replicas allow what one
    does, not N times as much. Keys (addresses,
    account names) are stored only as HMACs; rows older than the window are deleted as new
    ones come."""

    def __init__(
        self,
        engine: AsyncEngine,
        table: sa.Table,
        scope: str,
        per_window: int,
        *,
        window_seconds: float,
        key: str,
        clock: Clock,
    ) -> None:
        self.engine = engine
        self.table = table
        self.scope = scope
        self.per_window = per_window
        self.window = timedelta(seconds=window_seconds)
        self._key = key.encode()
        self.clock = clock

    def _subject(self, key: str) -> str:
        return hmac.new(self._key, f"{self.scope}:{key}".encode(), hashlib.sha256).hexdigest()

    async def retry_after(self, key: str) -> int | None:
        """Seconds this key must wait, or None if it may try now."""
        now = self.clock.now()
        columns = self.table.c
        async with self.engine.connect() as connection:
            count, oldest = (
                await connection.execute(
                    sa.select(sa.func.count(), sa.func.min(columns.at)).where(
                        columns.scope == self.scope,
                        columns.subject == self._subject(key),
                        columns.at > now - self.window,
                    )
                )
            ).one()
        if count < self.per_window or oldest is None:
            return None
        return max(1, math.ceil((as_utc(oldest) + self.window - now).total_seconds()))

    async def missed(self, key: str) -> None:
        """Count one failure of this key (and forget this throttle's failures past the
        window)."""
        now = self.clock.now()
        columns = self.table.c
        async with self.engine.begin() as connection:
            await connection.execute(
                self.table.delete().where(
                    columns.scope == self.scope, columns.at <= now - self.window
                )
            )
            await connection.execute(
                self.table.insert().values(scope=self.scope, subject=self._subject(key), at=now)
            )
