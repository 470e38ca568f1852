"""An SMS reply answers the survey it replies to, on SQLite and PostgreSQL: the newest
invitation sent to that number before the reply came and still open then. A webhook
delivered twice counts once; an early, unsolicited or late reply answers nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from palaute_collector import tables
from palaute_collector.service import CollectorService
from palaute_runtime.database import as_utc
from palaute_schemas import ErasureRequested, InvitationSent
from tests.conftest import EXAMPLE_PROGRAMMES
from tests.integration.conftest import collector_on

NUMBER = "+358405551234"


@pytest.fixture
async def collector(database_url: str) -> AsyncIterator[CollectorService]:
    async with collector_on(database_url) as service:
        yield service


def sms_invitation(
    collector: CollectorService,
    *,
    sent_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> InvitationSent:
    sent = sent_at or datetime.now(UTC)
    return InvitationSent(
        invitation_id=uuid.uuid4(),
        occurred_at=sent,
        channel="sms",
        language="fi",
        contact_channel="phone",
        unit="Kotka",
        contact_day=date(2026, 2, 10),
        anonymous=False,
        customer_id="C-sms",
        token_hashes=[],
        recipient_ref=collector.settings.pseudonyms(NUMBER)[0],
        expires_at=expires_at or sent + timedelta(days=14),
    )


async def answers(collector: CollectorService) -> dict[uuid.UUID, int]:
    async with collector.engine.connect() as connection:
        rows = await connection.execute(
            sa.select(tables.responses.c.invitation_id, tables.responses.c.score)
        )
        return {row.invitation_id: row.score for row in rows}


async def test_a_webhook_delivered_twice_counts_once_and_never_answers_a_later_survey(
    collector: CollectorService,
) -> None:
    first = sms_invitation(collector, sent_at=datetime.now(UTC) - timedelta(hours=1))
    await collector.handle_invitations_sent([first])
    assert await collector.answer_sms(NUMBER, "9", message_id="in-1") == "recorded"
    assert await collector.answer_sms(NUMBER, "9", message_id="in-1") == "duplicate"
    later = sms_invitation(collector)
    await collector.handle_invitations_sent([later])
    assert await collector.answer_sms(NUMBER, "9", message_id="in-1") == "duplicate"
    assert await answers(collector) == {first.invitation_id: 9}


async def test_an_unsolicited_reply_before_any_survey_answers_nothing(
    collector: CollectorService,
) -> None:
    assert await collector.answer_sms(NUMBER, "0", message_id="in-early") == "held"
    survey = sms_invitation(collector)  # sent after the reply came
    await collector.handle_invitations_sent([survey])
    assert await answers(collector) == {}, "a reply from before the survey is not for it"
    assert await collector.answer_sms(NUMBER, "8", message_id="in-real") == "recorded"
    assert await answers(collector) == {survey.invitation_id: 8}


async def test_a_reply_that_outran_the_record_of_its_invitation_answers_it(
    collector: CollectorService,
) -> None:
    survey = sms_invitation(collector, sent_at=datetime.now(UTC) - timedelta(minutes=2))
    # The partner delivered the SMS and the reply came before the collector heard of it.
    assert await collector.answer_sms(NUMBER, "10 nopeaa", message_id="in-fast") == "held"
    await collector.handle_invitations_sent([survey])
    assert await answers(collector) == {survey.invitation_id: 10}
    async with collector.engine.connect() as connection:
        held = await connection.scalar(sa.select(sa.func.count()).select_from(tables.held_replies))
    assert held == 0


async def test_a_reply_held_by_the_partner_answers_only_what_was_sent_before_it_came(
    collector: CollectorService,
) -> None:
    survey = sms_invitation(collector)
    await collector.handle_invitations_sent([survey])
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    outcome = await collector.answer_sms(NUMBER, "3", received_at=an_hour_ago)
    assert outcome == "held", "received before this survey was sent"
    assert await answers(collector) == {}


async def test_a_late_reply_to_a_closed_survey_answers_nothing(
    collector: CollectorService,
) -> None:
    now = datetime.now(UTC)
    closed = sms_invitation(
        collector, sent_at=now - timedelta(days=15), expires_at=now - timedelta(days=1)
    )
    await collector.handle_invitations_sent([closed])
    assert await collector.answer_sms(NUMBER, "7") == "held"
    assert await answers(collector) == {}


async def test_a_held_reply_is_sealed_to_one_size_and_keeps_only_the_hour_after_it(
    collector: CollectorService,
) -> None:
    """Nothing of what a held reply says, nor exactly when it came, shows in its row: a
    short reply and a long one seal to the same length."""
    # Bounded before and after: the test holds across a turn of the hour too.
    before = datetime.now(UTC)
    assert await collector.answer_sms(NUMBER, "2 huono palvelu") == "held"
    assert await collector.answer_sms("+358401234999", "9 " + "kiitos " * 200) == "held"
    after = datetime.now(UTC)
    async with collector.engine.connect() as connection:
        rows = (await connection.execute(sa.select(tables.held_replies))).all()
    assert all("huono" not in row.sealed for row in rows)
    assert len({len(row.sealed) for row in rows}) == 1, "its size tells nothing"
    for row in rows:
        kept = as_utc(row.received_at)
        assert (kept.minute, kept.second, kept.microsecond) == (0, 0, 0)
        assert before < kept <= after + timedelta(hours=1), "the hour after it came"


async def test_after_a_pepper_rotation_a_reply_still_answers_and_an_erasure_still_finds(
    database_url: str,
) -> None:
    """An invitation pseudonymised under the old pepper, the collector since configured with
    `2:new,1:old`: the reply answers it, and an erasure by phone finds it."""
    async with collector_on(database_url, recipient_pepper="1:old-pepper") as before:
        invitation = sms_invitation(before)
    rotated = "2:new-pepper,1:old-pepper"
    async with collector_on(database_url, recipient_pepper=rotated) as collector:
        await collector.handle_invitations_sent([invitation])
        assert await collector.answer_sms(NUMBER, "8", message_id="rot-1") == "recorded"
        assert await answers(collector) == {invitation.invitation_id: 8}
        await collector.handle_erasure_requests(
            [ErasureRequested(request_id=uuid.uuid4(), phone=NUMBER)]
        )
        assert await answers(collector) == {}


async def test_a_reply_to_a_csat_only_programme_answers_csat_and_a_number_past_five_nothing(
    database_url: str,
) -> None:
    async with collector_on(database_url, programmes_file=EXAMPLE_PROGRAMMES) as collector:
        csat_only = sms_invitation(
            collector, sent_at=datetime.now(UTC) - timedelta(minutes=5)
        ).model_copy(update={"unit": "Kierrätyskeskus Kotka", "programme": "kierratys"})
        await collector.handle_invitations_sent([csat_only])
        assert await collector.answer_sms(NUMBER, "7", message_id="in-7") == "unreadable"
        assert await collector.answer_sms(NUMBER, "4 kiitos", message_id="in-4") == "recorded"
        async with collector.engine.connect() as connection:
            row = (
                await connection.execute(
                    sa.select(tables.responses.c.score, tables.responses.c.csat).where(
                        tables.responses.c.invitation_id == csat_only.invitation_id
                    )
                )
            ).one()
        assert (row.score, row.csat) == (None, 4)
