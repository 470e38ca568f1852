"""The demo's simulated customers answer only what was sent to them: a contact a newcomer
published by hand (`palaute publish`) is theirs to answer. Real sandbox over HTTP."""

from __future__ import annotations

import random
import uuid
from types import SimpleNamespace
from typing import cast

from palaute_dispatcher.partner import HttpSmsPartner, Outgoing
from palaute_sandbox.server import PartnerSandbox
from palaute_stack.demo import DemoCustomer, DemoRespondents
from palaute_stack.stack import LocalStack


async def test_demo_customers_leave_a_hand_published_contacts_survey_alone(
    sandbox: PartnerSandbox,
) -> None:
    customer = DemoCustomer("C00001", "fi", "040 1234567", None, opted_out=False)
    partner = HttpSmsPartner(sandbox.http.url, "sandbox-key", "Palaute")
    try:
        for address in ("+358401234567", "+358409876543"):  # a demo customer; a newcomer
            await partner.send(Outgoing(address, "", "Suosittelisitko?", str(uuid.uuid4())))
    finally:
        await partner.close()
    stack = cast(LocalStack, SimpleNamespace(sandbox_url=sandbox.http.url))
    respondents = DemoRespondents(
        stack, random.Random(1), [customer], answer_rate=1.0, reading_seconds=0
    )
    try:
        assert await respondents.answer_new() == 2
    finally:
        await respondents.close()
    assert respondents.received == 1, "only the demo customer's message is read"
    assert sum(respondents.answered.values()) == 1, "the newcomer's survey is left alone"
