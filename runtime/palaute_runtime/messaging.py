"""The Kafka side of every service: broker factory, dead-lettering batch consumers, waiting
out infrastructure faults. The inbox and outbox are in outbox.py."""

from __future__ import annotations

import asyncio
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import structlog
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from palaute_runtime.faults import is_infrastructure_fault
from palaute_runtime.health import Health
from palaute_runtime.kafka_security import kafka_security
from palaute_runtime.metrics import CONSUMER_LAG, DEAD_LETTERS, MESSAGES_CONSUMED
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
        security=kafka_security(settings),
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
            await _report_lag(subscriber.consumer, service)
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

    return consumer


async def _report_lag(client: Any, service: str) -> None:
    """Consumer lag per assigned partition: the broker's high watermark minus our place."""
    if client is None:
        return
    for partition in client.assignment():
        highwater = client.highwater(partition)
        if highwater is not None:
            position = await client.position(partition)
            CONSUMER_LAG.labels(
                service=service, topic=partition.topic, partition=str(partition.partition)
            ).set(max(0, highwater - position))


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
