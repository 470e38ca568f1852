"""Anonymity that survives the database: an auditor with read access to the services'
PostgreSQL databases (every table, `xmin`, `ctid`, row order, timestamps) tries to tie
anonymous answers, given on the page and by SMS reply, to their invitations, in the worst
case of one unit and one day, and does no better than chance. Consent and the dispatcher
never receive anything of an answer (InvitationAnswered carries the invitation id alone); the
collector's database is where an answer could leak, and the last test reads all three.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_collector import tables
from palaute_collector.service import CollectorService
from palaute_consent import tables as consent_tables
from palaute_consent.service import ConsentService
from palaute_consent.settings import ConsentSettings
from palaute_dispatcher import tables as dispatcher_tables
from palaute_dispatcher.partner import HttpSmsPartner, SmtpEmailPartner
from palaute_dispatcher.service import DispatcherService
from palaute_dispatcher.settings import DispatcherSettings
from palaute_runtime.clock import Clock
from palaute_runtime.database import create_engine
from palaute_runtime.migrations import _config, migrate
from palaute_sandbox.server import PartnerSandbox
from palaute_schemas import (
    INVITATION_ANSWERED,
    INVITATION_SENT,
    SURVEY_REQUESTED,
    ContactClosed,
    InvitationAnswered,
    InvitationSent,
    SurveyRequested,
    recipient_ref,
    token_hash,
)
from palaute_stack.stack import LOCAL_RELEASE_RULES
from tests.conftest import queued, wait_until
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


async def raw_tuples(engine: AsyncEngine, table: str) -> list[tuple[int, int]]:
    """Every tuple in a table's heap pages, dead ones included (pageinspect: what a copy of
    the data files shows), as (xmin, size of its last column's value): the value's length
    where it is stored in the row, else the size its TOAST pointer records."""
    async with engine.begin() as connection:
        await connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
        pages = await connection.scalar(
            sa.text("SELECT pg_relation_size(:t) / current_setting('block_size')::int"),
            {"t": table},
        )
        found: list[tuple[int, int]] = []
        for page in range(int(pages or 0)):
            rows = await connection.execute(
                sa.text(
                    "SELECT t_xmin::text::bigint AS xmin, t_attrs[array_length(t_attrs, 1)] "
                    "AS value FROM heap_page_item_attrs(get_raw_page(:t, :p), "
                    "CAST(:t AS regclass)) WHERE t_attrs IS NOT NULL"
                ),
                {"t": table, "p": page},
            )
            found += [(int(row.xmin), stored_size(bytes(row.value))) for row in rows]
    return found


def stored_size(value: bytes) -> int:
    """A varlena's size as the page holds it: a TOAST pointer (first byte 0x01) records the
    value's raw size; otherwise the bytes are the value."""
    if value[:1] == b"\x01":
        return int.from_bytes(value[2:6], "little")
    return len(value)


def attack_by_size(
    every_sealed: list[tuple[int, int]],
    sealed_now: list[tuple[int, int]],
    answered: list[dict[str, object]],
    comments: list[dict[str, object]],
    truth: dict[str, uuid.UUID],
) -> None:
    """An attacker with the data files: every sealed tuple seen (xmin, size) must be one
    size; and ranking the sealed rows it can tie by xmin to an answered mark against the
    released comments, by size, matches no better than chance."""
    lengths = {length for _, length in every_sealed}
    assert len(lengths) == 1, f"sealed answers of {len(lengths)} sizes: their size tells"
    by_mark = {row["_xmin"]: row["id"] for row in answered}
    released = {truth[str(c["comment"])] for c in comments}
    # Only the released answers the attacker sees sealed (the rest are pruned from pages).
    tied = sorted(
        (
            (length, by_mark[xmin])
            for xmin, length in set(sealed_now)
            if xmin in by_mark and by_mark[xmin] in released
        ),
        key=lambda pair: pair[0],
    )
    seen_sealed = {invitation for _, invitation in tied}
    ranked = sorted(
        (c for c in comments if truth[str(c["comment"])] in seen_sealed),
        key=lambda row: len(str(row["comment"]).encode()),
    )
    by_size = sum(
        truth[str(comment["comment"])] == invitation
        for comment, (_, invitation) in zip(ranked, tied, strict=True)
    )
    assert by_size <= 8, f"{by_size} of {len(tied)} matched by size: better than chance"
    assert len(tied) >= 24, "the attacker sees most sealed answers, dead or alive"


def comment_of(n: int) -> str:
    """Very different comments: a dozen to 1,500 characters, ASCII and not."""
    word = ("ok", "kiitos", "ÄÖå€", "🙂")[n % 4]
    return f"vastaus {n}: " + " ".join([word] * (1 + (n * 97) % 1500 // (len(word) + 1)))


async def test_an_auditor_cannot_tie_anonymous_answers_to_their_invitations(
    collector: CollectorService,
) -> None:
    sent = [anonymous_invitation(n) for n in range(ANSWERS)]
    await collector.handle_invitations_sent(sent)
    truth: dict[str, uuid.UUID] = {}  # comment -> the invitation it answered
    waiting_seen: list[tuple[int, int]] = []  # the sealed rows while they wait
    for n, invitation in enumerate(sent):
        comment = comment_of(n)
        truth[comment] = invitation.invitation_id
        assert await collector.answer(invitation.invitation_id, n % 11, comment)
        waiting_seen += await raw_tuples(collector.engine, "sealed_answers")
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
    # 4. Size: every sealed answer's tuple, live while it waited or dead after its release
    #    (what the data files, the WAL or a backup keep), is as long as any other. By length
    #    an attacker would rank the sealed rows (tied by xmin to their invitation's answered
    #    mark) against the released comments: unpadded, 24 sizes among 42 rows, and by size
    #    it matched 10 of the 18 the pages still held (the whole-path test, measured).
    sealed_now = await raw_tuples(engine, "sealed_answers")
    attack_by_size(waiting_seen + sealed_now, sealed_now, answered, comments, truth)
    # 5. Order: pair comments in physical order with answers in commit order. By chance a
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
    assert len(cells) == 10  # day and week: total and unit; month: total + 5 breakdowns
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


SPLIT = 20  # anonymous surveys by email (answered on the page) and by SMS (answered by reply)


@pytest.fixture
async def three_databases(
    postgres_databases: Callable[[], Awaitable[str]],
) -> dict[str, str]:
    return {name: await postgres_databases() for name in ("consent", "dispatcher", "collector")}


async def every_row(url: str) -> dict[str, list[dict[str, object]]]:
    """Everything an auditor reads from one service's database: every table, with each
    row's xmin and ctid, in physical order."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            names = await connection.scalars(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            tables_found = list(names)
        return {name: await rows_of(engine, sa.table(name)) for name in tables_found}
    finally:
        await engine.dispose()


async def test_page_and_sms_answers_leave_no_link_in_any_services_database(
    three_databases: dict[str, str], sandbox: PartnerSandbox, tmp_path: Path
) -> None:
    """The whole path on PostgreSQL, one service per database: consent releases forty
    anonymous surveys of one unit and day, the dispatcher sends them through the sandbox, the
    collector takes twenty answers on the page and twenty by SMS reply (in random order), and
    every InvitationAnswered goes to the dispatcher as its consumer would take it. Then an
    auditor reads every table of all three databases."""
    urls = three_databases
    rng = random.Random(15)
    consent_engine = create_engine(urls["consent"])
    dispatcher_engine = create_engine(urls["dispatcher"])
    await migrate(consent_engine, consent_tables.MIGRATIONS)
    await migrate(dispatcher_engine, dispatcher_tables.MIGRATIONS)
    consent = ConsentService(
        consent_engine, ConsentSettings(frequency_cap_days=0, **LOCAL_RELEASE_RULES), Clock()
    )
    settings = DispatcherSettings(
        partner_sms_url=sandbox.http.url,
        partner_smtp_port=sandbox.settings.sandbox_smtp_port,
        **LOCAL_RELEASE_RULES,
    )
    sms = HttpSmsPartner(settings.partner_sms_url, settings.partner_api_key, settings.sms_sender)
    email = SmtpEmailPartner("127.0.0.1", settings.partner_smtp_port, settings.email_sender)
    dispatcher = DispatcherService(dispatcher_engine, settings, {"sms": sms, "email": email})
    phones = [f"+35840{8200000 + n}" for n in range(SPLIT)]
    contacts = [
        ContactClosed(
            contact_id=f"A-{uuid.uuid4().hex[:8]}",
            customer_id=f"C-{uuid.uuid4().hex[:8]}",
            contact_channel="phone",
            language="fi",
            unit="Kotka",  # one unit, one day: the worst case
            closed_at=datetime.now(UTC) - timedelta(hours=1),
            anonymous=True,
            **({"phone": phones[n]} if n < SPLIT else {"email": f"anon{n}@example.fi"}),
        )
        for n in range(2 * SPLIT)
    ]
    try:
        await consent.handle_contacts_closed(contacts)
        await consent.release_due()
        requests = [
            SurveyRequested.model_validate(p)
            for p in await queued(consent_engine, consent_tables.outbox, SURVEY_REQUESTED.name)
        ]
        await dispatcher.handle_survey_requests(requests)

        async def all_sent() -> list[InvitationSent] | None:
            await dispatcher.deliver_due()
            found = await queued(dispatcher_engine, dispatcher_tables.outbox, INVITATION_SENT.name)
            return [InvitationSent.model_validate(p) for p in found] if len(found) == 40 else None

        sent = await wait_until(all_sent, what="forty invitations sent")
        async with collector_on(urls["collector"], min_group_size=5) as collector:
            await collector.handle_invitations_sent(sent)
            by_ref = {i.recipient_ref: i.invitation_id for i in sent if i.recipient_ref}
            truth: dict[str, uuid.UUID] = {}  # comment -> the invitation it answered
            answers = [("page", i) for i in sent if i.channel == "email"]
            answers += [("sms", p) for p in phones]
            rng.shuffle(answers)
            told = 0
            waiting_seen: list[tuple[int, int]] = []  # the sealed rows while they wait
            for n, (way, target) in enumerate(answers):
                comment = "nimetön " + comment_of(n)
                if way == "page":
                    assert isinstance(target, InvitationSent)
                    truth[comment] = target.invitation_id
                    assert await collector.answer(target.invitation_id, n % 11, comment)
                else:
                    assert isinstance(target, str)
                    truth[comment] = by_ref[recipient_ref(settings.recipient_pepper, target)]
                    outcome = await collector.answer_sms(
                        target, f"{n % 11} {comment}", message_id=f"in-{uuid.uuid4()}"
                    )
                    assert outcome == "recorded"
                # The dispatcher's consumer takes each InvitationAnswered as it comes.
                answered = await queued(collector.engine, tables.outbox, INVITATION_ANSWERED.name)
                await dispatcher.handle_answered(
                    [InvitationAnswered.model_validate(p) for p in answered[told:]]
                )
                told = len(answered)
                waiting_seen += await raw_tuples(collector.engine, "sealed_answers")
                if n % 3 == 2:
                    await collector.publish_figures()  # as its loop would, now and then
            await collector.publish_figures()
            sealed_now = await raw_tuples(collector.engine, "sealed_answers")
        seen = {name: await every_row(url) for name, url in urls.items()}
    finally:
        await sms.close()
        await consent_engine.dispose()
        await dispatcher_engine.dispose()

    comments = seen["collector"]["anonymous_comments"]
    # Released in groups of five or more per survey channel; a few may still wait.
    assert {str(c["comment"]) for c in comments} <= set(truth)
    assert len(comments) >= 2 * SPLIT - 8
    # 1. Plaintext: no comment stands anywhere else in any database.
    for service, found in seen.items():
        for name, rows in found.items():
            if (service, name) != ("collector", "anonymous_comments"):
                text = repr(rows)
                assert not any(c in text for c in truth), f"an answer in {service}.{name}"
    # 2. The inbound SMS rows keep neither the partner's id nor the time of the reply.
    inbound = seen["collector"]["inbound_messages"]
    assert len(inbound) == SPLIT
    for row in inbound:
        assert not str(row["partner_message_id"]).startswith("in-")
        moment = row["received_at"]
        assert isinstance(moment, datetime)
        assert moment.astimezone(UTC).time() == datetime.min.time(), "the day only"
    # 3. Transactions: no comment shares one with anything written when an answer came.
    answer_time = {
        row["_xmin"]
        for name in ("invitations", "inbound_messages", "funnel_cells")
        for row in seen["collector"][name]
    }
    assert not answer_time & {c["_xmin"] for c in comments}
    per_batch: dict[object, int] = {}
    for c in comments:
        per_batch[c["_xmin"]] = per_batch.get(c["_xmin"], 0) + 1
    assert min(per_batch.values()) >= 5
    # 4. Size: every sealed answer's tuple, live while it waited or dead after its release
    #    (what the data files, the WAL or a backup keep), is as long as any other. By length
    #    an attacker would rank the sealed rows (tied by xmin to their invitation's answered
    #    mark) against the released comments: unpadded, 24 sizes among 42 rows, and by size
    #    it matched 10 of the 18 the pages still held (the whole-path test, measured).
    answered = [row for row in seen["collector"]["invitations"] if row["answered"]]
    attack_by_size(waiting_seen + sealed_now, sealed_now, answered, comments, truth)
    # 5. Order: the auditor knows the order in which invitations were answered, from the
    #    collector's marks and from the dispatcher's (both commit orders), and pairs it with
    #    the comments' physical order. By chance about one in five matches; unshuffled, all.
    orders = {
        service: [
            row["id"]
            for row in sorted(
                (r for r in seen[service]["invitations"] if r["answered"]),
                key=lambda row: int(str(row["_xmin"])),
            )
        ]
        for service in ("collector", "dispatcher")
    }
    assert orders["collector"] == orders["dispatcher"], "both know the same order"
    matched = sum(
        truth[str(c["comment"])] == invitation
        for c, invitation in zip(comments, orders["collector"], strict=False)
    )
    assert matched <= len(comments) // 2, f"{matched} matched by order: better than chance"
