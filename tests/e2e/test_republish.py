"""Kafka loses the figures and funnel topics: they are recreated empty, `palaute-collector
republish` (its own process) puts every cell of the collector's database on its outbox, the
running collector publishes them, and the README's BI reader reads the same figures as
before. On a stack of its own: the topics of the shared one stay."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from palaute_runtime.local_broker import create_topics, palaute_topics
from palaute_runtime.topic_reader import read_records
from palaute_schemas import CONTACT_CLOSED, FIGURES_PUBLISHED, FUNNEL_PUBLISHED
from palaute_stack.stack import LocalStack
from tests.conftest import publish, wait_until
from tests.e2e.conftest import EVERY_BREAKDOWN_TEXT, contact, e164, mobile, stack_of_its_own
from tests.e2e.test_other_clients import readme_function

pytestmark = pytest.mark.e2e

LOST = (FIGURES_PUBLISHED.name, FUNNEL_PUBLISHED.name)


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with stack_of_its_own(
        tmp_path_factory.mktemp("republish"),
        frequency_cap_days=0,
        funnel_publish_seconds=1,
        figures_breakdowns=EVERY_BREAKDOWN_TEXT,
    ) as running:
        yield running


async def newest(stack: LocalStack, topic: str) -> dict[str, dict[str, Any]]:
    """Each key's newest record on a topic."""
    found: dict[str, dict[str, Any]] = {}
    async for record in read_records(stack.options.kafka_bootstrap, [topic], until_end=True):
        found[(record.key or b"").decode()] = dict(json.loads(record.value or b""))
    return found


async def test_figures_and_funnel_lost_on_kafka_are_republished_from_the_collector(
    stack: LocalStack,
) -> None:
    phones = [mobile() for _ in range(5)]
    await publish(
        stack.options.kafka_bootstrap,
        CONTACT_CLOSED,
        [contact(contact_channel="web_form", phone=phone) for phone in phones],
    )
    async with httpx.AsyncClient() as client:

        async def all_sent() -> bool:
            got = (await client.get(f"{stack.sandbox_url}/sandbox/messages")).json()
            return {m["to"] for m in got["sms"]} >= {e164(p) for p in phones}

        await wait_until(all_sent, within=60, what="five invitations sent")
        for phone in phones:
            reply = await client.post(
                f"{stack.sandbox_url}/sandbox/inbound-sms", json={"from": e164(phone), "text": "8"}
            )
            assert reply.status_code == 200, reply.text

    async def figures_out() -> dict[str, dict[str, Any]] | None:
        found = await readme_function("newest_figures")(stack.options.kafka_bootstrap)
        days = [
            cell
            for key, cell in found.items()
            if key.startswith("day|") and key.endswith("|contact_channel|web_form")
        ]
        return found if any(cell["passives"] == 5 for cell in days) else None

    before = await wait_until(figures_out, within=60, what="the day's figures")

    async def funnel_out() -> dict[str, dict[str, Any]] | None:
        found = await newest(stack, FUNNEL_PUBLISHED.name)
        return found if any(cell.get("answered") == 5 for cell in found.values()) else None

    funnel_before = await wait_until(funnel_out, within=30, what="the funnel's answers")

    # Kafka loses both topics; they are made again, empty.
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.options.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(LOST))
    finally:
        await admin.close()
    await create_topics(
        stack.options.kafka_bootstrap, [t for t in palaute_topics() if t.name in LOST]
    )
    assert await readme_function("newest_figures")(stack.options.kafka_bootstrap) == {}

    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "palaute_collector", "republish"],
        env=os.environ | {"PALAUTE_DATA_DIR": str(stack.options.data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("queued "), done.stdout

    async def republished() -> dict[str, dict[str, Any]] | None:
        found = await readme_function("newest_figures")(stack.options.kafka_bootstrap)
        return found if set(found) >= set(before) else None

    after = await wait_until(republished, within=60, what="the figures published again")
    assert {key: content(after[key]) for key in before} == {
        key: content(cell) for key, cell in before.items()
    }, "the same figures as before (each a record of its own)"
    funnel_after = await wait_until(
        lambda: _funnel_back(stack, funnel_before), within=60, what="the funnel again"
    )
    assert {key: content(cell) for key, cell in funnel_after.items()} == {
        key: content(cell) for key, cell in funnel_before.items()
    }


def content(record: dict[str, Any]) -> dict[str, Any]:
    """A record without its envelope (its own event id and time)."""
    return {k: v for k, v in record.items() if k not in ("event_id", "occurred_at")}


async def _funnel_back(
    stack: LocalStack, expected: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]] | None:
    found = await newest(stack, FUNNEL_PUBLISHED.name)
    return found if set(found) >= set(expected) else None
