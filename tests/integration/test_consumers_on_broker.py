"""Consumers on the real local broker: dead letters, bounded retries, idempotency."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from faststream.kafka import KafkaBroker

from palaute_consent.bootstrap import build as build_consent
from palaute_consent.settings import ConsentSettings
from palaute_runtime.local_broker import TopicSpec, create_topics
from palaute_runtime.messaging import Handler, consume, create_broker
from palaute_runtime.settings import CommonSettings
from palaute_schemas import SURVEY_REQUESTED, ContactClosed, Topic
from palaute_stack.stack import LOCAL_RELEASE_RULES
from tests.conftest import wait_until

pytestmark = pytest.mark.broker


def contact(customer: str, **changes: object) -> ContactClosed:
    fields: dict[str, object] = {
        "contact_id": f"K-{uuid.uuid4().hex[:8]}",
        "customer_id": customer,
        "contact_channel": "phone",
        "language": "fi",
        "unit": "Kotka",
        "closed_at": datetime.now(UTC),
        "phone": "+358401234567",
    }
    return ContactClosed.model_validate({**fields, **changes})


@pytest.fixture
async def producer(kafka: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


async def read_all(kafka: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=1500)
        return [record for records in batch.values() for record in records]
    finally:
        await consumer.stop()


async def test_malformed_messages_go_to_the_dead_letter_topic_and_the_consumer_carries_on(
    kafka: str, producer: AIOKafkaProducer
) -> None:
    topic = Topic(
        f"test.contacts.{uuid.uuid4().hex[:8]}",
        ContactClosed,
        lambda m: m.customer_id,
        partitions=1,
    )
    await create_topics(kafka, [TopicSpec(topic.name, 1), TopicSpec(topic.dead_letter, 1)])
    handled: list[ContactClosed] = []

    async def effect(events: Sequence[ContactClosed]) -> None:
        handled.extend(events)

    broker: KafkaBroker = create_broker(CommonSettings(kafka_bootstrap=kafka), "test")
    consume(broker, Handler(topic, effect), group_id=f"g-{topic.name}", settings=CommonSettings())
    await broker.start()
    try:
        bad_channel = json.loads(contact("C1").model_dump_json()) | {"contact_channel": "fax"}
        await producer.send_and_wait(topic.name, b"{not json", key=b"C1")
        await producer.send_and_wait(topic.name, json.dumps(bad_channel).encode(), key=b"C1")
        good = contact("C1")
        await producer.send_and_wait(topic.name, good.model_dump_json().encode(), key=b"C1")

        async def handled_good() -> bool:
            return any(e.event_id == good.event_id for e in handled)

        await wait_until(handled_good, what="the good event after two malformed ones")
        letters = await wait_until(
            lambda: _at_least(kafka, topic.dead_letter, 2), what="two dead letters"
        )
    finally:
        await broker.stop()
    assert [e.event_id for e in handled] == [good.event_id]
    assert next(r.value for r in letters) == b"{not json"
    headers = [dict(r.headers) for r in letters]
    assert {h["palaute-dlt-reason"] for h in headers} == {b"invalid"}
    assert [h["palaute-dlt-original-offset"] for h in headers] == [b"0", b"1"]
    assert headers[0]["palaute-dlt-original-topic"] == topic.name.encode()
    assert b"contact_channel" in headers[1]["palaute-dlt-error"]
    assert b"fax" not in headers[1]["palaute-dlt-error"], "no input values in the reason"


async def _at_least(kafka: str, topic: str, count: int) -> list[ConsumerRecord[bytes, bytes]]:
    records = await read_all(kafka, topic)
    return records if len(records) >= count else []


async def test_one_poison_message_is_found_in_its_batch_retried_then_dead_lettered(
    kafka: str, producer: AIOKafkaProducer
) -> None:
    topic = Topic(
        f"test.failing.{uuid.uuid4().hex[:8]}", ContactClosed, lambda m: m.customer_id, partitions=1
    )
    await create_topics(kafka, [TopicSpec(topic.name, 1), TopicSpec(topic.dead_letter, 1)])
    applied: list[str] = []
    poison_alone = 0
    poison = contact("C1", unit="poison")
    neighbours = [contact("C1", unit=f"good-{n}") for n in range(9)]

    async def effect(events: Sequence[ContactClosed]) -> None:
        nonlocal poison_alone
        if any(event.unit == "poison" for event in events):
            poison_alone += len(events) == 1
            raise RuntimeError("the store refused it")
        applied.extend(event.unit for event in events)

    for event in [*neighbours[:4], poison, *neighbours[4:]]:
        await producer.send(topic.name, event.model_dump_json().encode(), key=b"C1")
    await producer.flush()
    broker = create_broker(CommonSettings(kafka_bootstrap=kafka), "test")
    consume(broker, Handler(topic, effect), group_id=f"g-{topic.name}", settings=CommonSettings())
    await broker.start()
    try:

        async def all_good_done() -> bool:
            return len(applied) >= len(neighbours)

        await wait_until(all_good_done, what="the poison message's neighbours")
        letters = await wait_until(
            lambda: _at_least(kafka, topic.dead_letter, 1), what="the poison message's dead letter"
        )
    finally:
        await broker.stop()
    assert applied == [event.unit for event in neighbours], "each neighbour once, in order"
    assert poison_alone == 3, "the poison message alone, three attempts"
    assert len(letters) == 1
    assert dict(letters[0].headers)["palaute-dlt-reason"] == b"effect_failed"
    assert dict(letters[0].headers)["palaute-dlt-original-offset"] == b"4"
    assert b"the store refused it" in dict(letters[0].headers)["palaute-dlt-error"]


async def test_consent_surveys_a_contact_once_however_often_it_is_published(
    kafka: str, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    settings = ConsentSettings(
        kafka_bootstrap=kafka, data_dir=tmp_path, frequency_cap_days=0, **LOCAL_RELEASE_RULES
    )
    runtime, _ = build_consent(settings)
    await runtime.start()
    try:
        customer = f"C-{uuid.uuid4().hex[:8]}"
        first = contact(customer)
        same_contact_new_event = contact(customer, contact_id=first.contact_id)
        sentinel = contact(customer)
        for event in (first, first, same_contact_new_event, sentinel):
            await producer.send_and_wait(
                "crm.contact-closed.v1", event.model_dump_json().encode(), key=customer.encode()
            )

        async def requests_for_customer() -> list[dict[str, object]]:
            found = [
                json.loads(r.value)
                for r in await read_all(kafka, SURVEY_REQUESTED.name)
                if r.key == customer.encode()
            ]
            return found if any(m["contact_id"] == sentinel.contact_id for m in found) else []

        requests = await wait_until(requests_for_customer, what="the sentinel's request")
    finally:
        await runtime.stop()
    assert sorted(m["contact_id"] for m in requests) == sorted(
        [first.contact_id, sentinel.contact_id]
    )
