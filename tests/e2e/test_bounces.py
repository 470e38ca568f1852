"""Email bounces as real systems carry them: every service its own process on the real broker,
the sandbox's relay accepting each email and then sending an RFC 3464 DSN to the message's
VERP return path, filed in a real IMAP mailbox (Dovecot, over TLS with a login), which the
dispatcher reads. A hard bounce makes the invitation undelivered (the funnel counts it) and
keeps the address from the next survey; soft bounces do after two in a row; a warning
changes nothing; a forged bounce is left for a person. No service keeps the address for it.
"""

from __future__ import annotations

import imaplib
import ssl
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from palaute_collector.tables import funnel_cells
from palaute_consent.tables import bounced_addresses, decisions
from palaute_dispatcher.tables import invitations
from palaute_runtime.database import create_engine
from palaute_sandbox.bounces import dsn, simulated
from palaute_schemas import (
    CONTACT_CLOSED,
    ERASURE_REQUESTED,
    ContactClosed,
    ErasureRequested,
)
from palaute_stack.stack import LocalStack, StackOptions
from tests.conftest import publish, wait_until
from tests.e2e.conftest import contact, e164, erasure_completed, mobile
from tests.mailbox import Mailbox, dovecot

pytestmark = pytest.mark.e2e

BOUNCE_ADDRESS = "bounces@palaute.example"


@pytest.fixture(scope="module")
async def mailbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mailbox]:
    with dovecot(tmp_path_factory.mktemp("dovecot")) as running:
        yield running


@pytest.fixture(scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox
) -> AsyncIterator[LocalStack]:
    imap = {
        "host": mailbox.host,
        "port": mailbox.imaps_port,
        "username": mailbox.username,
        "password": mailbox.password,
        "ca_file": str(mailbox.certificates.ca),
    }
    running = LocalStack(
        StackOptions.ephemeral(
            tmp_path_factory.mktemp("stack"),
            extra_settings={
                "frequency_cap_days": 0,  # the same person is surveyed again at once here
                "bounce_address": BOUNCE_ADDRESS,
                "bounce_secret": "2:bounce-key-now,1:bounce-key-before",
                **{f"bounce_imap_{name}": value for name, value in imap.items()},
                "bounce_imap_security": "tls",
                "bounce_poll_seconds": 0.3,
                "soft_bounces_to_suppress": 2,
                **{f"sandbox_bounce_imap_{name}": value for name, value in imap.items()},
                "sandbox_bounce_delay_seconds": 0.1,
            },
        )
    )
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def rows(url: str, query: Any) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(query)).all())
    finally:
        await engine.dispose()


async def outcome(stack: LocalStack, survey: ContactClosed) -> str | None:
    """Consent's decision for a contact (a channel, or a suppression reason)."""
    found = await rows(
        stack.consent_settings.database_url,
        sa.select(decisions.c.outcome).where(decisions.c.contact_id == survey.contact_id),
    )
    return found[0][0] if found and found[0][0] != "planned" else None


async def invitation_of(stack: LocalStack, survey: ContactClosed) -> Any:
    found = await rows(
        stack.dispatcher_settings.database_url,
        sa.select(invitations).where(invitations.c.contact_id == survey.contact_id),
    )
    return found[0] if found else None


async def surveyed(stack: LocalStack, survey: ContactClosed) -> str:
    """Publish one contact and wait for consent's decision."""
    await publish(stack.options.kafka_bootstrap, CONTACT_CLOSED, [survey])

    async def decided() -> str | None:
        return await outcome(stack, survey)

    return await wait_until(decided, within=30, what=f"the decision on {survey.contact_id}")


async def bounced(stack: LocalStack, survey: ContactClosed) -> Any:
    """Wait until the dispatcher has read the bounce of this contact's invitation."""

    async def undelivered() -> Any:
        row = await invitation_of(stack, survey)
        return row if row is not None and row.delivery == "undelivered" else None

    return await wait_until(undelivered, within=30, what="the bounce to be read")


def imap_session(mailbox: Mailbox) -> imaplib.IMAP4_SSL:
    context = ssl.create_default_context(cafile=str(mailbox.certificates.ca))
    imap = imaplib.IMAP4_SSL(mailbox.host, mailbox.imaps_port, ssl_context=context)
    imap.login(mailbox.username, mailbox.password)
    imap.select("INBOX")
    return imap


def in_mailbox(mailbox: Mailbox, text: str) -> list[bool]:
    """The messages in the bounce mailbox that contain `text`: whether each was seen."""
    imap = imap_session(mailbox)
    try:
        found = []
        for uid in (imap.uid("SEARCH", "ALL")[1][0] or b"").split():
            _, data = imap.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
            head, raw = next(item for item in data if isinstance(item, tuple))
            if text.encode() in raw:
                found.append(b"\\Seen" in head)
        return found
    finally:
        imap.logout()


async def test_a_hard_bounce_read_from_the_mailbox_makes_the_address_undeliverable(
    stack: LocalStack, mailbox: Mailbox
) -> None:
    address = f"bounce-{uuid.uuid4().hex[:8]}@example.fi"
    first = contact(email=address)
    assert await surveyed(stack, first) == "email"
    row = await bounced(stack, first)
    assert row.delivery_reason.startswith("hard bounce 5.1.1: 550 5.1.1 <address>:")
    assert address not in row.delivery_reason
    # The message left with its own return path (VERP), not the From address.
    async with httpx.AsyncClient() as client:
        sent = (await client.get(f"{stack.sandbox_url}/sandbox/messages")).json()["email"]
    (message,) = [m for m in sent if address in m["to"]]
    assert message["from"].startswith("bounces+")
    assert message["from"].endswith("@palaute.example")
    assert row.id.hex in message["from"]

    # The funnel counts it; consent keeps a keyed hash of the address only.
    async def counted() -> bool:
        cells = await rows(
            stack.collector_settings.database_url,
            sa.select(funnel_cells.c.undelivered).where(funnel_cells.c.channel == "email"),
        )
        return sum(cell[0] for cell in cells) >= 1

    await wait_until(counted, within=20, what="the funnel to count the bounce")

    async def listed() -> list[Any]:
        return await rows(
            stack.consent_settings.database_url,
            sa.select(bounced_addresses).where(bounced_addresses.c.hard),
        )

    (entry,) = await wait_until(listed, within=20, what="consent's suppression list")
    assert entry.status == "5.1.1"
    assert entry.suppressed_until is not None
    assert address not in str(tuple(entry))

    # The next survey to the address alone is suppressed; one with a mobile goes by SMS.
    assert await surveyed(stack, contact(email=address)) == "undeliverable_address"
    number = mobile()
    assert await surveyed(stack, contact(email=address, phone=number)) == "sms"

    # The DSN was deleted once recorded: the mailbox holds nothing about the address.
    assert in_mailbox(mailbox, address) == []

    async def texted() -> bool:
        async with httpx.AsyncClient() as client:
            sms = (await client.get(f"{stack.sandbox_url}/sandbox/messages")).json()["sms"]
        return any(m["to"] == e164(number) for m in sms)

    await wait_until(texted, within=20, what="the SMS to the contact's mobile")


async def test_soft_bounces_suppress_after_two_in_a_row_and_a_warning_changes_nothing(
    stack: LocalStack, mailbox: Mailbox
) -> None:
    full = f"full-{uuid.uuid4().hex[:8]}@example.fi"
    once = contact(email=full)
    assert await surveyed(stack, once) == "email"
    assert (await bounced(stack, once)).delivery_reason.startswith("soft bounce 4.2.2")
    twice = contact(email=full)
    assert await surveyed(stack, twice) == "email"  # one soft bounce does not suppress
    await bounced(stack, twice)

    async def suppressed() -> bool:
        return await surveyed(stack, contact(email=full)) == "undeliverable_address"

    await wait_until(suppressed, within=20, what="two soft bounces to suppress the address")

    # A delay warning is read and deleted, and the invitation stays as it was.
    delayed = contact(email=f"delayed-{uuid.uuid4().hex[:8]}@example.fi")
    assert await surveyed(stack, delayed) == "email"

    async def warned() -> bool:
        async with httpx.AsyncClient() as client:
            counts = (await client.get(f"{stack.sandbox_url}/sandbox/stats")).json()
        return bool(counts["bounces"].get("delayed 4.4.1")) and not in_mailbox(
            mailbox, delayed.email or "?"
        )

    await wait_until(warned, within=30, what="the warning to be read and deleted")
    assert (await invitation_of(stack, delayed)).delivery is None


async def test_a_forged_bounce_is_left_for_a_person_and_changes_nothing(
    stack: LocalStack, mailbox: Mailbox
) -> None:
    target = contact(email=f"someone-{uuid.uuid4().hex[:8]}@example.fi")
    assert await surveyed(stack, target) == "email"

    async def sent() -> Any:
        row = await invitation_of(stack, target)
        return row if row is not None and row.status == "sent" else None

    row = await wait_until(sent, within=30, what="the invitation to be sent")
    # Someone who knows the invitation id but not the key files a DSN for it.
    forged_path = f"bounces+{row.id.hex}-{'0' * 16}@palaute.example"
    outcome_ = simulated("bounce@example.fi")
    assert outcome_ is not None
    reply = f"Subject: Out of office {row.id}\r\n\r\nBack on Monday.\r\n".encode()
    imap = imap_session(mailbox)
    imap.append("INBOX", None, None, dsn(forged_path, target.email or "", outcome_, b""))
    imap.append("INBOX", None, None, reply)
    imap.logout()

    async def looked_at() -> bool:
        return in_mailbox(mailbox, row.id.hex) == [True] and in_mailbox(mailbox, str(row.id)) == [
            True
        ]

    await wait_until(looked_at, within=20, what="the dispatcher to look at both and keep them")
    assert (await invitation_of(stack, target)).delivery is None

    # The person is erased: the DSN left for a person names their address, and goes too.
    assert in_mailbox(mailbox, target.email or "") == [True]
    erasure = ErasureRequested(request_id=uuid.uuid4(), email=target.email)
    await publish(stack.options.kafka_bootstrap, ERASURE_REQUESTED, [erasure])

    done = await erasure_completed(stack, erasure.request_id)
    assert done.processors["bounce mailbox"] == "deleted"
    assert done.processors["email relay"].startswith("not asked")
    assert in_mailbox(mailbox, target.email or "") == [], "no message names the person"
    assert in_mailbox(mailbox, str(row.id)) == [True], "the auto-reply, which does not, stays"
