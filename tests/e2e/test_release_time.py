"""The real release rules on the whole stack, with every clock moved to a Tuesday just before
nine: a contact closed early that morning waits for the window, then goes out; and the
shipped programme file's three programmes each survey in their own name, sender, window,
questions and sample, with figures and funnel by programme."""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa

from palaute_consent.tables import decisions, plans
from palaute_runtime.database import as_utc, create_engine
from palaute_runtime.topic_reader import read_records
from palaute_schemas import (
    CONTACT_CLOSED,
    FIGURES_PUBLISHED,
    FUNNEL_PUBLISHED,
    SURVEY_SUPPRESSED,
    ContactClosed,
)
from palaute_stack.stack import LocalStack, StackOptions
from tests.conftest import EXAMPLE_PROGRAMMES, publish, wait_until
from tests.e2e.conftest import EVERY_BREAKDOWN_TEXT, LINK

pytestmark = pytest.mark.e2e

HELSINKI = ZoneInfo("Europe/Helsinki")
CLOCK_START = datetime(2026, 11, 24, 8, 59, 30, tzinfo=HELSINKI)  # a Tuesday, no holiday
REAL_RULES: dict[str, Any] = {
    "release_delay_minutes": 60,
    "send_window_weekdays": "09:00-20:00",
    "send_window_saturday": "10:00-18:00",
    "send_window_sunday": "",
    "send_on_public_holidays": False,
    "clock_start": CLOCK_START.isoformat(),
    "programmes_file": str(EXAMPLE_PROGRAMMES),
    # The test reads the day's figures by programme.
    "figures_breakdowns": EVERY_BREAKDOWN_TEXT,
    # A thousand emails of the sampled programme go out at once.
    "partner_email_rate_per_second": 1000,
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


async def test_the_real_rules_and_each_programmes_own_on_one_stack(
    real_rules_stack: LocalStack,
) -> None:
    """Both wait for nine on the same clock: they run side by side."""
    await asyncio.gather(
        the_real_rules_hold_a_survey_until_the_window_and_drop_stale_contacts(real_rules_stack),
        each_programme_surveys_in_its_own_name_window_questions_and_sample(real_rules_stack),
    )


async def the_real_rules_hold_a_survey_until_the_window_and_drop_stale_contacts(
    stack: LocalStack,
) -> None:
    assert "09:00-20:00" in stack.release_rules_note()
    early = contact(CLOCK_START.replace(hour=7, minute=30), "0401230001")
    stale = contact(CLOCK_START - timedelta(days=10), "0401230003")
    await publish(stack.options.kafka_bootstrap, CONTACT_CLOSED, [early, stale])
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
    ours = {"+358401230001", "+358401230003"}
    assert [m["to"] for m in received["sms"] if m["to"] in ours] == ["+358401230001"], (
        "the stale contact got nothing"
    )
    reasons = {}
    async for record in read_records(
        stack.options.kafka_bootstrap, [SURVEY_SUPPRESSED.name], idle_timeout=2.0
    ):
        value = json.loads(record.value or b"{}")
        if value["contact_id"] in (early.contact_id, stale.contact_id):
            reasons[value["contact_id"]] = value["reason"]
    assert reasons == {stale.contact_id: "stale"}


SAMPLED = 1000  # contacts of the CSAT-only programme sampled at 50 %


def programme_contact(
    unit: str, n: int, *, phone: str | None = None, **fields: Any
) -> ContactClosed:
    return ContactClosed.model_validate(
        {
            "contact_id": f"P-{unit[:3]}-{n:05d}-{uuid.uuid4().hex[:6]}",
            "customer_id": f"C-{uuid.uuid4().hex[:10]}",
            "contact_channel": "branch",
            "language": "fi",
            "unit": unit,
            "closed_at": CLOCK_START.replace(hour=7, minute=30),
            "phone": phone,
        }
        | fields
    )


async def each_programme_surveys_in_its_own_name_window_questions_and_sample(
    stack: LocalStack,
) -> None:
    kierratys = stack.consent_settings.programmes.named("kierratys")
    assert kierratys is not None
    helsinki = [programme_contact("OP Helsinki", n, phone=f"04012{n:05d}") for n in range(5)]
    # Pohjanmaa offers fi and sv only: an English speaker is surveyed in Finnish.
    pohjanmaa = [
        programme_contact("OP Pohjanmaa Vaasa", n, phone=f"04013{n:05d}", language="en")
        for n in range(5)
    ]
    # The recycling centre's sample: a thousand by email, and five by SMS known to fall in it.
    by_email = [
        programme_contact("Kierrätyskeskus Kotka", n, email=f"k{n}@example.fi")
        for n in range(SAMPLED)
    ]
    by_sms: list[ContactClosed] = []
    while len(by_sms) < 5:
        candidate = programme_contact(
            "Kierrätyskeskus Kotka", len(by_sms), phone=f"04014{len(by_sms):05d}"
        )
        if kierratys.sampled(candidate.contact_id):
            by_sms.append(candidate)
    # The banks' answers come by page: each bank's email invitations.
    helsinki_by_email = [
        programme_contact("OP Helsinki", n, email=f"h{n}@example.fi") for n in range(5)
    ]
    pohjanmaa_by_email = [
        programme_contact("OP Pohjanmaa Vaasa", n, email=f"p{n}@example.fi") for n in range(5)
    ]
    await publish(
        stack.options.kafka_bootstrap,
        CONTACT_CLOSED,
        [*helsinki, *pohjanmaa, *by_sms, *helsinki_by_email, *pohjanmaa_by_email, *by_email],
    )

    async with httpx.AsyncClient() as client:
        ours = {"+358" + str(e.phone)[1:] for e in (*helsinki, *pohjanmaa, *by_sms)}

        async def everything_sent() -> dict[str, Any] | None:
            received = (await client.get(f"{stack.sandbox_url}/sandbox/messages")).json()
            return received if ours <= {m["to"] for m in received["sms"]} else None

        received = await wait_until(everything_sent, within=60, what="15 SMS invitations")
        sms = {m["to"]: m for m in received["sms"]}
        for event, sender, name, scale in (
            *((e, "OPHelsinki", "OP Helsinki", "0-10") for e in helsinki),
            *((e, "OPPohjanmaa", "OP Pohjanmaa", "0-10") for e in pohjanmaa),
            *((e, "Kierratys", "Kierrätyskeskus", "1-5") for e in by_sms),
        ):
            message = sms["+358" + str(event.phone)[1:]]
            assert message["from"] == sender
            assert name in message["text"]
            assert scale in message["text"]
            assert "kiittää" in message["text"]  # Finnish, also for the English speaker
        # Each released in its own window, on consent's clock: Pohjanmaa's opens at nine,
        # the others' earlier (their contacts were due at 08:30 and 07:30).
        consent_db = create_engine(stack.consent_settings.database_url)
        try:
            async with consent_db.connect() as connection:
                released_at = {
                    row.contact_id: as_utc(row.decided_at)
                    for row in await connection.execute(
                        sa.select(decisions.c.contact_id, decisions.c.decided_at).where(
                            decisions.c.outcome == "sms"
                        )
                    )
                }
        finally:
            await consent_db.dispose()
        nine = CLOCK_START.replace(hour=9, minute=0, second=0)
        assert all(released_at[e.contact_id] >= nine for e in pohjanmaa)
        assert all(released_at[e.contact_id] < nine for e in (*helsinki, *by_sms))

        # The sample: exactly the contacts the contact id puts in it, about half.
        async def all_emails() -> list[dict[str, Any]] | None:
            emails = (await client.get(f"{stack.sandbox_url}/sandbox/messages")).json()["email"]
            expected = sum(kierratys.sampled(e.contact_id) for e in by_email) + 10
            return emails if len(emails) >= expected else None

        emails = await wait_until(all_emails, within=90, what="the sampled emails")
        mailed = {m["to"][0] for m in emails if m["to"][0].startswith("k")}
        assert mailed == {e.email for e in by_email if kierratys.sampled(e.contact_id)}
        tolerance = 4 * math.sqrt(SAMPLED * 0.25)  # four standard deviations of a binomial
        assert abs(len(mailed) - SAMPLED / 2) <= tolerance
        mail = next(m for m in emails if m["to"][0].startswith("k"))
        assert mail["headers"]["From"] == "Kierrätyskeskus <palaute@kierratys.example>"
        assert kierratys.csat_question["fi"] in mail["text"]
        assert "?csat=5" in mail["html"]
        assert "?score=" not in mail["html"]
        page = await client.get(LINK.findall(mail["text"])[0])
        assert 'name="csat"' in page.text
        assert 'name="score"' not in page.text
        assert "Kierrätyskeskus" in page.text
        assert 'name="follow_up"' not in page.text

        # Answers on the page (the banks' email invitations, and five of the recycling
        # centre's): NPS and CSAT to the banks, CSAT alone to the recycling centre.
        async def answered_by_page(events: list[ContactClosed], form: dict[str, str]) -> None:
            for event in events:
                (mail,) = await wait_until(
                    lambda e=event: _mails_to(client, stack, str(e.email)),
                    what="an email invitation",
                )
                link = LINK.findall(mail["text"])[0]
                assert (await client.post(link, data=form)).status_code == 200

        (helsinki_mail,) = await wait_until(
            lambda: _mails_to(client, stack, str(helsinki_by_email[0].email)),
            what="a bank's email invitation",
        )
        assert helsinki_mail["headers"]["From"] == "OP Helsinki <kysely@op-helsinki.example>"
        assert helsinki_mail["headers"]["Reply-To"] == "asiakaspalvelu@op-helsinki.example"
        await answered_by_page(helsinki_by_email, {"score": "9", "csat": "5"})
        await answered_by_page(pohjanmaa_by_email, {"score": "6"})
        sampled = [e for e in by_email if kierratys.sampled(e.contact_id)][:5]
        await answered_by_page(sampled, {"csat": "4", "score": "10"})  # its NPS is not asked

    async def by_programme() -> dict[str, dict[str, Any]] | None:
        cells: dict[str, dict[str, Any]] = {}
        async for record in read_records(
            stack.options.kafka_bootstrap, [FIGURES_PUBLISHED.name], idle_timeout=1.0
        ):
            value = json.loads(record.value or b"{}")
            if value["grain"] == "day" and value["dimension"] == "programme":
                cells[value["value"]] = value
        done = all(
            cells.get(p, {}).get("responses") == 5
            for p in ("op-helsinki", "op-pohjanmaa", "kierratys")
        )
        return cells if done else None

    cells = await wait_until(by_programme, within=60, what="the figures by programme")
    assert cells["op-helsinki"]["nps"] == 100
    assert cells["op-helsinki"]["csat"] == 100
    assert cells["op-pohjanmaa"]["nps"] == -100
    assert cells["kierratys"]["nps"] is None
    assert cells["kierratys"]["csat"] == 100
    assert cells["kierratys"]["csat_responses"] == 5
    assert cells["kierratys"]["nps_responses"] == 0

    # The funnel, by programme: the recycling centre's sample left the others out.
    async def funnel() -> dict[str, Any] | None:
        async for record in read_records(
            stack.options.kafka_bootstrap, [FUNNEL_PUBLISHED.name], idle_timeout=1.0
        ):
            value = json.loads(record.value or b"{}")
            if record.key == b"2026-11-24|email|kierratys" and value["sent"] == len(mailed):
                return dict(value)
        return None

    cell = await wait_until(funnel, within=60, what="the recycling centre's email funnel")
    assert cell["not_sampled"] == SAMPLED - len(mailed)


async def _mails_to(
    client: httpx.AsyncClient, stack: LocalStack, address: str
) -> list[dict[str, Any]]:
    received = (await client.get(f"{stack.sandbox_url}/sandbox/messages")).json()
    return [m for m in received["email"] if address in m["to"]]
