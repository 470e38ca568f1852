"""The funnel by contact day and survey channel, on SQLite and PostgreSQL: sent, delivered or
undelivered from the partner's receipts, pages opened, answered and the response rate; the
counts derived from answers only from the minimum group size on."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from palaute_collector import tables
from palaute_collector.service import CollectorService
from palaute_schemas import DeliveryStatusChanged, InvitationSent, token_hash
from tests.integration.conftest import collector_on

DAY = date(2026, 2, 20)


@pytest.fixture
async def collector(database_url: str) -> AsyncIterator[CollectorService]:
    async with collector_on(database_url, min_group_size=5) as service:
        yield service


def invitation(channel: str) -> InvitationSent:
    return InvitationSent(
        invitation_id=uuid.uuid4(),
        channel=channel,
        language="sv",
        contact_channel="chat",
        unit="Vasa",
        contact_day=DAY,
        anonymous=False,
        customer_id="C-funnel",
        token_hashes=[token_hash(uuid.uuid4().hex)] if channel == "email" else [],
        recipient_ref=uuid.uuid4().hex if channel == "sms" else None,
        expires_at=datetime.now(UTC) + timedelta(days=14),
    )


def receipt(sent: InvitationSent, status: str) -> DeliveryStatusChanged:
    return DeliveryStatusChanged(
        invitation_id=sent.invitation_id,
        channel="sms",
        language="sv",
        contact_channel="chat",
        unit="Vasa",
        contact_day=DAY,
        status=status,
        reported_at=datetime.now(UTC),
    )


async def published(collector: CollectorService) -> dict[str, dict[str, Any]]:
    async with collector.engine.connect() as connection:
        payloads = await connection.scalars(
            sa.select(tables.outbox.c.payload)
            .where(tables.outbox.c.topic == "survey.funnel.v1")
            .order_by(tables.outbox.c.id)
        )
        return {json.loads(p)["channel"]: json.loads(p) for p in payloads}


async def test_the_funnel_counts_each_step_once_and_hides_small_answer_counts(
    collector: CollectorService,
) -> None:
    emails = [invitation("email") for _ in range(6)]
    texts = [invitation("sms") for _ in range(2)]
    await collector.handle_invitations_sent([*emails, *texts])
    delivered = receipt(texts[0], "delivered")
    await collector.handle_delivery_statuses([delivered, receipt(texts[1], "undelivered")])
    await collector.handle_delivery_statuses([delivered])  # a replay counts once
    for one in emails[:5]:
        await collector.mark_opened(one.invitation_id)
        await collector.mark_opened(one.invitation_id)  # opened again: once
        assert await collector.answer(one.invitation_id, 8, "")
    assert await collector.answer(texts[0].invitation_id, 9, "")
    assert await collector.publish_funnel() == 2
    assert await collector.publish_funnel() == 0, "nothing changed since"
    figures = await published(collector)
    email, sms = figures["email"], figures["sms"]
    assert (email["sent"], email["opened"], email["answered"], email["response_rate"]) == (
        6,
        5,
        5,
        83.3,
    )
    assert (sms["sent"], sms["delivered"], sms["undelivered"]) == (2, 1, 1)
    assert (sms["answered"], sms["response_rate"]) == (None, None), "one answer is not shown"
