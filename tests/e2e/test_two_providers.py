"""PALAUTE_SMS_PROVIDER=twilio,46elks, end to end: every service its own process on the real
broker, the sandbox speaking both providers' documented APIs. SMS go out through both; the
delivery reports of both come in (Twilio's signed status callbacks, 46elks's `whendelivered`
posts); a score replied through one provider's number and STOP through the other's reach the
collector and consent. (Failover itself is tests/faults/test_failover.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from palaute_consent.tables import opt_outs
from palaute_dispatcher.tables import invitations
from palaute_schemas import CONTACT_CLOSED
from palaute_stack.stack import LocalStack
from tests.conftest import publish, wait_until
from tests.e2e.conftest import (
    contact,
    e164,
    first_row,
    mobile,
    stack_of_its_own,
    wait_for_sms_answer,
)

pytestmark = pytest.mark.e2e

SURVEYS = 12


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with stack_of_its_own(
        tmp_path_factory.mktemp("two-providers"),
        sms_provider="twilio,46elks",
        frequency_cap_days=0,
        sandbox_receipt_delay_seconds=0.1,
    ) as running:
        yield running


async def test_both_providers_send_and_report_and_take_replies_and_stop_at_once(
    stack: LocalStack,
) -> None:
    phones = [e164(mobile()) for _ in range(SURVEYS)]
    surveys = [contact(phone=phone) for phone in phones]
    await publish(stack.options.kafka_bootstrap, CONTACT_CLOSED, surveys)

    async def all_reported() -> list[sa.Row[tuple[str, str, str]]] | None:
        engine_url = stack.dispatcher_settings.database_url
        rows = [
            await first_row(
                engine_url,
                sa.select(
                    invitations.c.provider, invitations.c.delivery, invitations.c.address
                ).where(invitations.c.contact_id == survey.contact_id),
            )
            for survey in surveys
        ]
        return rows if all(r is not None and r.delivery == "delivered" for r in rows) else None

    rows = await wait_until(all_reported, within=60, what="every SMS's delivery report")
    by_provider = {row.provider: row.address for row in rows}
    # Twelve SMS at even weights: both carry some (all through one: 1 in 2,048).
    assert set(by_provider) == {"twilio", "46elks"}, [row.provider for row in rows]

    async with httpx.AsyncClient() as client:
        # The customer answers the number that wrote: through that provider's webhook.
        score = await client.post(
            f"{stack.sandbox_url}/sandbox/inbound-sms",
            json={"from": by_provider["twilio"], "text": "9", "provider": "twilio"},
        )
        assert score.status_code == 200, score.text
        assert score.text.endswith("<Response></Response>")  # Twilio's TwiML
        stop = await client.post(
            f"{stack.sandbox_url}/sandbox/inbound-sms",
            json={"from": by_provider["46elks"], "text": "STOP", "provider": "46elks"},
        )
        assert stop.status_code == 204, stop.text  # 46elks: no body, nothing sent back

    async def stopped() -> bool:
        row = await first_row(
            stack.consent_settings.database_url,
            sa.select(opt_outs.c.source).where(opt_outs.c.value == by_provider["46elks"]),
        )
        return bool(row and row.source == "sms_stop")

    await wait_for_sms_answer(stack, by_provider["twilio"])
    await wait_until(stopped, within=30, what="STOP through 46elks to reach the register")
