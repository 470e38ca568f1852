"""PALAUTE_SMS_PROVIDER=twilio, end to end: every service its own process on the real broker,
the sandbox speaking Twilio's documented API (form-encoded Messages resource, Basic auth, no
idempotency key) and calling back as Twilio does (form-encoded, signed in
X-Twilio-Signature). Invitation, status callback, a reply with a score, STOP, erasure (each
message deleted at Twilio); an unsigned or wrongly signed callback changes nothing, a
replayed one changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from palaute_consent.tables import decisions
from palaute_dispatcher.tables import invitations
from palaute_runtime.twilio import SIGNATURE_HEADER, signature
from palaute_schemas import CONTACT_CLOSED, ERASURE_REQUESTED, ErasureRequested
from palaute_stack.stack import LOCAL_TWILIO_TOKEN, LocalStack
from tests.conftest import publish, wait_until
from tests.e2e.conftest import (
    contact,
    e164,
    first_row,
    mobile,
    reply_stop_and_wait,
    stack_of_its_own,
    wait_for_sms_answer,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with stack_of_its_own(
        tmp_path_factory.mktemp("twilio"),
        sms_provider="twilio",
        frequency_cap_days=0,
        sandbox_receipt_delay_seconds=0.1,
        # Every status callback comes before Twilio's answer to the send (Twilio may do so,
        # and calls once): the dispatcher must keep it until it has stored the sid.
        sandbox_twilio_callback_first=1.0,
    ) as running:
        yield running


async def sandbox_sms(stack: LocalStack, to: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        received = (await client.get(f"{stack.sandbox_url}/sandbox/messages")).json()
    return [m for m in received["sms"] if m["to"] == to]


async def surveyed_by_sms(stack: LocalStack) -> tuple[str, Any]:
    """A contact surveyed by SMS through Twilio, once its status callback said delivered."""
    phone = e164(mobile())
    survey = contact(phone=phone)
    await publish(stack.options.kafka_bootstrap, CONTACT_CLOSED, [survey])

    async def delivered() -> Any:
        row = await first_row(
            stack.dispatcher_settings.database_url,
            sa.select(invitations).where(invitations.c.contact_id == survey.contact_id),
        )
        return row if row is not None and row.delivery == "delivered" else None

    return phone, await wait_until(delivered, within=30, what="Twilio's status callback")


async def test_an_invitation_goes_through_twilio_and_its_status_callback_is_taken(
    stack: LocalStack,
) -> None:
    phone, row = await surveyed_by_sms(stack)
    (message,) = await sandbox_sms(stack, phone)
    assert message["id"] == row.partner_message_id
    assert message["id"].startswith("SM")
    assert message["from"] == stack.dispatcher_settings.sms_sender
    assert "0-10" in message["text"]

    # The callback again, signed: changes nothing. Unsigned or signed with another token: 403.
    url = stack.dispatcher_settings.twilio_status_callback_url
    form = {"MessageSid": message["id"], "MessageStatus": "undelivered", "ErrorCode": "30003"}
    async with httpx.AsyncClient() as client:
        signed = {SIGNATURE_HEADER: signature(LOCAL_TWILIO_TOKEN, url, form.items())}
        replay = await client.post(url, data=form, headers=signed)
        unsigned = await client.post(url, data=form)
        forged = await client.post(
            url, data=form, headers={SIGNATURE_HEADER: signature("guess", url, form.items())}
        )
        tampered = await client.post(url, data=form | {"ErrorCode": "30004"}, headers=signed)
        garbled = await client.post(url, content=b"\xff\xfe=%", headers=signed)
    assert replay.json() == {"status": "unchanged"}
    assert [unsigned.status_code, forged.status_code, tampered.status_code] == [403, 403, 403]
    assert garbled.status_code == 400, "not a form: a clear 4xx, never a 5xx"
    again = await first_row(
        stack.dispatcher_settings.database_url,
        sa.select(invitations.c.delivery).where(invitations.c.id == row.id),
    )
    assert again.delivery == "delivered"


async def test_a_reply_with_a_score_and_stop_come_through_twilios_webhook(
    stack: LocalStack,
) -> None:
    phone, _ = await surveyed_by_sms(stack)
    async with httpx.AsyncClient() as client:
        reply = await client.post(
            f"{stack.sandbox_url}/sandbox/inbound-sms", json={"from": phone, "text": "9"}
        )
        assert reply.status_code == 200, reply.text
        assert reply.text.endswith("<Response></Response>")  # TwiML: nothing sent back
        unsigned = await client.post(
            stack.collector_settings.twilio_inbound_url, data={"From": phone, "Body": "STOP"}
        )
        assert unsigned.status_code == 403
    await wait_for_sms_answer(stack, phone)

    # STOP: the number is opted out of the next survey.
    assert (await reply_stop_and_wait(stack, phone)).status_code == 200
    later = contact(phone=phone)
    await publish(stack.options.kafka_bootstrap, CONTACT_CLOSED, [later])

    async def decided() -> str | None:
        row = await first_row(
            stack.consent_settings.database_url,
            sa.select(decisions.c.outcome).where(decisions.c.contact_id == later.contact_id),
        )
        return row.outcome if row is not None else None

    assert await wait_until(decided, within=30, what="the next contact's decision") == "opted_out"


async def test_an_erasure_deletes_every_message_to_the_number_at_twilio(
    stack: LocalStack,
) -> None:
    phone, _ = await surveyed_by_sms(stack)
    assert len(await sandbox_sms(stack, phone)) == 1
    erasure = ErasureRequested(request_id=uuid.uuid4(), customer_id=None, phone=phone, email=None)
    await publish(stack.options.kafka_bootstrap, ERASURE_REQUESTED, [erasure])

    async def gone() -> bool:
        return await sandbox_sms(stack, phone) == []

    await wait_until(gone, within=30, what="Twilio's messages to the number to be deleted")
