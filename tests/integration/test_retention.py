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
from palaute_runtime.clock import Clock
from palaute_runtime.database import create_engine
from palaute_runtime.migrations import migrate
from palaute_runtime.retention import INBOX_KEEP
from palaute_schemas import InvitationSent, token_hash
from tests.conftest import sms_requests
from tests.integration.conftest import collector_on

LONG_AGO = datetime.now(UTC) - timedelta(days=800)


@pytest.fixture
async def engine_for(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def age_inbox(engine: AsyncEngine, inbox: sa.Table) -> None:
    """Make every consumed-message id older than the inbox keeps them."""
    async with engine.begin() as connection:
        await connection.execute(
            inbox.update().values(handled_at=datetime.now(UTC) - INBOX_KEEP - timedelta(days=1))
        )


async def test_the_dispatcher_forgets_closed_invitations_and_their_addresses(
    engine_for: AsyncEngine,
) -> None:
    await migrate(engine_for, dispatcher_tables.MIGRATIONS)
    dispatcher = DispatcherService(engine_for, DispatcherSettings(), {})
    old, recent = sms_requests("Keep", 2, 407000000)
    await dispatcher.handle_survey_requests([old, recent])
    await age_inbox(engine_for, dispatcher_tables.inbox)
    invitations = dispatcher_tables.invitations
    async with engine_for.begin() as connection:
        await connection.execute(invitations.update().values(status="sent"))
        await connection.execute(
            invitations.update()
            .where(invitations.c.contact_id == old.contact_id)
            .values(expires_at=LONG_AGO)
        )
    counts = await dispatcher.purge()
    async with engine_for.connect() as connection:
        left = list(await connection.scalars(sa.select(invitations.c.address)))
    assert counts == {"invitations": 1, "withdrawals": 0, "inbox": 2}
    assert left == [recent.address], "the closed survey's address is gone, the open one kept"


async def test_the_collector_forgets_closed_invitations_and_unlinks_old_named_answers(
    database_url: str,
) -> None:
    now = datetime.now(UTC)

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

    async with collector_on(database_url, min_group_size=5) as collector:
        answered, closed = sent(now + timedelta(days=1), "open"), sent(LONG_AGO, "closed")
        await collector.handle_invitations_sent([answered, closed])
        assert await collector.answer(answered.invitation_id, 7, "Hyvä palvelu")
        responses = collector_tables.responses
        async with collector.engine.begin() as connection:
            await connection.execute(responses.update().values(answered_at=LONG_AGO))
        counts = await collector.purge()
        async with collector.engine.connect() as connection:
            row = (await connection.execute(sa.select(responses))).one()
        assert await collector.survey_for_token(token_hash("closed")) is None
        assert await collector.survey_for_token(token_hash("open")) is not None
    assert (counts["invitations"], counts["tokens"], counts["response_links"]) == (1, 1, 1)
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
    consent = ConsentService(engine_for, ConsentSettings(), Clock())
    decisions = consent_tables.decisions
    async with engine_for.begin() as connection:
        await connection.execute(
            decisions.insert(),
            [
                {"contact_id": "K-old", "outcome": "sms", "decided_at": LONG_AGO},
                {"contact_id": "K-waits", "outcome": "planned", "decided_at": LONG_AGO},
                {"contact_id": "K-new", "outcome": "email", "decided_at": datetime.now(UTC)},
            ],
        )
    counts = await consent.purge()
    async with engine_for.connect() as connection:
        left = sorted(await connection.scalars(sa.select(decisions.c.contact_id)))
    assert counts["decisions"] == 1
    assert left == ["K-new", "K-waits"]
