"""Repository contracts, each run on SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_collector import tables as collector_tables
from palaute_collector.service import CollectorService
from palaute_consent import tables as consent_tables
from palaute_consent.register import OptOutRegister
from palaute_runtime.database import create_engine
from palaute_runtime.messaging import Inbox, Outbox
from palaute_runtime.migrations import differences, migrate
from palaute_schemas import (
    AGGREGATE_PUBLISHED,
    SURVEY_SUPPRESSED,
    AggregatePublished,
    InvitationSent,
    SurveySuppressed,
    recipient_ref,
    token_hash,
)
from tests.integration.conftest import collector_on

AUDIT_KEY = "test-audit-key"


@pytest.fixture
async def consent_db(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await migrate(engine, consent_tables.MIGRATIONS)
    yield engine
    await engine.dispose()


@pytest.fixture
async def collector(database_url: str) -> AsyncIterator[CollectorService]:
    async with collector_on(database_url, min_group_size=5) as service:
        yield service


class TestOptOutRegister:
    async def test_added_identifiers_forbid_surveys_and_removal_lifts_them(
        self, consent_db: AsyncEngine
    ) -> None:
        async with consent_db.begin() as connection:
            register = OptOutRegister(connection, AUDIT_KEY)
            assert await register.add(
                "phone", "+358401234567", source="sms_stop", reason="STOP", actor="sms_stop"
            )
            assert await register.add(
                "email",
                "Asiakas@Example.fi",
                source="email_unsubscribe",
                reason="a test",
                actor="x",
            )
            assert not await register.add(
                "phone", "+358401234567", source="customer_service", reason="again", actor="x"
            )
        async with consent_db.begin() as connection:
            register = OptOutRegister(connection, AUDIT_KEY)
            assert await register.forbids(customer_id="C9", phone="+358401234567", email=None)
            assert await register.forbids(customer_id=None, phone=None, email="asiakas@example.fi")
            assert not await register.forbids(customer_id="C9", phone="+358409999999", email=None)
            assert await register.remove("phone", "+358401234567", reason="asked back", actor="po")
            assert not await register.remove("phone", "+358401234567", reason="a test", actor="po")
            assert not await register.forbids(customer_id=None, phone="+358401234567", email=None)

    async def test_every_change_is_audited_in_order(self, consent_db: AsyncEngine) -> None:
        async with consent_db.begin() as connection:
            register = OptOutRegister(connection, AUDIT_KEY)
            await register.add(
                "customer_id", "C1", source="privacy_officer", reason="objection", actor="po-1"
            )
            await register.remove("customer_id", "C1", reason="withdrawn", actor="po-2")
            trail = await register.audit_trail()
        assert [(row["action"], row["actor"], row["reason"]) for row in trail] == [
            ("add", "po-1", "objection"),
            ("remove", "po-2", "withdrawn"),
        ]
        assert all(datetime.fromisoformat(row["at"]).tzinfo for row in trail)


class TestInboxAndOutbox:
    async def test_inbox_accepts_an_event_once_per_consumer(self, consent_db: AsyncEngine) -> None:
        event_id = uuid.uuid4()
        first, second = Inbox(consent_tables.inbox, "a"), Inbox(consent_tables.inbox, "b")
        async with consent_db.begin() as connection:
            assert await first.first_deliveries(connection, [event_id]) == {event_id}
            assert await first.first_deliveries(connection, [event_id]) == set()
            assert await second.first_deliveries(connection, [event_id, event_id]) == {event_id}

    async def test_outbox_row_exists_only_if_its_transaction_commits(
        self, consent_db: AsyncEngine
    ) -> None:
        outbox = Outbox(consent_tables.outbox)
        message = SurveySuppressed(contact_id="K-1", reason="no_channel")

        async def add_then_fail() -> None:
            async with consent_db.begin() as connection:
                await outbox.add(connection, SURVEY_SUPPRESSED, message)
                raise RuntimeError("effect failed")

        with pytest.raises(RuntimeError):
            await add_then_fail()
        async with consent_db.begin() as connection:
            await outbox.add(connection, SURVEY_SUPPRESSED, message)
        async with consent_db.connect() as connection:
            rows = (await connection.execute(sa.select(consent_tables.outbox))).all()
        assert [(r.topic, r.key) for r in rows] == [(SURVEY_SUPPRESSED.name, "K-1")]


def invitation(
    *, anonymous: bool, day: date, token: str | None = None, ref: str | None = None
) -> InvitationSent:
    return InvitationSent(
        invitation_id=uuid.uuid4(),
        channel="email" if token else "sms",
        language="fi",
        contact_channel="chat",
        unit="Kotka",
        contact_day=day,
        anonymous=anonymous,
        customer_id=None if anonymous else "C-7",
        token_hashes=[token_hash(token)] if token else [],
        recipient_ref=ref,
        expires_at=datetime.now(UTC) + timedelta(days=14),
    )


class TestCollectorStore:
    async def test_a_token_answers_once(self, collector: CollectorService) -> None:
        sent = invitation(anonymous=False, day=date(2026, 1, 5), token="tok-1")
        await collector.handle_invitations_sent([sent])
        await collector.handle_invitations_sent([sent])  # redelivery: no second row
        survey = await collector.survey_for_token(token_hash("tok-1"))
        assert survey is not None
        assert survey.state == "open"
        assert await collector.answer(survey.invitation_id, 9, "hyvä")
        assert not await collector.answer(survey.invitation_id, 3, "again")
        answered = await collector.survey_for_token(token_hash("tok-1"))
        assert answered is not None
        assert answered.state == "answered"
        assert await collector.survey_for_token(token_hash("unknown")) is None

    async def test_anonymous_answers_wait_sealed_then_only_count_and_comments_stand_alone(
        self, collector: CollectorService
    ) -> None:
        sent = [
            invitation(anonymous=True, day=date(2026, 1, 6), token=f"tok-anon-{n}")
            for n in range(5)
        ]
        await collector.handle_invitations_sent(sent)
        for n, one in enumerate(sent[:4]):
            assert await collector.answer(one.invitation_id, 4 + n, f"nimetön {n}")

        async def stored() -> tuple[list[str], int, list[str], int]:
            async with collector.engine.connect() as connection:
                sealed = list(
                    await connection.scalars(sa.select(collector_tables.sealed_answers.c.sealed))
                )
                named = await connection.scalar(
                    sa.select(sa.func.count()).select_from(collector_tables.responses)
                )
                comments = list(
                    await connection.scalars(
                        sa.select(collector_tables.anonymous_comments.c.comment)
                    )
                )
                counted = await connection.scalar(
                    sa.select(
                        sa.func.coalesce(
                            sa.func.sum(collector_tables.aggregate_cells.c.responses), 0
                        )
                    )
                )
            return sealed, int(named or 0), comments, int(counted or 0)

        sealed, named, comments, counted = await stored()
        assert len(sealed) == 4
        assert not any("nimet" in text for text in sealed), "sealed: no plaintext"
        assert (named, comments, counted) == (0, [], 0), "nothing readable until a batch is full"
        assert await collector.answer(sent[4].invitation_id, 9, "")
        sealed, named, comments, counted = await stored()
        assert (sealed, named, counted) == ([], 0, 5), "folded into the counts, no row each"
        assert sorted(comments) == [f"nimetön {n}" for n in range(4)]

    async def test_cells_publish_at_min_group_and_then_every_min_group_more(
        self, collector: CollectorService
    ) -> None:
        day = date(2026, 1, 7)
        for n in range(12):
            sent = invitation(anonymous=False, day=day, token=f"t{n}")
            await collector.handle_invitations_sent([sent])
            assert await collector.answer(sent.invitation_id, [10, 9, 8, 3][n % 4], "")
        async with collector.engine.connect() as connection:
            payloads = (
                (
                    await connection.execute(
                        sa.select(collector_tables.outbox.c.payload)
                        .where(collector_tables.outbox.c.topic == AGGREGATE_PUBLISHED.name)
                        .order_by(collector_tables.outbox.c.id)
                    )
                )
                .scalars()
                .all()
            )
        published = [AggregatePublished.model_validate_json(p) for p in payloads]
        # Scores 10, 9, 8, 3 repeating: after ten, 6 promoters, 2 passives, 2 detractors.
        assert [(p.responses, p.promoters, p.passives, p.detractors, p.nps) for p in published] == [
            (5, 3, 1, 1, 40.0),
            (10, 6, 2, 2, 40.0),
        ]
        assert {(p.day, p.contact_channel) for p in published} == {(day, "chat")}

    async def test_csat_beside_nps_each_over_the_answers_that_gave_it(
        self, collector: CollectorService
    ) -> None:
        day = date(2026, 1, 17)
        for n, (score, csat) in enumerate([(10, 5), (9, None), (None, 4), (3, 2), (None, 1)]):
            sent = invitation(anonymous=False, day=day, token=f"csat{n}")
            await collector.handle_invitations_sent([sent])
            assert await collector.answer(sent.invitation_id, score, "", csat)
        with pytest.raises(ValueError, match="NPS score, a CSAT score or both"):
            await collector.answer(uuid.uuid4(), None, "")
        async with collector.engine.connect() as connection:
            (payload,) = await connection.scalars(
                sa.select(collector_tables.outbox.c.payload).where(
                    collector_tables.outbox.c.topic == AGGREGATE_PUBLISHED.name
                )
            )
        cell = AggregatePublished.model_validate_json(payload)
        assert (cell.responses, cell.nps_responses, cell.csat_responses) == (5, 3, 4)
        assert (cell.promoters, cell.passives, cell.detractors, cell.nps) == (2, 0, 1, 33.3)
        assert (cell.satisfied, cell.csat) == (2, 50.0)

    async def test_sms_reply_answers_the_senders_open_invitation(
        self, collector: CollectorService
    ) -> None:
        ref = recipient_ref(collector.settings.recipient_pepper, "+358401234567")
        await collector.handle_invitations_sent(
            [invitation(anonymous=False, day=date(2026, 1, 8), ref=ref)]
        )
        assert await collector.answer_sms("+358401234567", "hello?") == "unreadable"
        assert await collector.answer_sms("+358409999999", "9") == "held"
        assert await collector.answer_sms("+358401234567", "9 kiitos") == "recorded"
        assert await collector.answer_sms("+358401234567", "10") == "held", "already answered"
        assert await collector.answer_sms("+358401234567", "STOP") == "opted_out"


@pytest.mark.parametrize("service", ["consent", "dispatcher", "collector"])
async def test_migrations_build_exactly_the_schema_the_models_describe(
    database_url: str, service: str
) -> None:
    tables = importlib.import_module(f"palaute_{service}.tables")
    engine = create_engine(database_url)
    try:
        await migrate(engine, tables.MIGRATIONS)
        await migrate(engine, tables.MIGRATIONS)  # a restart finds nothing to do
        async with engine.connect() as connection:
            missing = await connection.run_sync(differences, tables.metadata)
    finally:
        await engine.dispose()
    assert missing == [], "write a migration: palaute-migrations revision SERVICE -m ..."


async def test_an_sms_reply_that_outruns_its_invitation_is_held_and_then_applied(
    collector: CollectorService,
) -> None:
    ref = recipient_ref(collector.settings.recipient_pepper, "+358405550000")
    sent = invitation(anonymous=False, day=date(2026, 1, 9), ref=ref)  # sent by the dispatcher
    assert await collector.answer_sms("+358405550000", "10 nopeaa") == "held"
    await collector.handle_invitations_sent([sent])
    async with collector.engine.connect() as connection:
        stored = (
            await connection.execute(
                sa.select(
                    collector_tables.responses.c.score, collector_tables.responses.c.comment
                ).where(collector_tables.responses.c.invitation_id == sent.invitation_id)
            )
        ).all()
        held = await connection.scalar(
            sa.select(sa.func.count()).select_from(collector_tables.held_replies)
        )
    assert [tuple(row) for row in stored] == [(10, "nopeaa")]
    assert held == 0
