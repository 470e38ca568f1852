"""Anonymity that survives the database: an auditor with read access to the collector's
PostgreSQL database (every table, `xmin`, `ctid`, row order) tries to tie anonymous answers
to their invitations, in the worst case of one unit and one day, and does no better than
chance. Consent and the dispatcher never receive anything of an answer (InvitationAnswered
carries the invitation id alone), so the collector's database is where an answer can leak.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_collector import tables
from palaute_collector.service import CollectorService
from palaute_runtime.database import create_engine
from palaute_runtime.migrations import _config, migrate
from palaute_schemas import InvitationAnswered, InvitationSent, token_hash
from tests.integration.conftest import collector_on

ANSWERS = 42  # released in eight groups of five; two still wait for theirs
DAY = date(2026, 2, 3)


@pytest.fixture
async def collector(postgres_url: str) -> AsyncIterator[CollectorService]:
    async with collector_on(postgres_url, min_group_size=5) as service:
        yield service


def anonymous_invitation(n: int) -> InvitationSent:
    return InvitationSent(
        invitation_id=uuid.uuid4(),
        channel="email",
        language="fi",
        contact_channel="phone",
        unit="Kotka",  # one unit, one day: the worst case
        contact_day=DAY,
        anonymous=True,
        customer_id=None,
        token_hashes=[token_hash(f"anon-{n}")],
        recipient_ref=None,
        expires_at=datetime.now(UTC) + timedelta(days=14),
    )


async def rows_of(engine: AsyncEngine, table: sa.Table) -> list[dict[str, object]]:
    """Every row of a table as the auditor sees it: columns, xmin and physical position."""
    async with engine.connect() as connection:
        result = await connection.execute(
            sa.text(
                f"SELECT *, xmin::text::bigint AS _xmin, ctid::text AS _ctid "  # noqa: S608
                f'FROM "{table.name}" ORDER BY ctid'
            )
        )
        return [dict(row._mapping) for row in result]


async def test_an_auditor_cannot_tie_anonymous_answers_to_their_invitations(
    collector: CollectorService,
) -> None:
    sent = [anonymous_invitation(n) for n in range(ANSWERS)]
    await collector.handle_invitations_sent(sent)
    truth: dict[str, uuid.UUID] = {}  # comment -> the invitation it answered
    for n, invitation in enumerate(sent):
        comment = f"vastaus numero {n}"
        truth[comment] = invitation.invitation_id
        assert await collector.answer(invitation.invitation_id, n % 11, comment)
        await collector.publish_figures()  # as its loop would, now and then

    engine = collector.engine
    everything = {
        table.name: await rows_of(engine, table) for table in tables.metadata.sorted_tables
    }
    answered = [row for row in everything["invitations"] if row["answered"]]
    comments = everything["anonymous_comments"]
    assert len(answered) == ANSWERS
    assert len(comments) == 40, "eight groups released; two answers wait for theirs"

    # 1. Columns: an anonymous answer leaves no row of its own with any attribute.
    assert set(comments[0]) == {"id", "comment", "_xmin", "_ctid"}
    assert everything["responses"] == []
    # 2. Plaintext: no comment or score stands anywhere but in the comments table.
    for name, rows in everything.items():
        if name == "anonymous_comments":
            continue
        text = repr(rows)
        assert not any(comment in text for comment in truth), f"an answer in plaintext: {name}"
    # 3. Transactions: no comment shares a transaction with an invitation's answered mark,
    #    and each batch shares one with four others at least.
    marks = {row["_xmin"] for row in answered}
    assert not marks & {row["_xmin"] for row in comments}
    per_batch: dict[object, int] = {}
    for row in comments:
        per_batch[row["_xmin"]] = per_batch.get(row["_xmin"], 0) + 1
    assert min(per_batch.values()) >= 5
    # 4. Order: pair comments in physical order with answers in commit order. By chance a
    #    shuffled batch of five keeps one in place on average (eight in all); unshuffled,
    #    all forty would match.
    by_commit = sorted(answered, key=lambda row: int(str(row["_xmin"])))
    matched = sum(
        truth[str(comment["comment"])] == mark["id"]
        for comment, mark in zip(comments, by_commit, strict=False)
    )
    assert matched <= 20, f"{matched} of 40 matched by order: better than chance"
    # The figures are all there: 40 released answers in every cell of the day, week and
    # month, and nothing else stands beside them.
    cells = everything["figure_cells"]
    assert len(cells) == 15
    assert {cell["responses"] for cell in cells} == {40}


async def test_the_dispatcher_learns_that_it_was_answered_never_what(
    collector: CollectorService,
) -> None:
    invitation = anonymous_invitation(0)
    await collector.handle_invitations_sent([invitation])
    assert await collector.answer(invitation.invitation_id, 2, "huono palvelu")
    async with collector.engine.connect() as connection:
        payloads = (
            await connection.scalars(
                sa.select(tables.outbox.c.payload).where(
                    tables.outbox.c.topic == "survey.invitation-answered.v1"
                )
            )
        ).all()
    (told,) = [InvitationAnswered.model_validate_json(p) for p in payloads]
    assert told.invitation_id == invitation.invitation_id
    assert "huono" not in payloads[0]
    assert set(InvitationAnswered.model_fields) == {
        "schema_version",
        "event_id",
        "occurred_at",
        "invitation_id",
    }


async def test_the_migration_moves_earlier_anonymous_rows_out_and_keeps_named_ones(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    responses = tables.responses

    def upgrade_to(connection: sa.Connection, revision: str) -> None:
        command.upgrade(_config(tables.MIGRATIONS, connection), revision)

    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade_to, "a1c0ffee0003")  # before anonymity held
            common = {
                "survey_channel": "email",
                "language": "fi",
                "contact_channel": "phone",
                "unit": "Kotka",
                "day": DAY,
            }
            await connection.execute(
                responses.insert(),
                [
                    {"id": uuid.uuid4(), "score": 3, "comment": "vanha nimetön", "anonymous": True}
                    | common,
                    {"id": uuid.uuid4(), "score": 4, "comment": "", "anonymous": True} | common,
                    {"id": uuid.uuid4(), "score": 9, "comment": "nimellä", "anonymous": False}
                    | common,
                ],
            )
        await migrate(engine, tables.MIGRATIONS)
        async with engine.connect() as connection:
            kept = list(await connection.scalars(sa.select(responses.c.comment)))
            moved = list(await connection.scalars(sa.select(tables.anonymous_comments.c.comment)))
    finally:
        await engine.dispose()
    assert kept == ["nimellä"]
    assert moved == ["vanha nimetön"]
