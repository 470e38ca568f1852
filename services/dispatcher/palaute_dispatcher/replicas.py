"""The contracted rates hold for the deployment, however many dispatchers run: each replica
says it is alive in the shared database every PALAUTE_REPLICA_HEARTBEAT_SECONDS, counts the
replicas heard of within three beats, and sends 1/n of every contracted rate. A replica that
stops says goodbye (its row deleted: the others take its share at their next beat); one
that dies is forgotten three beats later. Until a replica has counted, it sends nothing.

Between one replica's arrival and the others' next beat, the sum can exceed the contract
for up to one beat: the partner's own bucket (a second of sends) and its 429, which halves
our rate, absorb it (tests/faults/test_failover.py starts both before the backlog)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_dispatcher.tables import dispatcher_replicas
from palaute_runtime.clock import Clock
from palaute_runtime.metrics import RATE_SHARE

log = structlog.get_logger("palaute.dispatcher.replicas")

GONE_AFTER_BEATS = 3


class Replicas:
    """This replica's beat and its share of the rates."""

    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        beat_seconds: float,
        set_share: Callable[[float], None],
    ) -> None:
        self.engine, self.clock, self.beat_seconds = engine, clock, beat_seconds
        self.set_share = set_share
        self.id = uuid.uuid4()
        self.counted = asyncio.Event()  # set once this replica knows its share
        self.running = 0

    async def beat(self) -> int:
        """Say this replica is alive, forget the ones gone, and take 1/n of the rates;
        returns n."""
        now = self.clock.now()
        gone = now - timedelta(seconds=GONE_AFTER_BEATS * self.beat_seconds)
        table = dispatcher_replicas
        async with self.engine.begin() as connection:
            updated = await connection.execute(
                table.update().where(table.c.id == self.id).values(seen_at=now)
            )
            if not updated.rowcount:
                await connection.execute(table.insert().values(id=self.id, seen_at=now))
            await connection.execute(table.delete().where(table.c.seen_at < gone))
            running = int(
                await connection.scalar(sa.select(sa.func.count()).select_from(table)) or 1
            )
        if running != self.running:
            log.info("dispatcher_replicas_counted", running=running, share=round(1 / running, 3))
            self.running = running
            self.set_share(1 / running)
            RATE_SHARE.set(1 / running)
        self.counted.set()
        return running

    async def run(self) -> None:
        """Beat until cancelled; then say goodbye (the others take the share back)."""
        try:
            while True:
                try:
                    await self.beat()
                except Exception as exc:  # a database that is down: the share stays as it was
                    log.warning("replica_beat_failed", error=type(exc).__name__)
                await asyncio.sleep(self.beat_seconds)
        finally:
            with contextlib.suppress(Exception):
                async with self.engine.begin() as connection:
                    await connection.execute(
                        dispatcher_replicas.delete().where(dispatcher_replicas.c.id == self.id)
                    )
