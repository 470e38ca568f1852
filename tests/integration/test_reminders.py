"""The one reminder, on SQLite and PostgreSQL: consent asks for it N days after release,
inside the recipient's send window and never after an opt-out; the dispatcher sends it
through the partner sandbox (real HTTP and SMTP) with the same survey link, once, and never
for an invitation that was answered, withdrawn or not sent."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from palaute_consent import tables as consent_tables
from palaute_consent.service import ConsentService
from palaute_consent.settings import ConsentSettings
from palaute_dispatcher import tables as dispatcher_tables
from palaute_dispatcher.service import DispatcherService
from palaute_dispatcher.settings import DispatcherSettings
from palaute_runtime.database import create_engine
from palaute_runtime.migrations import migrate
from palaute_sandbox.server import PartnerSandbox
from palaute_schemas import (
    InvitationAnswered,
    InvitationSent,
    ReminderSent,
    SurveyReminderDue,
    SurveyRequested,
    SurveyWithdrawn,
    token_hash,
)
from tests.conftest import ManualClock, sms_requests, wait_until
from tests.integration.conftest import collector_on
from tests.integration.test_consent_release import (
    HELSINKI,
    TUESDAY_3AM,
    clock_of,
    contact,
    published,
)
from tests.integration.test_partner_flow import dispatcher_for

LINK = re.compile(r"https?://\S+/s/\S+")
FRIDAY_9AM = TUESDAY_3AM.replace(day=27, hour=9)  # release Tuesday 09:00, three days later


@pytest.fixture
async def consent(database_url: str) -> AsyncIterator[ConsentService]:
    engine = create_engine(database_url)
    await migrate(engine, consent_tables.MIGRATIONS)
    settings = ConsentSettings(reminder_after_days=3)
    yield ConsentService(engine, settings, ManualClock(TUESDAY_3AM))
    await engine.dispose()


async def reminders_asked(service: ConsentService) -> list[dict[str, Any]]:
    return [p for t, p in await published(service) if t == "survey.reminder-due.v1"]


async def released_and_due(service: ConsentService) -> str:
    """One contact closed Tuesday 03:00 and released at 09:00; its contact id."""
    event = contact()
    await service.handle_contacts_closed([event])
    clock_of(service).at = TUESDAY_3AM.replace(hour=9)
    assert await service.release_due() == 1
    return event.contact_id


async def test_a_reminder_is_asked_for_once_n_days_later_inside_the_window(
    consent: ConsentService,
) -> None:
    contact_id = await released_and_due(consent)
    next_at = await consent.next_release_at()
    assert next_at is not None
    assert next_at.astimezone(HELSINKI) == FRIDAY_9AM
    clock_of(consent).at = FRIDAY_9AM - timedelta(minutes=1)
    assert await consent.remind_due() == 0
    clock_of(consent).at = FRIDAY_9AM
    assert await consent.remind_due() == 1
    assert await consent.remind_due() == 0, "asked for once"
    (asked,) = await reminders_asked(consent)
    assert asked["contact_id"] == contact_id
    closes = datetime.fromisoformat(asked["send_by"]).astimezone(HELSINKI)
    assert closes == FRIDAY_9AM.replace(hour=20), "not after the window closes"
    assert await consent.next_release_at() is None


async def test_a_reminder_falling_outside_the_window_waits_for_the_next_opening(
    consent: ConsentService,
) -> None:
    await released_and_due(consent)
    # The service was down all Friday: at 21:00 the window has closed; Saturday 10:00 opens.
    clock_of(consent).at = FRIDAY_9AM.replace(hour=21)
    assert await consent.remind_due() == 1
    assert await reminders_asked(consent) == []
    saturday = FRIDAY_9AM.replace(day=28, hour=10)
    next_at = await consent.next_release_at()
    assert next_at is not None
    assert next_at.astimezone(HELSINKI) == saturday
    clock_of(consent).at = saturday
    assert await consent.remind_due() == 1
    (asked,) = await reminders_asked(consent)
    closes = datetime.fromisoformat(asked["send_by"]).astimezone(HELSINKI)
    assert closes == saturday.replace(hour=18)


async def test_an_opt_out_before_the_reminder_stops_it(consent: ConsentService) -> None:
    await released_and_due(consent)
    async with consent.engine.begin() as connection:
        withdrawn = await consent.register_opt_out(
            connection, "phone", "+358401234567", source="sms_stop", reason="STOP", actor="test"
        )
    assert withdrawn == 1
    assert await consent.next_release_at() is None, "no reminder left to wait for"
    clock_of(consent).at = FRIDAY_9AM
    assert await consent.remind_due() == 0
    assert await reminders_asked(consent) == []


async def test_the_register_is_asked_again_when_the_reminder_is_due(
    consent: ConsentService,
) -> None:
    await released_and_due(consent)
    # An entry that reached the register without its withdrawal (say, restored from a backup).
    async with consent.engine.begin() as connection:
        await consent.register(connection).add(
            "phone", "+358401234567", source="privacy_officer", reason="restored", actor="po"
        )
    clock_of(consent).at = FRIDAY_9AM
    assert await consent.remind_due() == 1
    assert await reminders_asked(consent) == []


async def test_reminders_are_off_by_default(database_url: str) -> None:
    engine = create_engine(database_url)
    await migrate(engine, consent_tables.MIGRATIONS)
    service = ConsentService(engine, ConsentSettings(), ManualClock(TUESDAY_3AM))
    try:
        await released_and_due(service)
        assert await service.next_release_at() is None
        clock_of(service).at = FRIDAY_9AM + timedelta(days=7)
        assert await service.remind_due() == 0
    finally:
        await engine.dispose()


def reminder_for(request: SurveyRequested, within: timedelta = timedelta(hours=1)) -> Any:
    return SurveyReminderDue(contact_id=request.contact_id, send_by=datetime.now(UTC) + within)


async def rows(dispatcher: DispatcherService) -> list[Any]:
    async with dispatcher.engine.connect() as connection:
        return list(
            await connection.execute(
                sa.select(dispatcher_tables.invitations).order_by(
                    dispatcher_tables.invitations.c.created_at
                )
            )
        )


async def queued(dispatcher: DispatcherService, topic: str) -> list[dict[str, Any]]:
    async with dispatcher.engine.connect() as connection:
        payloads = await connection.scalars(
            sa.select(dispatcher_tables.outbox.c.payload).where(
                dispatcher_tables.outbox.c.topic == topic
            )
        )
        return [json.loads(payload) for payload in payloads]


async def deliver_all(dispatcher: DispatcherService) -> None:
    """Delivery rounds until nothing is pending."""

    async def nothing_pending() -> bool:
        await dispatcher.deliver_due()
        return all(row.status != "pending" for row in await rows(dispatcher))

    await wait_until(nothing_pending, within=20, what="every pending message to be handled")


def email_request() -> SurveyRequested:
    run = uuid.uuid4().hex[:8]
    return SurveyRequested.model_validate(
        {
            "contact_id": f"Rem-{run}",
            "customer_id": f"C-{run}",
            "channel": "email",
            "address": f"muistutus.{run}@example.fi",
            "language": "fi",
            "contact_channel": "chat",
            "unit": "Muistutus",
            "contact_day": "2026-11-24",
            "anonymous": False,
        }
    )


async def test_an_unanswered_email_is_reminded_once_with_a_link_to_the_same_survey(
    sandbox: PartnerSandbox, database_url: str, tmp_path: Path
) -> None:
    request = email_request()
    async with dispatcher_for(sandbox, database_url) as dispatcher:
        await dispatcher.handle_survey_requests([request])
        await deliver_all(dispatcher)
        # Consent's reminder, and a second one for the same survey (a replay): one reminder.
        await dispatcher.handle_reminders_due([reminder_for(request), reminder_for(request)])
        await dispatcher.handle_reminders_due([reminder_for(request)])
        await deliver_all(dispatcher)
        sent = await queued(dispatcher, "survey.invitation-sent.v1")
        reminded = await queued(dispatcher, "survey.reminder-sent.v1")
        invitation, reminder = await rows(dispatcher)
    first, second = sandbox.recorder.email
    assert first["subject"].startswith("Miten onnistuimme")
    assert second["subject"].startswith("Muistutus: ")
    assert "ainoa muistutus" in second["text"]
    assert first["headers"]["Message-ID"] != second["headers"]["Message-ID"]
    assert "List-Unsubscribe" in second["headers"]
    assert (reminder.status, reminder.reminder_of) == ("sent", invitation.id)
    assert len(sent) == 1, "a reminder is no new invitation to the collector"
    # Tokens are random: the reminder's link has its own, announced for the same invitation,
    # and only hashes are kept once the partner has the messages.
    links = [LINK.findall(message["text"])[0] for message in (first, second)]
    tokens = [link.rsplit("/", 1)[1] for link in links]
    assert tokens[0] != tokens[1]
    assert sent[0]["token_hashes"] == [token_hash(tokens[0])]
    assert reminded == [
        {
            **reminded[0],
            "invitation_id": str(invitation.id),
            "token_hashes": [token_hash(tokens[1])],
        }
    ]
    assert (invitation.token_sealed, reminder.token_sealed) == (None, None)
    # Whoever holds the dispatcher's key and reads the topic derives nothing (tokens were an
    # HMAC of the invitation id under that key before).
    secret = DispatcherSettings().token_secret.encode()
    derived = hmac.new(secret, invitation.id.bytes, hashlib.sha256).digest()
    guess = base64.urlsafe_b64encode(derived).rstrip(b"=").decode()
    assert token_hash(guess) not in sent[0]["token_hashes"] + reminded[0]["token_hashes"]
    async with collector_on(f"sqlite+aiosqlite:///{tmp_path}/collector.db") as collector:
        await collector.handle_invitations_sent([InvitationSent.model_validate(sent[0])])
        await collector.handle_reminders_sent([ReminderSent.model_validate(reminded[0])])
        for token in tokens:
            survey = await collector.survey_for_token(token_hash(token))
            assert survey is not None
            assert (survey.invitation_id, survey.state) == (invitation.id, "open")


async def test_no_reminder_for_an_answered_withdrawn_or_unsent_invitation(
    sandbox: PartnerSandbox,
    database_url: str,
) -> None:
    answered, withdrawn, late = sms_requests("NoRem", 3, 403000000)
    async with dispatcher_for(sandbox, database_url) as dispatcher:
        await dispatcher.handle_survey_requests([answered, withdrawn])
        await deliver_all(dispatcher)
        first_rows = {row.contact_id: row for row in await rows(dispatcher)}
        await dispatcher.handle_answered(
            [InvitationAnswered(invitation_id=first_rows[answered.contact_id].id)]
        )
        await dispatcher.handle_withdrawals(
            [SurveyWithdrawn(contact_id=withdrawn.contact_id, reason="opted_out")]
        )
        await dispatcher.handle_survey_requests([late])  # requested, not sent yet
        await dispatcher.handle_reminders_due(
            [reminder_for(answered), reminder_for(withdrawn), reminder_for(late)]
        )
        statuses = sorted((row.contact_id, row.status) for row in await rows(dispatcher))
    assert [m["to"] for m in sandbox.recorder.sms] == [answered.address, withdrawn.address]
    assert statuses == sorted(
        [
            (answered.contact_id, "sent"),
            (withdrawn.contact_id, "sent"),
            (late.contact_id, "pending"),
        ]
    ), "no reminder row for any of them"


async def test_an_answer_before_the_reminder_goes_cancels_it(
    sandbox: PartnerSandbox,
    database_url: str,
) -> None:
    (request,) = sms_requests("Cancel", 1, 404000000)
    async with dispatcher_for(sandbox, database_url) as dispatcher:
        await dispatcher.handle_survey_requests([request])
        await deliver_all(dispatcher)
        await dispatcher.handle_reminders_due([reminder_for(request)])
        invitation, reminder = await rows(dispatcher)
        assert reminder.status == "pending"
        await dispatcher.handle_answered([InvitationAnswered(invitation_id=invitation.id)])
        await dispatcher.deliver_due()
        _, reminder = await rows(dispatcher)
    assert reminder.status == "cancelled"
    assert len(sandbox.recorder.sms) == 1, "only the invitation"


async def test_an_sms_reminder_says_so_and_one_not_sent_before_its_window_closes_never_is(
    sandbox: PartnerSandbox,
    database_url: str,
) -> None:
    on_time, too_late = sms_requests("Window", 2, 405000000, language="sv")
    async with dispatcher_for(sandbox, database_url) as dispatcher:
        await dispatcher.handle_survey_requests([on_time, too_late])
        await deliver_all(dispatcher)
        closes = datetime.now(UTC) + timedelta(seconds=1)
        await dispatcher.handle_reminders_due(
            [reminder_for(too_late, within=closes - datetime.now(UTC))]
        )

        async def window_closed() -> bool:
            return datetime.now(UTC) > closes

        await wait_until(window_closed, within=5, what="the reminder's window to close")
        await dispatcher.handle_reminders_due([reminder_for(on_time)])
        await deliver_all(dispatcher)
        by_contact = {
            (row.contact_id, row.reminder_of is not None): row.status
            for row in await rows(dispatcher)
        }
        failed = await queued(dispatcher, "survey.invitation-failed.v1")
    assert by_contact[(too_late.contact_id, True)] == "expired"
    assert by_contact[(on_time.contact_id, True)] == "sent"
    texts = [m["text"] for m in sandbox.recorder.sms if m["to"] == on_time.address]
    assert len(texts) == 2
    assert texts[1].startswith("Påminnelse från")
    assert len([m for m in sandbox.recorder.sms if m["to"] == too_late.address]) == 1
    assert failed == [], "a reminder not sent loses no survey: no InvitationFailed"
