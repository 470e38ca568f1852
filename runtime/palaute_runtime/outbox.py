"""The transactional inbox and outbox of every service: each event handled once (its id kept
in the consumer's transaction), and messages published only if the transaction that made them
commits (rows relayed to Kafka by the `OutboxRelay`, then deleted)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import weakref
import zlib
from collections.abc import Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from palaute_runtime.clock import Clock
from palaute_runtime.database import insert_ignoring_conflicts
from palaute_runtime.kafka_security import client_options
from palaute_runtime.messaging import STOP_GRACE_SECONDS, wait_out_faults
from palaute_runtime.service import run_when_woken
from palaute_runtime.settings import CommonSettings
from palaute_schemas import Message, Topic

M = TypeVar("M", bound=Message)
log = structlog.get_logger("palaute.messaging")


class Inbox:
    """Remembers which events a consumer has handled, in the effect's own transaction."""

    def __init__(self, table: sa.Table, consumer: str, clock: Clock | None = None) -> None:
        self._table = table
        self._consumer = consumer
        self._clock = clock or Clock()  # when it was handled: the service's clock

    async def first_deliveries(
        self, connection: AsyncConnection, event_ids: Sequence[uuid.UUID]
    ) -> set[uuid.UUID]:
        """Record a batch of events as handled; returns those not handled before."""
        if not event_ids:
            return set()
        # executemany, not one multi-row VALUES: one cached statement whatever the batch size.
        statement = insert_ignoring_conflicts(connection, self._table).returning(
            self._table.c.event_id
        )
        handled_at = self._clock.now()
        rows = [
            {"consumer": self._consumer, "event_id": e, "handled_at": handled_at}
            for e in dict.fromkeys(event_ids)
        ]
        return set((await connection.execute(statement, rows)).scalars())

    async def new_messages(self, connection: AsyncConnection, messages: Sequence[M]) -> list[M]:
        """The messages of a batch seen for the first time, in order, each once."""
        first = await self.first_deliveries(connection, [m.event_id for m in messages])
        fresh: list[M] = []
        for message in messages:
            if message.event_id in first:
                first.discard(message.event_id)
                fresh.append(message)
        return fresh


class Outbox:
    """Messages to publish, written in the same transaction as the change that caused them."""

    def __init__(self, table: sa.Table) -> None:
        self._table = table
        self.written = asyncio.Event()
        # Connections whose open transaction queued rows: a unit of work wakes the relay
        # after its commit only when its own connection did.
        self._queued_on: weakref.WeakSet[AsyncConnection] = weakref.WeakSet()

    async def add(self, connection: AsyncConnection, topic: Topic[M], message: M) -> None:
        """Queue one message for the relay; it is published only if the transaction commits."""
        await self.add_all(connection, topic, [message])

    async def add_all(
        self, connection: AsyncConnection, topic: Topic[M], messages: Sequence[M]
    ) -> None:
        """Queue messages for the relay, in order, with one statement."""
        if not messages:
            return
        self._queued_on.add(connection)
        await connection.execute(
            self._table.insert(),
            [
                {"topic": topic.name, "key": topic.key(m), "payload": m.model_dump_json()}
                for m in messages
            ],
        )

    def committed(self) -> None:
        """Tell the relay that new rows are waiting (call after the transaction commits)."""
        self.written.set()

    def queued_on(self, connection: AsyncConnection) -> bool:
        """Whether rows were queued on this connection since it was last asked (and forget
        it: the next transaction on it starts afresh)."""
        queued = connection in self._queued_on
        self._queued_on.discard(connection)
        return queued


class OutboxRelay:
    """Publishes outbox rows in order and deletes exactly the rows it published.

    On PostgreSQL, replicas of a service share one outbox: a transaction-scoped advisory lock
    lets one relay publish at a time (keeping the outbox's order on the topics), and a relay
    that dies releases it with its connection. SQLite has one process per database.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Outbox,
        table: sa.Table,
        settings: CommonSettings,
        client_id: str,
        *,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        busy_retry_seconds: float = 0.05,
    ) -> None:
        self._engine = engine
        self._outbox = outbox
        self._table = table
        self._producer_options: dict[str, Any] = {
            **client_options(settings),
            "client_id": f"{client_id}-relay",
            "acks": "all",
            "enable_idempotence": settings.kafka_enable_idempotence,
            "linger_ms": 2,
        }
        self._producer: Any = None  # made in run(): aiokafka wants the running loop
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._busy_retry_seconds = busy_retry_seconds
        self._lock_key = zlib.crc32(f"palaute-outbox:{table.name}".encode())

    async def publish_pending(self) -> int | None:
        """Publish one batch of waiting rows; how many, or None while another relay holds it."""
        if self._engine.dialect.name == "postgresql":
            # Replicas share the outbox: hold the lock (and the rows) until they are published.
            async with self._engine.begin() as connection:
                if not await connection.scalar(
                    sa.select(sa.func.pg_try_advisory_xact_lock(self._lock_key))
                ):
                    return None
                rows = await self._waiting(connection)
                await self._publish(rows)
                await self._delete(connection, rows)
            return len(rows)
        # SQLite: one process, one connection; do not hold it while the broker answers.
        async with self._engine.connect() as connection:
            rows = await self._waiting(connection)
        await self._publish(rows)
        if rows:
            async with self._engine.begin() as connection:
                await self._delete(connection, rows)
        return len(rows)

    async def _waiting(self, connection: AsyncConnection) -> list[Any]:
        query = sa.select(self._table).order_by(self._table.c.id).limit(self._batch_size)
        return list((await connection.execute(query)).all())

    async def _publish(self, rows: list[Any]) -> None:
        pending: list[Any] = [
            await self._producer.send(
                row.topic,
                row.payload.encode(),
                key=row.key.encode(),
                headers=[("content-type", b"application/json")],
            )
            for row in rows
        ]
        await asyncio.gather(*pending)  # every row acknowledged before any is deleted

    async def _delete(self, connection: AsyncConnection, rows: list[Any]) -> None:
        if rows:
            # By id, not by range: a row with a lower id may commit after this read.
            await connection.execute(
                sa.delete(self._table).where(self._table.c.id.in_([row.id for row in rows]))
            )

    async def _step(self) -> int:
        # Another replica is relaying, in another process; ours may have rows it has not
        # read yet, so poll its lock rather than wait for a wake-up that cannot come.
        while (published := await self.publish_pending()) is None:  # noqa: ASYNC110
            await asyncio.sleep(self._busy_retry_seconds)
        return published

    async def run(self) -> None:
        """Relay until cancelled; wakes on a commit signal or every poll interval."""
        # A plain aiokafka producer: the rows are JSON already, and FastStream's per-message
        # publish path costs more than the send itself.
        self._producer = AIOKafkaProducer(**self._producer_options)
        starting = asyncio.ensure_future(
            wait_out_faults(self._producer.start, health=None, part="outbox_relay")
        )
        try:
            await asyncio.shield(starting)
            await run_when_woken(
                self._step,
                self._outbox.written,
                poll_seconds=self._poll_seconds,
                name="outbox_relay",
            )
        finally:
            # Stopped while still connecting: let the connection finish (aiokafka leaks one
            # cancelled mid-handshake), for a bounded time, then close it.
            if not starting.done():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(starting, STOP_GRACE_SECONDS)
            await self._producer.stop()
