"""The real release rules on the whole stack, with consent's clock moved to a Tuesday just
before nine: a contact closed early that morning waits for the window, then goes out."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from palaute_consent.tables import plans
from palaute_runtime.database import as_utc, create_engine
from palaute_runtime.topic_reader import read_records
from palaute_schemas import CONTACT_CLOSED, SURVEY_SUPPRESSED, ContactClosed
from palaute_stack.stack import LocalStack, StackOptions
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e

HELSINKI = ZoneInfo("Europe/Helsinki")
CLOCK_START = datetime(2026, 11, 24, 8, 59, 45, tzinfo=HELSINKI)  # a Tuesday, no holiday
REAL_RULES: dict[str, Any] = {
    "release_delay_minutes": 60,
    "send_window_weekdays": "09:00-20:00",
    "send_window_saturday": "10:00-18:00",
    "send_window_sunday": "",
    "send_on_public_holidays": False,
    "clock_start": CLOCK_START.isoformat(),
}


@pytest.fixture
async def real_rules_stack(tmp_path: Path) -> AsyncIterator[LocalStack]:
    stack = LocalStack(
        StackOptions.ephemeral(
            tmp_path,
            extra_settings=REAL_RULES,
        )
    )
    await stack.start()
    yield stack
    await stack.stop()


def contact(closed_at: datetime, phone: str) -> ContactClosed:
    return ContactClosed(
        contact_id=f"T-{uuid.uuid4().hex[:10]}",
        customer_id=f"C-{uuid.uuid4().hex[:10]}",
        contact_channel="branch",
        language="fi",
        unit="Kotka",
        closed_at=closed_at,
        phone=phone,
    )


async def test_the_real_rules_hold_a_survey_until_the_window_and_drop_stale_contacts(
    real_rules_stack: LocalStack,
) -> None:
    stack = real_rules_stack
    assert "09:00-20:00" in stack.release_rules_note()
    early = contact(CLOCK_START.replace(hour=7, minute=30), "0401230001")
    stale = contact(CLOCK_START - timedelta(days=10), "0401230003")
    producer = AIOKafkaProducer(bootstrap_servers=stack.options.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for event in (early, stale):
            await producer.send_and_wait(
                CONTACT_CLOSED.name,
                event.model_dump_json().encode(),
                key=event.customer_id.encode(),
            )
    finally:
        await producer.stop()
    consent_db = create_engine(stack.consent_settings.database_url)
    try:

        async def planned() -> datetime | None:
            async with consent_db.connect() as connection:
                release_at = await connection.scalar(
                    sa.select(plans.c.release_at).where(plans.c.contact_id == early.contact_id)
                )
            return as_utc(release_at) if release_at is not None else None

        # 07:30 + 1 h is before the window: the plan waits for nine, on consent's clock.
        release_at = await wait_until(planned, what="consent's plan for the early contact")
    finally:
        await consent_db.dispose()
    assert release_at == CLOCK_START.replace(hour=9, minute=0, second=0)
    async with httpx.AsyncClient() as client:

        async def sent_at_nine() -> list[dict[str, Any]]:
            received = (await client.get(f"{stack.sandbox_url}/sandbox/messages")).json()
            return [m for m in received["sms"] if m["to"] == "+358401230001"]

        await wait_until(sent_at_nine, within=45, what="the release when the window opens")
        received = (await client.get(f"{stack.sandbox_url}/sandbox/messages")).json()
    assert len(received["sms"]) == 1, "the stale contact got nothing"
    reasons = {}
    async for record in read_records(
        stack.options.kafka_bootstrap, [SURVEY_SUPPRESSED.name], idle_timeout=2.0
    ):
        value = json.loads(record.value or b"{}")
        reasons[value["contact_id"]] = value["reason"]
    assert reasons == {stale.contact_id: "stale"}
