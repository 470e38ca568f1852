"""Follow-ups on request, on SQLite and PostgreSQL: a named respondent who asks gets one
FollowUpRequested for the CRM (the only message that carries a comment out), due in working
days; an anonymous one never; BI gets open and overdue counts per unit as they change."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from palaute_collector import tables
from palaute_collector.followups import due_date
from palaute_collector.service import CollectorService
from palaute_schemas import FollowUpClosed, InvitationSent, recipient_ref, token_hash
from tests.conftest import ManualClock
from tests.conftest import queued as queued_in
from tests.integration.conftest import collector_on


@pytest.fixture
async def collector(database_url: str) -> AsyncIterator[CollectorService]:
    async with collector_on(database_url, unit_countries="Malmö=SE") as service:
        yield service


def sent(
    *,
    anonymous: bool = False,
    unit: str = "Kotka",
    ref: str | None = None,
    expires_at: datetime | None = None,
) -> InvitationSent:
    return InvitationSent(
        invitation_id=uuid.uuid4(),
        channel="sms" if ref else "email",
        language="fi",
        contact_channel="phone",
        unit=unit,
        contact_day=date(2026, 2, 12),
        anonymous=anonymous,
        customer_id=None if anonymous else "C-follow",
        token_hashes=[] if ref else [token_hash(uuid.uuid4().hex)],
        recipient_ref=ref,
        expires_at=expires_at or datetime.now(UTC) + timedelta(days=14),
        contact_id=None if anonymous else "K-follow",
    )


async def queued(collector: CollectorService, topic: str) -> list[dict[str, Any]]:
    return await queued_in(collector.engine, tables.outbox, topic)


# 23:30 UTC on a Wednesday is already Thursday in Malmö.
PAST_MIDNIGHT_IN_MALMO = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)


async def test_a_named_respondent_who_asks_gets_one_follow_up_for_the_crm(
    database_url: str,
) -> None:
    async with collector_on(
        database_url, clock=ManualClock(PAST_MIDNIGHT_IN_MALMO), unit_countries="Malmö=SE"
    ) as collector:
        invitation = sent(unit="Malmö", expires_at=PAST_MIDNIGHT_IN_MALMO + timedelta(days=14))
        await collector.handle_invitations_sent([invitation])
        assert await collector.answer(
            invitation.invitation_id, 2, "Ingen ringde tillbaka", 1, follow_up=True
        )
        (request,) = await queued(collector, "survey.follow-up-requested.v1")
        figures = await queued(collector, "survey.follow-up-figures.v1")
    # Working days count from the day it is in Malmö (Thursday 3 December: due Tuesday the
    # 8th), not from the UTC day (Wednesday: due Monday the 7th).
    today_in_malmo = date(2026, 12, 3)
    assert due_date(today_in_malmo, 3, "SE") != due_date(PAST_MIDNIGHT_IN_MALMO.date(), 3, "SE")
    assert request["customer_id"] == "C-follow"
    assert request["contact_id"] == "K-follow"
    assert (request["unit"], request["score"], request["csat"]) == ("Malmö", 2, 1)
    assert request["comment"] == "Ingen ringde tillbaka"
    assert date.fromisoformat(request["due_date"]) == due_date(today_in_malmo, 3, "SE")
    assert [(f["unit"], f["open"], f["overdue"]) for f in figures] == [("Malmö", 1, 0)]


async def test_no_follow_up_unless_asked_and_never_for_an_anonymous_survey(
    collector: CollectorService,
) -> None:
    named, anonymous = sent(), sent(anonymous=True)
    await collector.handle_invitations_sent([named, anonymous])
    assert await collector.answer(named.invitation_id, 9, "hyvä")
    assert await collector.answer(anonymous.invitation_id, 1, "soittakaa", follow_up=True)
    assert await queued(collector, "survey.follow-up-requested.v1") == []


async def test_an_sms_reply_that_asks_for_a_call_is_a_follow_up(
    collector: CollectorService,
) -> None:
    number = "+358405557777"
    await collector.handle_invitations_sent(
        [sent(ref=recipient_ref(collector.settings.recipient_pepper, number))]
    )
    assert await collector.answer_sms(number, "3 soittakaa minulle") == "recorded"
    (request,) = await queued(collector, "survey.follow-up-requested.v1")
    assert (request["score"], request["comment"]) == (3, "soittakaa minulle")


async def test_open_and_overdue_counts_follow_closing_and_the_date(
    collector: CollectorService,
) -> None:
    first, second = sent(), sent()
    await collector.handle_invitations_sent([first, second])
    for invitation in (first, second):
        assert await collector.answer(invitation.invitation_id, 4, "", follow_up=True)
    requests = await queued(collector, "survey.follow-up-requested.v1")
    await collector.handle_follow_ups_closed(
        [
            FollowUpClosed(
                follow_up_id=uuid.UUID(requests[0]["follow_up_id"]), closed_at=datetime.now(UTC)
            )
        ]
    )
    late = date.fromisoformat(requests[1]["due_date"]) + timedelta(days=1)
    assert await collector.publish_follow_up_figures(today=late) == 1
    assert await collector.publish_follow_up_figures(today=late) == 0, "only changes"
    figures = await queued(collector, "survey.follow-up-figures.v1")
    assert [(f["open"], f["overdue"]) for f in figures] == [(1, 0), (2, 0), (1, 0), (1, 1)]
