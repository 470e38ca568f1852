"""PALAUTE_SMS_PROVIDER=46elks, end to end: every service its own process on the real broker,
the sandbox speaking 46elks's documented API (form-encoded /a1/sms, Basic auth, no
idempotency key) and calling back as 46elks does (form-encoded, Basic auth from the webhook's
URL). Invitation, delivery report, a reply with a score, STOP, erasure; webhooks without the right
credentials are refused and change nothing, a replayed report changes nothing; the
documented incoming-SMS example is taken as 46elks sends it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from palaute_collector.tables import invitations as collector_invitations
from palaute_dispatcher.tables import invitations
from palaute_schemas import (
    CONTACT_CLOSED,
    ERASURE_REQUESTED,
    ErasureRequested,
    recipient_ref,
)
from palaute_stack.stack import LOCAL_ELKS_WEBHOOK_SECRET, LocalStack
from tests.conftest import publish, wait_until
from tests.e2e.conftest import (
    contact,
    e164,
    erasure_completed,
    first_row,
    mobile,
    reply_stop_and_wait,
    stack_of_its_own,
)

pytestmark = pytest.mark.e2e

WEBHOOK = httpx.BasicAuth("elks", LOCAL_ELKS_WEBHOOK_SECRET)


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with stack_of_its_own(
        tmp_path_factory.mktemp("46elks"),
        sms_provider="46elks",
        frequency_cap_days=0,
        sandbox_receipt_delay_seconds=0.1,
    ) as running:
        yield running


async def test_an_invitation_goes_through_46elks_and_its_delivery_report_is_taken(
    stack: LocalStack,
) -> None:
    phone = e164(mobile())
    survey = contact(phone=phone)
    await publish(stack.options.kafka_bootstrap, CONTACT_CLOSED, [survey])

    async def delivered() -> Any:
        row = await first_row(
            stack.dispatcher_settings.database_url,
            sa.select(invitations).where(invitations.c.contact_id == survey.contact_id),
        )
        return row if row is not None and row.delivery == "delivered" else None

    row = await wait_until(delivered, within=30, what="46elks's delivery report")
    async with httpx.AsyncClient() as client:
        sms = (await client.get(f"{stack.sandbox_url}/sandbox/messages")).json()["sms"]
        (message,) = [m for m in sms if m["to"] == phone]
        assert message["id"] == row.partner_message_id
        assert message["id"].startswith("s")
        url = f"{stack.http_urls['dispatcher']}/partner/46elks/delivery"
        report = {"id": message["id"], "status": "failed"}
        replay = await client.post(url, data=report, auth=WEBHOOK)
        unauthenticated = await client.post(url, data=report)
        wrong = await client.post(url, data=report, auth=httpx.BasicAuth("elks", "guess"))
    assert replay.json() == {"status": "unchanged"}
    assert [unauthenticated.status_code, wrong.status_code] == [401, 401]
    again = await first_row(
        stack.dispatcher_settings.database_url,
        sa.select(invitations.c.delivery).where(invitations.c.id == row.id),
    )
    assert again.delivery == "delivered"


async def test_a_reply_and_stop_come_through_46elks_and_the_documented_example_is_taken(
    stack: LocalStack,
) -> None:
    phone = e164(mobile())
    await publish(stack.options.kafka_bootstrap, CONTACT_CLOSED, [contact(phone=phone)])
    ref = recipient_ref(stack.collector_settings.recipient_pepper, phone)

    async def known() -> Any:
        return await first_row(
            stack.collector_settings.database_url,
            sa.select(collector_invitations.c.answered).where(
                collector_invitations.c.recipient_ref == ref
            ),
        )

    await wait_until(known, within=30, what="the collector to know the invitation")
    inbound = f"{stack.collector_url}/partner/46elks/inbound"
    async with httpx.AsyncClient() as client:
        score = await client.post(
            f"{stack.sandbox_url}/sandbox/inbound-sms", json={"from": phone, "text": "9"}
        )
        assert score.status_code == 204, score.text
        assert score.content == b"", "46elks would send a body back to the customer"
        # 46elks's documented example payload, as it posts it.
        example = (
            "direction=incoming&id=sf8425555e5d8db61dda7a7b3f1b91bdb&from=%2B46706861004&"
            "to=%2B46706860000&created=2018-07-13T13%3A57%3A23.741000&"
            "message=Hello%20how%20are%20you%3F"
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        documented = await client.post(inbound, content=example, headers=headers, auth=WEBHOOK)
        refused = await client.post(inbound, content=example, headers=headers)
        garbled = await client.post(inbound, content=b"\xff\xfe=%", headers=headers, auth=WEBHOOK)
        # From an operator's alphanumeric id: taken and ignored (a 4xx would make 46elks
        # post it again for hours).
        no_number = example.replace("from=%2B46706861004", "from=Operaattori")
        ignored = await client.post(inbound, content=no_number, headers=headers, auth=WEBHOOK)
    assert ignored.status_code == 204
    assert documented.status_code == 204
    assert refused.status_code == 401
    assert garbled.status_code == 400, "not a form: a clear 4xx, never a 5xx"

    async def answered() -> bool:
        row = await known()
        return bool(row and row.answered)

    await wait_until(answered, within=20, what="the SMS answer to be recorded")
    stop = await reply_stop_and_wait(stack, phone)
    assert stop.status_code == 204


async def test_an_erasure_says_46elks_was_not_asked_and_removes_the_invitation(
    stack: LocalStack,
) -> None:
    phone = e164(mobile())
    survey = contact(phone=phone)
    await publish(stack.options.kafka_bootstrap, CONTACT_CLOSED, [survey])
    mine = sa.select(invitations.c.id).where(invitations.c.contact_id == survey.contact_id)

    async def sent() -> Any:
        return await first_row(stack.dispatcher_settings.database_url, mine)

    await wait_until(sent, within=30, what="the invitation")
    erasure = ErasureRequested(request_id=uuid.uuid4(), phone=phone)
    await publish(stack.options.kafka_bootstrap, ERASURE_REQUESTED, [erasure])

    done = await erasure_completed(stack, erasure.request_id)
    assert done.partner_deleted is None, "46elks has no deletion API: not asked, and said so"
    assert done.processors["46elks"].startswith("not asked: 46elks documents no deletion API")
    assert done.processors["email relay"].startswith("not asked: SMTP has no deletion")
    assert await first_row(stack.dispatcher_settings.database_url, mine) is None
