"""The 46elks adapter against the sandbox speaking 46elks's documented wire format over real
HTTP: a send with its delivery-report URL, 46elks's answers as our outcomes, a hand-over
whose answer was lost sent once all the same; the webhooks' Basic auth."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from palaute_dispatcher.elks import ElksSmsPartner
from palaute_dispatcher.partner import Outgoing, PartnerError
from palaute_runtime.elks import authenticated, with_credentials
from palaute_runtime.local_broker import free_port
from palaute_sandbox.server import PartnerSandbox
from palaute_sandbox.settings import SandboxSettings
from tests.conftest import wait_until

USER, PASSWORD = "u" + "1" * 32, "elks-api-password"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_webhooks_basic_auth_in_their_urls_and_its_check() -> None:
    url = with_credentials("https://palaute.example/partner/46elks/delivery?x=1", "2:new,1:old")
    assert url == "https://elks:new@palaute.example/partner/46elks/delivery?x=1"
    assert authenticated(basic("elks", "new"), "2:new,1:old")
    assert authenticated(basic("elks", "old"), "2:new,1:old"), "the old secret while rotating"
    assert not authenticated(basic("elks", "guess"), "2:new,1:old")
    assert not authenticated(basic("other", "new"), "2:new,1:old")
    assert not authenticated(None, "new")
    assert not authenticated("Basic !!notbase64", "new")
    assert not authenticated(basic("elks", ""), "")


@pytest.fixture
async def elks() -> AsyncIterator[PartnerSandbox]:
    sandbox = PartnerSandbox(
        SandboxSettings(
            sandbox_http_port=free_port(),
            sandbox_smtp_port=free_port(),
            sms_provider="46elks",
            sms_sender="+358405550100",  # a real provider takes replies at a number
            elks_username=USER,
            elks_password=PASSWORD,
            elks_webhook_secret="webhook-secret",
        )
    )
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


def partner(
    sandbox: PartnerSandbox, password: str = PASSWORD, timeout: float = 10.0
) -> ElksSmsPartner:
    return ElksSmsPartner(sandbox.http.url, USER, password, "Palaute", timeout=timeout)


def sms(to: str = "+46706861004", text: str = "Hur gick det? Svara 0-10.") -> Outgoing:
    return Outgoing(
        address=to, subject="", text=text, idempotency_key="k", made_at=datetime.now(UTC)
    )


async def test_a_send_and_46elks_answers_as_our_outcomes(elks: PartnerSandbox) -> None:
    adapter = partner(elks)
    wrong = partner(elks, password="not-it")
    try:
        sms_id = await adapter.send(sms())
        assert sms_id.startswith("s")
        (kept,) = elks.recorder.sms
        assert (kept["id"], kept["from"], kept["to"]) == (sms_id, "Palaute", "+46706861004")
        with pytest.raises(PartnerError, match="Invalid to number") as refused:
            await adapter.send(sms(to="+460"))
        assert not refused.value.transient
        elks.state.set_fault(1, 503, 0)
        with pytest.raises(PartnerError) as down:
            await adapter.send(sms(to="+46706861005"))
        assert down.value.transient
        elks.state.set_fault(1, 429, 0)
        with pytest.raises(PartnerError) as throttled:
            await adapter.send(sms(to="+46706861005"))
        assert throttled.value.throttled
        with pytest.raises(PartnerError, match="401") as login:
            await wrong.send(sms(to="+46706861006"))
        assert login.value.transient
    finally:
        await adapter.close()
        await wrong.close()


async def test_a_hand_over_whose_answer_was_lost_is_sent_once(elks: PartnerSandbox) -> None:
    elks.settings.sandbox_response_ms = 800
    impatient, patient = partner(elks, timeout=0.3), partner(elks)
    try:
        with pytest.raises(PartnerError):
            await impatient.send(sms())

        async def kept() -> bool:
            return len(elks.recorder.sms) == 1

        await wait_until(kept, what="46elks to keep the SMS whose answer was lost")
        elks.settings.sandbox_response_ms = 0
        assert await patient.send(sms()) == elks.recorder.sms[0]["id"]
        assert len(elks.recorder.sms) == 1, "the retry found it: sent once"
    finally:
        await impatient.close()
        await patient.close()
