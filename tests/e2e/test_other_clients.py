"""A CRM and a BI tool that do not use Python's aiokafka: confluent-kafka (librdkafka, the
client family that Java-, Go- and .NET-based integrations resemble) publishes contacts and
reads the figures from the local stack, with a consumer group; and the README's two BI
readers, run as the README writes them."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

from palaute_schemas import CONTACT_CLOSED, FIGURES_PUBLISHED
from tests.conftest import wait_until
from tests.e2e.conftest import Pipeline, contact, e164, mobile


def produce(bootstrap: str, contacts: list[Any]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for event in contacts:
        producer.produce(
            CONTACT_CLOSED.name, value=event.model_dump_json().encode(), key=event.customer_id
        )
    assert producer.flush(30) == 0, "every contact delivered to the broker"


def read_cell(bootstrap: str, day: date, channel: str, within: float) -> dict[str, Any]:
    """Read survey.figures.v1 as BI would, in a group, until the day's cell of a contact
    channel shows up with five answers."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bi-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            # librdkafka's default session is 45 s, and the local broker holds a joining
            # member for half the session: 22 s before the first record.
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([FIGURES_PUBLISHED.name])
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            cell = json.loads(message.value())
            key = (cell["grain"], cell["period"], cell["dimension"], cell["value"])
            if key == ("day", day.isoformat(), "contact_channel", channel) and (
                cell["responses"] == 5
            ):
                return dict(cell)
    finally:
        consumer.close()
    raise AssertionError(f"no figure of {day}|{channel} with 5 responses in {within:g} s")


async def test_confluent_kafka_publishes_contacts_and_reads_the_figures(
    pipeline: Pipeline,
) -> None:
    day = date(2026, 4, 7)
    phones = [mobile() for _ in range(5)]
    contacts = [contact(day=day, contact_channel="chat", phone=phone) for phone in phones]
    await asyncio.to_thread(produce, pipeline.stack.options.kafka_bootstrap, contacts)
    for phone, reply in zip(phones, ("10", "9", "9", "7", "3"), strict=True):
        await pipeline.messages_to(e164(phone))
        assert (await pipeline.reply_sms(e164(phone), reply))["status"] == "recorded"
    cell = await asyncio.to_thread(
        read_cell, pipeline.stack.options.kafka_bootstrap, day, "chat", 60.0
    )
    assert (cell["promoters"], cell["passives"], cell["detractors"]) == (3, 1, 1)


def readme_function(name: str) -> Any:
    """A function as the BI guide (docs/figures.md) writes it: its Python block, run as it
    stands."""
    readme = (Path(__file__).parents[2] / "docs" / "figures.md").read_text(encoding="utf-8")
    (block,) = [
        code for code in re.findall(r"```python\n(.*?)```", readme, re.S) if f"def {name}(" in code
    ]
    scope: dict[str, Any] = {}
    exec(compile(block, f"docs/figures.md:{name}", "exec"), scope)  # noqa: S102 (our own docs)
    return scope[name]


async def test_the_readmes_bi_readers_read_the_figures_topic_to_its_end(
    pipeline: Pipeline,
) -> None:
    """aiokafka and confluent-kafka, as the README shows them: each reads every cell's newest
    revision, as many as the topic holds, however many fetches that takes."""
    day = date(2026, 4, 8)
    phones = [mobile() for _ in range(5)]
    for phone in phones:
        await pipeline.publish(contact(day=day, contact_channel="web_form", phone=phone))
    for phone in phones:
        await pipeline.messages_to(e164(phone))
        assert (await pipeline.reply_sms(e164(phone), "8"))["status"] == "recorded"

    async def published() -> dict[str, dict[str, Any]] | None:
        newest: dict[str, dict[str, Any]] = {}
        for record in await pipeline.records(FIGURES_PUBLISHED.name):
            cell = record["value"]
            if record["key"] not in newest or cell["revision"] > newest[record["key"]]["revision"]:
                newest[record["key"]] = cell
        return newest if f"day|{day}|contact_channel|web_form" in newest else None

    expected = await wait_until(published, within=60, what="the day's figures")
    bootstrap = pipeline.stack.options.kafka_bootstrap
    by_aiokafka = await readme_function("newest_figures")(bootstrap)
    by_confluent = await asyncio.to_thread(readme_function("newest_figures_confluent"), bootstrap)
    for read in (by_aiokafka, by_confluent):
        # Every cell published by then, each at its newest revision (or a newer one since).
        assert set(expected) <= set(read)
        assert all(read[key]["revision"] >= cell["revision"] for key, cell in expected.items())
        assert read[f"day|{day}|contact_channel|web_form"]["passives"] == 5
