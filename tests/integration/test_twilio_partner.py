"""The Twilio adapter against the sandbox speaking Twilio's documented wire format over real
HTTP: a send, Twilio's error answers as our outcomes, a hand-over whose answer was lost sent
once all the same, deletion on instruction; and the signature from Twilio's documentation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from palaute_dispatcher import tables
from palaute_dispatcher import twilio as twilio_adapter
from palaute_dispatcher.partner import Outgoing, PartnerError, SmtpEmailPartner
from palaute_dispatcher.service import DispatcherService
from palaute_dispatcher.settings import DispatcherSettings
from palaute_dispatcher.twilio import PAGE_SIZE, TwilioSmsPartner
from palaute_runtime.database import create_engine
from palaute_runtime.faults import DependencyUnavailable
from palaute_runtime.keys import Keyring
from palaute_runtime.local_broker import free_port
from palaute_runtime.migrations import migrate
from palaute_runtime.twilio import messages_path, signature, verifies
from palaute_sandbox.server import PartnerSandbox
from palaute_sandbox.settings import SandboxSettings
from palaute_stack.stack import LOCAL_RELEASE_RULES
from tests.conftest import ManualClock, wait_until
from tests.integration.test_dispatcher_partner import request

ACCOUNT = "AC" + "1" * 32
TOKEN = "twilio-test-token"


def test_the_signature_of_twilios_documented_example() -> None:
    # https://www.twilio.com/docs/usage/webhooks/webhooks-security (the request validation
    # example every Twilio helper library tests against).
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    assert signature("12345", url, params.items()) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    tokens = Keyring.parse("2:new-token,1:12345")  # the secondary token still verifies
    assert verifies(tokens, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", url, params.items())
    assert not verifies(tokens, None, url, params.items())
    assert not verifies(tokens, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", url + "&x=1", params.items())
    changed = params | {"Digits": "1235"}
    assert not verifies(tokens, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", url, changed.items())


@pytest.fixture
async def twilio() -> AsyncIterator[PartnerSandbox]:
    sandbox = PartnerSandbox(
        SandboxSettings(
            sandbox_http_port=free_port(),
            sandbox_smtp_port=free_port(),
            sms_provider="twilio",
            sms_sender="+358405550100",  # a real provider takes replies at a number
            twilio_account_sid=ACCOUNT,
            twilio_auth_token=TOKEN,
        )
    )
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


def partner(sandbox: PartnerSandbox, token: str = TOKEN, timeout: float = 10.0) -> TwilioSmsPartner:
    return TwilioSmsPartner(sandbox.http.url, ACCOUNT, token, "Palaute", timeout=timeout)


def sms(to: str = "+358401234567", text: str = "Miten onnistuimme? Vastaa 0-10.") -> Outgoing:
    return Outgoing(
        address=to, subject="", text=text, idempotency_key="k", made_at=datetime.now(UTC)
    )


async def control(sandbox: PartnerSandbox, path: str, **body: object) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{sandbox.http.url}/sandbox/{path}", json=body)
        assert answer.is_success


async def test_a_send_is_twilios_message_resource_and_its_errors_are_our_outcomes(
    twilio: PartnerSandbox,
) -> None:
    adapter = partner(twilio)
    try:
        sid = await adapter.send(sms())
        assert sid.startswith("SM")
        (kept,) = twilio.recorder.sms
        assert (kept["id"], kept["from"], kept["to"]) == (sid, "Palaute", "+358401234567")
        with pytest.raises(PartnerError, match="21211") as refused:
            await adapter.send(sms(to="+3580"))
        assert not refused.value.transient, "an invalid number is never retried"
        await control(twilio, "faults", fail_next=1, status=503)
        with pytest.raises(PartnerError) as down:
            await adapter.send(sms(to="+358401234568"))
        assert down.value.transient
        await control(twilio, "faults", fail_next=1, status=429)
        with pytest.raises(PartnerError) as throttled:
            await adapter.send(sms(to="+358401234568"))
        assert throttled.value.throttled
        assert throttled.value.retry_after == 1.0
    finally:
        await adapter.close()
    wrong = partner(twilio, token="not-the-token")
    try:
        with pytest.raises(PartnerError, match="20003") as login:
            await wrong.send(sms(to="+358401234569"))
        assert login.value.transient, "a refused login is a configuration fault: kept, retried"
    finally:
        await wrong.close()


async def test_a_hand_over_whose_answer_was_lost_is_sent_once(twilio: PartnerSandbox) -> None:
    twilio.settings.sandbox_response_ms = 800  # Twilio answers after our timeout
    impatient, patient = partner(twilio, timeout=0.3), partner(twilio)
    try:
        with pytest.raises(PartnerError) as lost:
            await impatient.send(sms())
        assert lost.value.transient

        async def kept() -> bool:
            return len(twilio.recorder.sms) == 1

        await wait_until(kept, what="Twilio to keep the message whose answer was lost")
        twilio.settings.sandbox_response_ms = 0
        retried = await patient.send(sms())
        assert retried == twilio.recorder.sms[0]["id"]
        assert len(twilio.recorder.sms) == 1, "the retry found it: sent once"
        # Another text to the same number is another message.
        other = await patient.send(sms(text="Muistutus: miten onnistuimme?"))
        assert other != retried
        assert len(twilio.recorder.sms) == 2
    finally:
        await impatient.close()
        await patient.close()


async def test_deletion_on_instruction_removes_every_message_to_the_number(
    twilio: PartnerSandbox,
) -> None:
    twilio.settings.sandbox_receipt_delay_seconds = 1.0  # final a second after they were sent
    adapter = partner(twilio)
    try:
        for n in range(PAGE_SIZE + 5):  # more than one page of the listing
            await adapter.send(sms(to="+358401230000", text=f"viesti {n}"))
        await adapter.send(sms(to="+358401230001"))
        # Not final yet: Twilio refuses with 20009; the job is told to try again.
        with pytest.raises(DependencyUnavailable, match="not final yet"):
            await adapter.delete_data(["+358401230000"])

        async def final() -> bool:
            return all(m.get("twilio_status") for m in twilio.recorder.sms)

        await wait_until(final, what="the messages to become final")
        deletion = await adapter.delete_data(["+358401230000"])
        assert deletion.startswith("twilio-deletion-")
        assert deletion.endswith(f"-{PAGE_SIZE + 5}"), "every page"
        assert [m["to"] for m in twilio.recorder.sms] == ["+358401230001"]
    finally:
        await adapter.close()


async def test_the_lookup_finds_a_queued_message_on_any_page_but_not_another_invitations(
    twilio: PartnerSandbox,
) -> None:
    twilio.settings.sandbox_receipt_delay_seconds = 60.0  # every message stays queued
    adapter = partner(twilio)
    try:
        first = sms(text="Miten onnistuimme? Vastaa 0-10.")
        sid = await adapter.send(first)
        for n in range(PAGE_SIZE + 5):  # newer messages push it onto the second page
            await adapter.send(sms(text=f"toinen viesti {n}"))
        (resource,) = [m for m in await listed(twilio, "+358401234567") if m["sid"] == sid]
        assert (resource["status"], resource["date_sent"]) == ("queued", None)
        assert await adapter.send(first) == sid, "a retry finds it, queued and on page two"
        # The same text in an invitation made later (another survey that day): sent.
        later = replace(first, made_at=datetime.now(UTC) + timedelta(minutes=3))
        assert await adapter.send(later) != sid
    finally:
        await adapter.close()


async def listed(twilio: PartnerSandbox, number: str) -> list[dict[str, Any]]:
    """Every message to a number, as Twilio lists them (all pages)."""
    found: list[dict[str, Any]] = []
    url: str | None = f"{twilio.http.url}{messages_path(ACCOUNT)}?To={quote(number)}"
    async with httpx.AsyncClient(auth=(ACCOUNT, TOKEN)) as client:
        while url:
            page = (await client.get(url)).json()
            found += page["messages"]
            url = f"{twilio.http.url}{page['next_page_uri']}" if page["next_page_uri"] else None
    return found


async def test_a_status_callback_that_never_came_is_asked_for_later(
    twilio: PartnerSandbox, database_url: str
) -> None:
    """Twilio posts a status callback once: here it cannot reach us (nobody listens at the
    callback URL), so the dispatcher asks for the message's status once it has waited."""
    twilio.settings.sandbox_receipt_delay_seconds = 0.0
    clock = ManualClock(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
    lost = f"http://127.0.0.1:{free_port()}/partner/twilio/status"
    settings = DispatcherSettings(
        dispatcher_database_url=database_url,
        sms_provider="twilio",
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        sms_sender="+358405550100",
        twilio_status_callback_url=lost,
        delivery_report_wait_minutes=60,
        **LOCAL_RELEASE_RULES,
    )
    engine = create_engine(settings.database_url)
    await migrate(engine, tables.MIGRATIONS)
    sms = TwilioSmsPartner(
        twilio.http.url, ACCOUNT, TOKEN, settings.sms_sender, status_callback_url=lost
    )
    email = SmtpEmailPartner("127.0.0.1", free_port(), settings.email_sender)
    service = DispatcherService(
        engine, settings, {"sms": sms, "email": email}, clock=clock, report_source=sms
    )
    assert service.missing_reports is not None
    try:
        await service.handle_survey_requests([request("sms", "+358401239999")])
        assert await service.deliver_due() == 1

        async def final() -> bool:
            return all(m.get("twilio_status") for m in twilio.recorder.sms)

        await wait_until(final, what="Twilio to finish the message (its callback lost)")
        assert await service.missing_reports.ask() == 0, "not asked before the wait"
        clock.at += timedelta(minutes=61)
        assert await service.missing_reports.ask() == 1
        async with engine.connect() as connection:
            row = (await connection.execute(sa.select(tables.invitations))).one()
        assert (row.status, row.delivery) == ("sent", "delivered")
        assert await service.missing_reports.ask() == 0, "asked once"
    finally:
        await sms.close()
        await engine.dispose()


async def test_an_erasure_cut_short_by_the_page_cap_says_more_remain(
    twilio: PartnerSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    twilio.settings.sandbox_receipt_delay_seconds = 0.0
    monkeypatch.setattr(twilio_adapter, "LISTING_PAGES", 1)  # one page read per try
    adapter = partner(twilio)
    try:
        for n in range(PAGE_SIZE + 5):
            await adapter.send(sms(to="+358401230002", text=f"viesti {n}"))

        async def final() -> bool:
            return all(m.get("twilio_status") for m in twilio.recorder.sms)

        await wait_until(final, what="the messages to become final")
        with pytest.raises(DependencyUnavailable, match=f"deleted {PAGE_SIZE} messages; more"):
            await adapter.delete_data(["+358401230002"])
        assert len(twilio.recorder.sms) == 5, "what was listed is deleted; never 'done'"
        assert (await adapter.delete_data(["+358401230002"])).endswith("-5")
        assert twilio.recorder.sms == []
    finally:
        await adapter.close()
