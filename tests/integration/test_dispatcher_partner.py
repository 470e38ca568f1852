"""The dispatcher against the partner sandbox over real HTTP and SMTP."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from palaute_dispatcher import tables
from palaute_dispatcher.partner import HttpSmsPartner, Outgoing, PartnerError, SmtpEmailPartner
from palaute_dispatcher.service import DispatcherService
from palaute_dispatcher.settings import DispatcherSettings
from palaute_runtime.database import create_engine
from palaute_runtime.faults import DependencyUnavailable, is_infrastructure_fault
from palaute_runtime.local_broker import free_port
from palaute_runtime.migrations import migrate
from palaute_sandbox.server import PartnerSandbox
from palaute_schemas import (
    ErasureRequested,
    InvitationSent,
    SurveyRequested,
    SurveyWithdrawn,
    token_hash,
)
from palaute_stack.stack import LOCAL_RELEASE_RULES
from tests.conftest import queued, wait_until


@pytest.fixture
async def dispatcher(
    sandbox: PartnerSandbox, database_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[DispatcherService]:
    settings = DispatcherSettings(
        dispatcher_database_url=database_url,
        organization_name=getattr(request, "param", "Palaute"),
        partner_sms_url=sandbox.http.url,
        partner_smtp_port=sandbox.settings.sandbox_smtp_port,
        survey_origin="https://kysely.example.fi",
        **LOCAL_RELEASE_RULES,
    )
    engine = create_engine(settings.database_url)
    await migrate(engine, tables.MIGRATIONS)
    sms = HttpSmsPartner(settings.partner_sms_url, settings.partner_api_key, settings.sms_sender)
    email = SmtpEmailPartner("127.0.0.1", settings.partner_smtp_port, settings.email_sender)
    yield DispatcherService(engine, settings, {"sms": sms, "email": email}, processor=sms)
    await sms.close()
    await engine.dispose()


def request(channel: str, address: str, *, anonymous: bool = False) -> SurveyRequested:
    return SurveyRequested(
        contact_id=f"K-{uuid.uuid4().hex[:6]}",
        customer_id=None if anonymous else "C-1",
        channel=channel,
        address=address,
        language="sv",
        contact_channel="chat",  # type: ignore[arg-type]
        unit="Online",
        contact_day=date(2026, 11, 20),
        anonymous=anonymous,
    )


async def make_due_now(service: DispatcherService) -> None:
    async with service.engine.begin() as connection:
        await connection.execute(
            tables.invitations.update().values(next_attempt_at=datetime.now(UTC))
        )


async def sent_messages(service: DispatcherService) -> list[InvitationSent]:
    async with service.engine.connect() as connection:
        payloads = (await connection.execute(sa.select(tables.outbox.c.payload))).scalars()
        return [InvitationSent.model_validate_json(p) for p in payloads]


async def test_partner_outage_delays_but_never_drops_or_doubles_an_invitation(
    sandbox: PartnerSandbox, dispatcher: DispatcherService
) -> None:
    async with httpx.AsyncClient() as client:
        await client.post(f"{sandbox.http.url}/sandbox/faults", json={"fail_next": 2})
    survey = request("sms", "+358401234567")
    await dispatcher.handle_survey_requests([survey])
    await dispatcher.handle_survey_requests([survey])  # redelivered request: nothing new

    async def tried() -> bool:
        return await dispatcher.deliver_due() == 1

    # In real time: each failure waits out its backoff (Retry-After: 1 is its floor).
    for expected_attempts in (1, 2):
        await wait_until(tried, within=30, what=f"attempt {expected_attempts}")
        async with dispatcher.engine.connect() as connection:
            row = (await connection.execute(sa.select(tables.invitations))).one()
        assert (row.status, row.attempts) == ("pending", expected_attempts)
        assert row.next_attempt_at.replace(tzinfo=UTC) >= datetime.now(UTC) + timedelta(
            seconds=0.5
        ), "backing off, not hammering the partner"
        assert await dispatcher.deliver_due() == 0
    await wait_until(tried, within=30, what="the delivery after the outage")
    assert await dispatcher.deliver_due() == 0
    received = sandbox.recorder.snapshot()
    assert len(received["sms"]) == 1
    assert received["sms"][0]["to"] == "+358401234567"
    sent = await sent_messages(dispatcher)
    assert len(sent) == 1
    assert sent[0].recipient_ref
    assert sent[0].token_hashes == []


async def test_sms_partner_gets_only_address_text_and_sender(
    sandbox: PartnerSandbox, dispatcher: DispatcherService
) -> None:
    await dispatcher.handle_survey_requests([request("sms", "+358401112223")])
    await dispatcher.deliver_due()
    message = sandbox.recorder.snapshot()["sms"][0]
    assert message["extra"] == {}, "nothing beyond from, to and text"
    assert "C-1" not in str(message)
    assert "http" not in message["text"]
    assert message["from"] == "Palaute"


async def test_email_link_carries_a_token_whose_hash_reaches_the_collector(
    sandbox: PartnerSandbox, dispatcher: DispatcherService
) -> None:
    await dispatcher.handle_survey_requests([request("email", "asiakas@example.fi")])
    assert await dispatcher.deliver_due() == 1
    email = sandbox.recorder.snapshot()["email"][0]
    links = re.findall(r"https?://\S+", email["text"])
    assert len(links) == 3, "the survey, the privacy notice and the unsubscribe link"
    assert "/u/" in links[2]
    assert links[0].startswith("https://kysely.example.fi/s/")
    assert links[1] == "https://kysely.example.fi/privacy/default/sv"
    token = links[0].rsplit("/", 1)[1]
    sent = await sent_messages(dispatcher)
    assert sent[0].token_hashes == [token_hash(token)]
    assert email["to"] == ["asiakas@example.fi"]
    assert sent[0].recipient_ref is None
    assert token not in str(sent[0].model_dump()), "only the hash leaves the dispatcher"


async def test_an_email_is_a_proper_multipart_message_and_a_retry_is_the_same_message(
    sandbox: PartnerSandbox, dispatcher: DispatcherService
) -> None:
    # The relay is unreachable at first: the hand-over fails, the retry goes through.
    port = dispatcher.partners["email"]._port  # type: ignore[attr-defined]
    dispatcher.partners["email"]._port = free_port()  # type: ignore[attr-defined]
    await dispatcher.handle_survey_requests([request("email", "asiakas@example.fi")])
    assert await dispatcher.deliver_due() == 1
    async with dispatcher.engine.connect() as connection:
        first = (await connection.execute(sa.select(tables.invitations))).one()
    assert (first.status, first.attempts) == ("pending", 1)
    dispatcher.partners["email"]._port = port  # type: ignore[attr-defined]

    async def retried() -> bool:  # in real time: after its backoff
        return await dispatcher.deliver_due() == 1

    await wait_until(retried, within=30, what="the retry after the backoff")
    (email,) = sandbox.recorder.snapshot()["email"]
    headers = email["headers"]
    assert headers["Message-ID"] == f"<{first.id}@palaute.invalid>", "stable per invitation"
    assert headers["Content-Language"] == "sv"
    assert parsedate_to_datetime(headers["Date"]).tzinfo is not None
    link, notice, leave_in_text = re.findall(r"https?://\S+", email["text"])
    token = link.rsplit("/", 1)[1]
    *scale, notice_link, leave = re.findall(r'href="([^"]+)"', email["html"])
    assert notice_link == notice
    assert scale == [f"{link}?score={n}" for n in range(11)], "the same token in both parts"
    assert leave == leave_in_text == headers["List-Unsubscribe"].strip("<>")
    # As Gmail and Yahoo read it on the wire (RFC 8058): plain text, no RFC 2047 word, though
    # the URL is far longer than the 78 characters a line should keep to.
    assert len(leave) > 78
    raw = email["raw_headers"]
    assert raw["List-Unsubscribe"] == f"<{leave}>"
    assert raw["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    sent = await sent_messages(dispatcher)
    assert sent[0].token_hashes == [token_hash(token)], "one token for both attempts"


async def test_the_same_idempotency_key_delivers_once(sandbox: PartnerSandbox) -> None:
    sms = HttpSmsPartner(sandbox.http.url, "sandbox-key", "Palaute")
    email = SmtpEmailPartner("127.0.0.1", sandbox.settings.sandbox_smtp_port, "a@palaute.invalid")
    outgoing = Outgoing("+358401234567", "Kysely", "Vastaa 0-10", idempotency_key="inv-1")
    try:
        assert await sms.send(outgoing) == await sms.send(outgoing)
        await email.send(Outgoing("a@example.fi", "Kysely", "text", idempotency_key="inv-2"))
        await email.send(Outgoing("a@example.fi", "Kysely", "text", idempotency_key="inv-2"))
    finally:
        await sms.close()
    snapshot = sandbox.recorder.snapshot()
    assert (len(snapshot["sms"]), snapshot["replays"]["sms"]) == (1, 1)
    assert (len(snapshot["email"]), snapshot["replays"]["email"]) == (1, 1)


async def test_wrong_api_key_is_a_permanent_partner_error(sandbox: PartnerSandbox) -> None:
    sms = HttpSmsPartner(sandbox.http.url, "wrong", "Palaute")
    try:
        with pytest.raises(PartnerError) as caught:
            await sms.send(Outgoing("+358401234567", "", "t", idempotency_key="k"))
    finally:
        await sms.close()
    assert not caught.value.transient


@pytest.mark.parametrize("dispatcher", ["Kirjaudu Verkkopankkiin Oy"], indirect=True)
async def test_a_text_that_breaks_the_content_policy_is_never_sent_nor_retried(
    sandbox: PartnerSandbox, dispatcher: DispatcherService
) -> None:
    await dispatcher.handle_survey_requests([request("sms", "+358401234000")])
    assert await dispatcher.deliver_due() == 1
    await make_due_now(dispatcher)
    assert await dispatcher.deliver_due() == 0, "failed for good, not pending"
    async with dispatcher.engine.connect() as connection:
        row = (await connection.execute(sa.select(tables.invitations))).one()
    assert row.status == "failed"
    assert row.last_error.startswith("content policy:")
    assert sandbox.recorder.snapshot()["requests"]["sms"] == 0


async def test_a_withdrawn_invitation_is_never_handed_to_the_partner(
    sandbox: PartnerSandbox, dispatcher: DispatcherService
) -> None:
    async with httpx.AsyncClient() as client:
        await client.post(f"{sandbox.http.url}/sandbox/faults", json={"fail_next": 1})
    retrying = request("sms", "+358401234111")
    await dispatcher.handle_survey_requests([retrying])
    assert await dispatcher.deliver_due() == 1  # the partner fails: pending, backing off
    await dispatcher.handle_withdrawals(
        [SurveyWithdrawn(contact_id=retrying.contact_id, reason="opted_out")]
    )
    await make_due_now(dispatcher)
    assert await dispatcher.deliver_due() == 0, "withdrawn, not retried"
    async with dispatcher.engine.connect() as connection:
        row = (await connection.execute(sa.select(tables.invitations))).one()
    assert row.status == "withdrawn"
    assert sandbox.recorder.snapshot()["sms"] == []


async def test_a_withdrawal_that_outruns_its_request_still_stops_it(
    sandbox: PartnerSandbox, dispatcher: DispatcherService
) -> None:
    late = request("email", "myohassa@example.fi")
    await dispatcher.handle_withdrawals(
        [SurveyWithdrawn(contact_id=late.contact_id, reason="opted_out")]
    )
    await dispatcher.handle_survey_requests([late])
    assert await dispatcher.deliver_due() == 0
    assert sandbox.recorder.snapshot()["requests"] == {"sms": 0, "email": 0}
    async with dispatcher.engine.connect() as connection:
        row = (await connection.execute(sa.select(tables.invitations))).one()
    assert (row.status, row.address) == ("withdrawn", ""), "never sent: no address kept"


async def test_the_partner_deletes_an_address_on_instruction_and_an_outage_is_a_pause(
    sandbox: PartnerSandbox,
) -> None:
    partner = HttpSmsPartner(sandbox.http.url, sandbox.settings.partner_api_key, "Palaute")
    gone = HttpSmsPartner(f"http://127.0.0.1:{free_port()}", "key", "Palaute")
    try:
        for n in range(2):
            await partner.send(Outgoing("+358401230001", "", f"kysely {n}", f"del-{n}"))
        await partner.send(Outgoing("+358401230002", "", "toinen", "keep-1"))
        deletion = await partner.delete_data(["+358401230001"])
        snapshot = sandbox.recorder.snapshot()
        with pytest.raises(DependencyUnavailable) as unreachable:
            await gone.delete_data(["+358401230001"])
    finally:
        await partner.close()
        await gone.close()
    assert deletion.startswith("deletion-")
    assert [m["to"] for m in snapshot["sms"]] == ["+358401230002"]
    assert snapshot["deletions"][-1]["messages_deleted"] == 2
    assert "+358401230001" not in repr(snapshot["deletions"]), "recorded without the address"
    assert is_infrastructure_fault(unreachable.value), "the consumer pauses, never dead-letters"


async def test_an_erasure_during_the_partner_call_leaves_nothing_here_or_at_the_partner(
    dispatcher: DispatcherService, sandbox: PartnerSandbox
) -> None:
    phone = "+358401239999"
    await dispatcher.handle_survey_requests([request("sms", phone)])
    (claimed,) = await dispatcher.delivery.claim_due("sms", {"sandbox": 1})
    # The erasure comes while the claimed invitation is on its way to the partner...
    await dispatcher.handle_erasure_requests(
        [ErasureRequested(request_id=uuid.uuid4(), customer_id="C-1", phone=phone)]
    )
    attempt = await dispatcher.delivery.attempt(*claimed)
    assert attempt.partner_id is not None, "...and the partner takes the message after it"
    await dispatcher.delivery.record([attempt])
    # Both instructions (the erasure's, and the one again for the late message) are jobs
    # worked off after commit.
    assert dispatcher.deletions is not None
    assert await dispatcher.deletions.work_off() == 2
    snapshot = sandbox.recorder.snapshot()
    assert [m for m in snapshot["sms"] if m["to"] == phone] == [], "deleted there again"
    assert len(snapshot["deletions"]) == 2
    async with dispatcher.engine.connect() as connection:
        topics = list(await connection.scalars(sa.select(tables.outbox.c.topic)))
        rows = await connection.scalar(sa.select(sa.func.count()).select_from(tables.invitations))
    assert topics == ["privacy.erasure-completed.v1"], "no InvitationSent for the erased"
    assert rows == 0


async def outbox_payloads(dispatcher: DispatcherService, topic: str) -> list[dict[str, Any]]:
    return await queued(dispatcher.engine, tables.outbox, topic)


async def deletion_jobs(dispatcher: DispatcherService) -> list[Any]:
    async with dispatcher.engine.connect() as connection:
        return list((await connection.execute(sa.select(tables.partner_deletions))).all())


async def test_an_erasure_by_customer_id_alone_reaches_every_address_at_the_partner(
    dispatcher: DispatcherService, sandbox: PartnerSandbox
) -> None:
    phone, address = "+358401238801", "vain.tunnus@example.fi"
    other = request("sms", "+358401238802")
    await dispatcher.handle_survey_requests(
        [
            request("sms", phone),
            request("email", address),
            other.model_copy(update={"customer_id": "C-2"}),
        ]
    )
    assert await dispatcher.deliver_due() == 3
    erasure = ErasureRequested(request_id=uuid.uuid4(), customer_id="C-1")
    await dispatcher.handle_erasure_requests([erasure])
    # Our rows are gone at commit; the partner is instructed after it, by the job.
    (job,) = await deletion_jobs(dispatcher)
    assert sorted(job.addresses) == [phone, address]
    assert await outbox_payloads(dispatcher, "privacy.erasure-completed.v1") == []
    assert dispatcher.deletions is not None
    assert await dispatcher.deletions.work_off() == 1
    snapshot = sandbox.recorder.snapshot()
    assert [m["to"] for m in snapshot["sms"]] == ["+358401238802"], "only the other person's"
    assert snapshot["email"] == []
    (done,) = await outbox_payloads(dispatcher, "privacy.erasure-completed.v1")
    assert (done["request_id"], done["erased"], done["partner_deleted"]) == (
        str(erasure.request_id),
        {"invitations": 2},
        True,
    )
    assert await deletion_jobs(dispatcher) == []


async def test_a_partner_outage_delays_the_deletion_and_a_refusal_is_reported(
    dispatcher: DispatcherService, sandbox: PartnerSandbox
) -> None:
    phone = "+358401238803"
    await dispatcher.handle_survey_requests([request("sms", phone)])
    assert await dispatcher.deliver_due() == 1
    deletions = dispatcher.deletions
    assert deletions is not None
    deletions.settings = deletions.settings.model_copy(
        update={"partner_deletion_retry_seconds": 0.3}
    )
    processors = deletions.processor.asked
    real = processors["sms"]
    processors["sms"] = HttpSmsPartner(f"http://127.0.0.1:{free_port()}", "key", "Palaute")
    erasure = ErasureRequested(request_id=uuid.uuid4(), customer_id="C-1")
    try:
        # The partner is down: the erasure itself is done (never paused, never dead-lettered).
        await dispatcher.handle_erasure_requests([erasure])
        assert await deletions.work_off() == 0
        (job,) = await deletion_jobs(dispatcher)
        assert (job.attempts, job.last_error) == (1, "partner deletion: ClientConnectorError")
        assert await deletions.work_off() == 0, "not due again before its backoff"
        # It answers again, but refuses for good (a wrong key): reported, not retried.
        await processors["sms"].close()  # type: ignore[attr-defined]
        processors["sms"] = HttpSmsPartner(sandbox.http.url, "wrong-key", "Palaute")

        async def finished() -> int:
            return await deletions.work_off()

        assert await wait_until(finished, within=10, what="the retry after its backoff") == 1
    finally:
        await processors["sms"].close()  # type: ignore[attr-defined]
        processors["sms"] = real
    (done,) = await outbox_payloads(dispatcher, "privacy.erasure-completed.v1")
    assert (done["partner_deleted"], done["partner_reason"]) == (
        False,
        "partner deletion refused: 401",
    )
    assert done["erased"] == {"invitations": 1}
    assert done["processors"] == {"sms": "refused: partner deletion refused: 401"}
    assert await deletion_jobs(dispatcher) == []
    assert [m["to"] for m in sandbox.recorder.snapshot()["sms"]] == [phone], "refused: kept"


async def test_an_address_that_is_not_ascii_goes_with_smtputf8(sandbox: PartnerSandbox) -> None:
    email = SmtpEmailPartner("127.0.0.1", sandbox.settings.sandbox_smtp_port, "a@palaute.invalid")
    await email.send(Outgoing("malmö-0@ex.fi", "Enkät", "Svara 0-10", idempotency_key="utf8"))
    (kept,) = sandbox.recorder.snapshot()["email"]
    assert kept["to"] == ["malmö-0@ex.fi"]
    assert kept["raw_headers"]["To"] == "malmö-0@ex.fi", "UTF-8 on the wire (RFC 6532)"
