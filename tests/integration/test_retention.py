"""Retention, on SQLite and PostgreSQL: each service forgets what it no longer needs on
schedule (addresses, tokens, links to named answers, consumed message ids) and keeps the
rest; each purge logs counts, never values."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_collector import tables as collector_tables
from palaute_consent import tables as consent_tables
from palaute_consent.service import ConsentService
from palaute_consent.settings import ConsentSettings
from palaute_dispatcher import tables as dispatcher_tables
from palaute_dispatcher.service import DispatcherService
from palaute_dispatcher.settings import DispatcherSettings
from palaute_runtime.database import create_engine
from palaute_runtime.migrations import migrate
from palaute_schemas import InvitationSent, token_hash
from tests.conftest import ManualClock, sms_requests
from tests.integration.conftest import collector_on

# The tests' clock: records are made then, and the purge runs later on the same clock.
T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=800)


@pytest.fixture
async def engine_for(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def test_the_dispatcher_forgets_closed_invitations_and_their_addresses(
    engine_for: AsyncEngine,
) -> None:
    await migrate(engine_for, dispatcher_tables.MIGRATIONS)
    clock = ManualClock(T0)
    dispatcher = DispatcherService(engine_for, DispatcherSettings(), {}, clock=clock)
    old, recent = sms_requests("Keep", 2, 407000000)
    await dispatcher.handle_survey_requests([old])
    clock.at = LATER - timedelta(days=10)
    await dispatcher.handle_survey_requests([recent])
    clock.at = LATER
    # The partner never took either: both are given up at their send-by times.
    assert await dispatcher.deliver_due() == 2
    counts = await dispatcher.purge()
    async with engine_for.connect() as connection:
        left = list(await connection.scalars(sa.select(dispatcher_tables.invitations.c.address)))
    assert counts == {"invitations": 1, "withdrawals": 0, "inbox": 1, "early_receipts": 0}
    assert left == [recent.address], "the closed survey's address is gone, the recent one kept"


async def test_the_collector_forgets_closed_invitations_and_unlinks_old_named_answers(
    database_url: str,
) -> None:
    def sent(expires_at: datetime, token: str) -> InvitationSent:
        return InvitationSent(
            invitation_id=uuid.uuid4(),
            channel="email",
            language="en",
            contact_channel="branch",
            unit="Turku",
            contact_day=date(2024, 6, 3),
            anonymous=False,
            customer_id="C-kept",
            token_hashes=[token_hash(token)],
            recipient_ref=None,
            expires_at=expires_at,
            contact_id="K-kept",
        )

    clock = ManualClock(T0)
    async with collector_on(database_url, clock=clock, min_group_size=5) as collector:
        answered = sent(T0 + timedelta(days=14), "answered")
        await collector.handle_invitations_sent([answered])
        assert await collector.answer(answered.invitation_id, 7, "Hyvä palvelu")
        clock.at = LATER
        recent = sent(LATER + timedelta(days=1), "recent")
        await collector.handle_invitations_sent([recent])
        counts = await collector.purge()
        async with collector.engine.connect() as connection:
            row = (await connection.execute(sa.select(collector_tables.responses))).one()
        assert await collector.survey_for_token(token_hash("answered")) is None
        assert await collector.survey_for_token(token_hash("recent")) is not None
    assert (counts["invitations"], counts["tokens"], counts["response_links"]) == (1, 1, 1)
    assert counts["inbox"] == 1, "the first InvitationSent's id; the recent one's is kept"
    assert (row.invitation_id, row.customer_id, row.answered_at, row.comment) == (
        None,
        None,
        None,
        "",
    )
    assert row.score == 7, "the score stays for the figures"


async def test_consent_forgets_old_decisions_but_not_plans_waiting(
    engine_for: AsyncEngine,
) -> None:
    await migrate(engine_for, consent_tables.MIGRATIONS)
    consent = ConsentService(engine_for, ConsentSettings(), ManualClock(LATER))
    decisions = consent_tables.decisions
    async with engine_for.begin() as connection:
        await connection.execute(
            decisions.insert(),
            [
                {"contact_id": "K-old", "outcome": "sms", "decided_at": T0},
                {"contact_id": "K-waits", "outcome": "planned", "decided_at": T0},
                {"contact_id": "K-new", "outcome": "email", "decided_at": LATER},
            ],
        )
    counts = await consent.purge()
    async with engine_for.connect() as connection:
        left = sorted(await connection.scalars(sa.select(decisions.c.contact_id)))
    assert counts["decisions"] == 1
    assert left == ["K-new", "K-waits"]
