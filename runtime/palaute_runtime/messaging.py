"""The Kafka side of every service: broker factory, dead-lettering consumers, inbox, outbox."""

from __future__ import annotations

import asyncio
import contextlib
import traceback
import uuid
import weakref
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from palaute_runtime.clock import Clock
from palaute_runtime.database import insert_ignoring_conflicts
from palaute_runtime.faults import is_infrastructure_fault
from palaute_runtime.health import Health
from palaute_runtime.metrics import CONSUMER_LAG, DEAD_LETTERS, MESSAGES_CONSUMED
from palaute_runtime.service import run_when_woken
from palaute_runtime.settings import CommonSettings
from palaute_schemas import Message, Topic, dead_letter_topic

M = TypeVar("M", bound=Message)
T = TypeVar("T")
log = structlog.get_logger("palaute.messaging")

# Retries of one message's failing effect, before it is dead-lettered.
EFFECT_ATTEMPTS = 3
EFFECT_BACKOFF_SECONDS = 0.2
# Waiting out a database or broker that is down: doubling from the first to the last.
PAUSE_FIRST_SECONDS = 0.2
PAUSE_LONGEST_SECONDS = 5.0
STOP_GRACE_SECONDS = 5.0  # how long a stopping relay lets its producer finish connecting


class Record(Protocol):
    """What the consumer reads of one Kafka record (aiokafka's ConsumerRecord)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def create_broker(settings: CommonSettings, client_id: str) -> KafkaBroker:
    """A FastStream Kafka broker configured the Palaute way (acks=all, commit by hand)."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        ack_policy=AckPolicy.MANUAL,  # offsets are committed once a whole batch is stored
        logger=None,  # one structlog line per handled batch instead
    )


def serialize(message: Message) -> bytes:
    """The wire form of a message: its JSON."""
    return message.model_dump_json().encode()


async def wait_out_faults(
    call: Callable[[], Awaitable[T]], *, health: Health | None, part: str
) -> T:
    """Run `call`; while it fails for an infrastructure fault, pause and run it again.

    Only faults of a database or the broker are waited out, for as long as they last;
    any other error is raised to the caller at once.
    """
    pause = PAUSE_FIRST_SECONDS
    paused = False
    while True:
        try:
            result = await call()
        except Exception as exc:
            if not is_infrastructure_fault(exc):
                raise
            if not paused:
                log.warning("paused", part=part, error=type(exc).__name__)
                paused = True
            if health is not None:
                health.problem(part, f"waiting for infrastructure: {type(exc).__name__}")
            await asyncio.sleep(pause)
            pause = min(PAUSE_LONGEST_SECONDS, pause * 2)
            continue
        if paused:
            log.info("resumed", part=part)
        if health is not None:
            health.recovered(part)
        return result


class DeadLetters:
    """Publishes a message that could not be handled to its topic's dead-letter topic."""

    def __init__(self, broker: KafkaBroker, health: Health | None = None) -> None:
        self._broker = broker
        self._health = health

    async def send(self, record: Record, *, reason: str, error: str) -> None:
        """Copy the raw record, with where it came from and why, to `<topic>.dlt`.

        A broker that cannot take the dead letter is waited out: the offset must not move
        past a message that is neither handled nor dead-lettered.
        """
        headers = {
            "palaute-dlt-reason": reason,
            "palaute-dlt-error": error[:2000],
            "palaute-dlt-original-topic": record.topic,
            "palaute-dlt-original-partition": str(record.partition),
            "palaute-dlt-original-offset": str(record.offset),
        }

        async def publish() -> None:
            await self._broker.publish(
                record.value,
                topic=dead_letter_topic(record.topic),
                key=record.key,
                headers=headers,
            )

        await wait_out_faults(publish, health=self._health, part="dead_letters")
        service = self._health.service if self._health else "unknown"
        DEAD_LETTERS.labels(service=service, topic=record.topic, reason=reason).inc()
        log.warning(
            "dead_lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
        )


@dataclass(frozen=True)
class Handler(Generic[M]):
    """One topic a service consumes and the effect a batch of its messages has.

    The effect applies the whole batch in one transaction, or raises and changes nothing.
    """

    topic: Topic[M]
    effect: Callable[[Sequence[M]], Awaitable[None]]


@dataclass
class BatchOutcome:
    """What became of the records of one batch."""

    handled: int = 0
    invalid: int = 0
    failed: int = 0


class BatchConsumer:
    """Validates a batch at the edge, applies it per topic, and finds the one bad message.

    A message that fails validation goes alone to the dead-letter topic. A batch whose
    effect fails for a database or broker fault is retried as it is, until the fault
    passes. A batch whose effect fails otherwise is split in halves until the message at
    fault stands alone; it gets bounded retries, then the dead-letter topic.
    """

    def __init__(
        self,
        handlers: Sequence[Handler[Any]],
        dead_letters: DeadLetters,
        *,
        context: dict[str, Any],
        health: Health | None = None,
    ) -> None:
        self._by_topic = {handler.topic.name: handler for handler in handlers}
        self._dead_letters = dead_letters
        self._context = context
        self._health = health

    async def handle(self, records: Sequence[Record]) -> BatchOutcome:
        """Handle every record of one fetch; returns what became of them."""
        outcome = BatchOutcome()
        for topic, run in _runs_by_topic(records):
            await self._handle_run(self._by_topic[topic], run, outcome)
        return outcome

    async def _handle_run(
        self, handler: Handler[Any], records: list[Record], outcome: BatchOutcome
    ) -> None:
        valid: list[tuple[Record, Message]] = []
        for record in records:
            try:
                event = handler.topic.model.model_validate_json(
                    record.value or b"", context=self._context
                )
            except ValidationError as exc:
                outcome.invalid += 1
                await self._dead_letters.send(
                    record, reason="invalid", error=_validation_summary(exc)
                )
            else:
                valid.append((record, event))
        if valid:
            await self._apply(handler, valid, outcome)

    async def _apply(
        self, handler: Handler[Any], items: list[tuple[Record, Message]], outcome: BatchOutcome
    ) -> None:
        events = [event for _, event in items]
        for attempt in range(1, EFFECT_ATTEMPTS + 1):
            try:
                await wait_out_faults(
                    lambda: handler.effect(events), health=self._health, part="consumer"
                )
            except Exception as exc:
                if len(items) > 1:
                    middle = len(items) // 2
                    await self._apply(handler, items[:middle], outcome)
                    await self._apply(handler, items[middle:], outcome)
                    return
                if attempt < EFFECT_ATTEMPTS:
                    await asyncio.sleep(EFFECT_BACKOFF_SECONDS * 2 ** (attempt - 1))
                    continue
                record, event = items[0]
                outcome.failed += 1
                log.error(
                    "effect_failed",
                    topic=handler.topic.name,
                    event_id=str(event.event_id),
                    error=type(exc).__name__,
                )
                await self._dead_letters.send(
                    record,
                    reason="effect_failed",
                    error="".join(traceback.format_exception_only(exc)).strip(),
                )
                return
            else:
                outcome.handled += len(items)
                return


def consume(
    broker: KafkaBroker,
    *handlers: Handler[Any],
    group_id: str,
    settings: CommonSettings,
    health: Health | None = None,
) -> BatchConsumer:
    """Subscribe one batch consumer (one group join) to every handler's topic.

    Offsets are committed once per batch, only after every message of it is stored or
    dead-lettered, so nothing is skipped silently.
    """
    consumer = BatchConsumer(
        handlers,
        DeadLetters(broker, health),
        context={"default_region": settings.default_region},
        health=health,
    )

    service = health.service if health else group_id

    async def handle(message: KafkaMessage) -> None:
        records = message.raw_message
        batch = records if isinstance(records, tuple) else (records,)
        for topic, count in Counter(record.topic for record in batch).items():
            MESSAGES_CONSUMED.labels(service=service, topic=topic).inc(count)
        outcome = await consumer.handle(batch)
        try:
            await message.ack()
        except KafkaError as exc:
            # Rebalanced away or the broker went: the next owner re-reads the batch and the
            # inbox makes that harmless.
            log.warning("commit_failed", error=type(exc).__name__)
        try:
            await report_lag()
        except Exception as exc:  # a metric never stops the consumer
            log.debug("lag_unknown", error=type(exc).__name__)
        log.info(
            "batch_handled",
            group=group_id,
            records=len(batch),
            handled=outcome.handled,
            invalid=outcome.invalid,
            failed=outcome.failed,
        )

    subscriber = broker.subscriber(
        *(handler.topic.name for handler in handlers),
        group_id=group_id,
        batch=True,
        max_records=settings.kafka_batch_max_records,
        batch_timeout_ms=settings.kafka_batch_timeout_ms,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
    )
    subscriber(handle)

    async def report_lag() -> None:
        """Consumer lag per assigned partition: the broker's high watermark minus our place."""
        client = subscriber.consumer
        if client is None:
            return
        for partition in client.assignment():
            highwater = client.highwater(partition)
            if highwater is not None:
                position = await client.position(partition)
                CONSUMER_LAG.labels(
                    service=service, topic=partition.topic, partition=str(partition.partition)
                ).set(max(0, highwater - position))

    return consumer


def _runs_by_topic(records: Sequence[Record]) -> list[tuple[str, list[Record]]]:
    """Consecutive records of one topic, in fetch order (which keeps each partition's)."""
    runs: list[tuple[str, list[Record]]] = []
    for record in records:
        if runs and runs[-1][0] == record.topic:
            runs[-1][1].append(record)
        else:
            runs.append((record.topic, [record]))
    return runs


def _validation_summary(exc: ValidationError) -> str:
    # Only locations and messages: an input value may be a phone number or an email.
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<message>'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)
    )


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
            "bootstrap_servers": settings.kafka_bootstrap,
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
