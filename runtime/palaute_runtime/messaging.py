"""The Kafka side of every service: broker factory, dead-lettering consumers, inbox, outbox."""

from __future__ import annotations

import asyncio
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
import structlog
from faststream import AckPolicy
from faststream.exceptions import NackMessage
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from palaute_runtime.database import insert_ignoring_conflicts
from palaute_runtime.service import run_when_woken
from palaute_runtime.settings import CommonSettings
from palaute_schemas import Message, Topic

M = TypeVar("M", bound=Message)
log = structlog.get_logger("palaute.messaging")

# Retries of a failing effect inside the consumer, before the message is dead-lettered.
EFFECT_ATTEMPTS = 3
EFFECT_BACKOFF_SECONDS = 0.2


def create_broker(settings: CommonSettings, client_id: str) -> KafkaBroker:
    """A FastStream Kafka broker configured the Palaute way (acks=all, ACK after the effect)."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        ack_policy=AckPolicy.ACK,
        logger=None,  # one structlog line per handled message instead
    )


def serialize(message: Message) -> bytes:
    """The wire form of a message: its JSON."""
    return message.model_dump_json().encode()


class DeadLetters:
    """Publishes a message that could not be handled to its topic's dead-letter topic."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def send(self, message: KafkaMessage, *, reason: str, error: str) -> None:
        """Copy the raw message, with where it came from and why, to `<topic>.dlt`."""
        record = message.raw_message
        assert not isinstance(record, tuple), "dead letters are sent one message at a time"
        topic, partition, offset = record.topic, record.partition, record.offset
        headers = {
            "palaute-dlt-reason": reason,
            "palaute-dlt-error": error[:2000],
            "palaute-dlt-original-topic": topic,
            "palaute-dlt-original-partition": str(partition),
            "palaute-dlt-original-offset": str(offset),
        }
        await self._broker.publish(
            message.body,
            topic=f"{topic}.dlt",
            key=record.key,
            headers=headers,
        )
        log.warning("dead_lettered", topic=topic, partition=partition, offset=offset, reason=reason)


@dataclass(frozen=True)
class Handler(Generic[M]):
    """One topic a service consumes and the effect each of its messages has."""

    topic: Topic[M]
    effect: Callable[[M], Awaitable[None]]

    async def handle(
        self, message: KafkaMessage, context: dict[str, Any], dead_letters: DeadLetters
    ) -> None:
        """Validate at the edge, run the effect with bounded retries, dead-letter the rest."""
        try:
            event = self.topic.model.model_validate_json(message.body, context=context)
        except ValidationError as exc:
            await _dead_letter_or_rewind(dead_letters, message, "invalid", _validation_summary(exc))
            return
        for attempt in range(1, EFFECT_ATTEMPTS + 1):
            try:
                await self.effect(event)
            except Exception as exc:
                if attempt == EFFECT_ATTEMPTS:
                    log.error(
                        "effect_failed",
                        topic=self.topic.name,
                        event_id=str(event.event_id),
                        error=type(exc).__name__,
                    )
                    await _dead_letter_or_rewind(
                        dead_letters,
                        message,
                        "effect_failed",
                        "".join(traceback.format_exception_only(exc)).strip(),
                    )
                    return
                await asyncio.sleep(EFFECT_BACKOFF_SECONDS * 2 ** (attempt - 1))
            else:
                return


def consume(
    broker: KafkaBroker, *handlers: Handler[Any], group_id: str, settings: CommonSettings
) -> None:
    """Subscribe one consumer (one group join) to every handler's topic.

    The offset is committed only after the effect is stored or the message is dead-lettered,
    so nothing is skipped silently.
    """
    dead_letters = DeadLetters(broker)
    context = {"default_region": settings.default_region}
    by_topic = {handler.topic.name: handler for handler in handlers}

    async def handle(message: KafkaMessage) -> None:
        record = message.raw_message
        assert not isinstance(record, tuple), "one message at a time"
        await by_topic[record.topic].handle(message, context, dead_letters)

    broker.subscriber(
        *by_topic,
        group_id=group_id,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )(handle)


async def _dead_letter_or_rewind(
    dead_letters: DeadLetters, message: KafkaMessage, reason: str, error: str
) -> None:
    try:
        await dead_letters.send(message, reason=reason, error=error)
    except Exception as exc:
        # The broker is unreachable even for the dead letter: do not commit past the message.
        log.error("dead_letter_failed", error=type(exc).__name__)
        await asyncio.sleep(1.0)
        raise NackMessage from exc


def _validation_summary(exc: ValidationError) -> str:
    # Only locations and messages: an input value may be a phone number or an email.
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<message>'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)
    )


class Inbox:
    """Remembers which events a consumer has handled, in the effect's own transaction."""

    def __init__(self, table: sa.Table, consumer: str) -> None:
        self._table = table
        self._consumer = consumer

    async def first_delivery(self, connection: AsyncConnection, event_id: uuid.UUID) -> bool:
        """Record the event as handled; False when it already was (a redelivery)."""
        statement = insert_ignoring_conflicts(connection, self._table).values(
            consumer=self._consumer, event_id=event_id
        )
        result = await connection.execute(statement)
        return result.rowcount == 1


class Outbox:
    """Messages to publish, written in the same transaction as the change that caused them."""

    def __init__(self, table: sa.Table) -> None:
        self._table = table
        self.written = asyncio.Event()

    async def add(self, connection: AsyncConnection, topic: Topic[M], message: M) -> None:
        """Queue one message for the relay; it is published only if the transaction commits."""
        await connection.execute(
            self._table.insert().values(
                topic=topic.name, key=topic.key(message), payload=message.model_dump_json()
            )
        )

    def committed(self) -> None:
        """Tell the relay that new rows are waiting (call after the transaction commits)."""
        self.written.set()


class OutboxRelay:
    """Publishes outbox rows in order and deletes them once the broker has them."""

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Outbox,
        table: sa.Table,
        broker: KafkaBroker,
        *,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
    ) -> None:
        self._engine = engine
        self._outbox = outbox
        self._table = table
        self._broker = broker
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds

    async def publish_pending(self) -> int:
        """Publish one batch of waiting rows; returns how many were published."""
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(
                    sa.select(self._table).order_by(self._table.c.id).limit(self._batch_size)
                )
            ).all()
        if not rows:
            return 0
        pending: list[Any] = [
            await self._broker.publish(
                row.payload.encode(),
                topic=row.topic,
                key=row.key.encode(),
                headers={"content-type": "application/json"},
                no_confirm=True,
            )
            for row in rows
        ]
        await asyncio.gather(*pending)
        async with self._engine.begin() as connection:
            await connection.execute(
                # By id, not by range: a row with a lower id may commit after this read.
                sa.delete(self._table).where(self._table.c.id.in_([row.id for row in rows]))
            )
        return len(rows)

    async def run(self) -> None:
        """Relay until cancelled; wakes on a commit signal or every poll interval."""
        await run_when_woken(
            self.publish_pending,
            self._outbox.written,
            poll_seconds=self._poll_seconds,
            name="outbox_relay",
        )
