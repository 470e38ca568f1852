"""The promises, end to end: CRM event in, partner sandbox and figures topic as the proof."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from palaute_collector.followups import due_date
from palaute_collector.tables import anonymous_comments, responses
from palaute_dispatcher.content_policy import violations
from palaute_dispatcher.tables import invitations
from palaute_dispatcher.templates import Invitation
from palaute_runtime.database import create_engine
from palaute_schemas import (
    CONTACT_CLOSED,
    FIGURES_PUBLISHED,
    FOLLOW_UP_CLOSED,
    FOLLOW_UP_FIGURES,
    FOLLOW_UP_REQUESTED,
    FUNNEL_PUBLISHED,
    INVITATION_ANSWERED,
    INVITATION_SENT,
    SURVEY_REQUESTED,
    SURVEY_SUPPRESSED,
    FollowUpClosed,
)
from tests.conftest import wait_until
from tests.e2e.conftest import ANY_LINK, LINK, Pipeline, contact, e164, mobile

HELSINKI = ZoneInfo("Europe/Helsinki")

pytestmark = pytest.mark.e2e


def consent_cli(pipeline: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    """The privacy officer's command, against the running stack's register."""
    env = os.environ | {"PALAUTE_DATA_DIR": str(pipeline.stack.options.data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "palaute_consent", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def suppression_of(pipeline: Pipeline, contact_id: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        for record in await pipeline.records(SURVEY_SUPPRESSED.name):
            if record["value"]["contact_id"] == contact_id:
                return dict(record["value"])
        return None

    return await wait_until(found, what="the contact's SurveySuppressed")


async def figure(pipeline: Pipeline, key: str, responses: int) -> dict[str, Any]:
    """The newest revision of one cell (`grain|period|dimension|value`) once it counts
    `responses` answers, however many release steps it took to get there.

    What the release rule promises is checked on every step: each revision adds 0 or at
    least the minimum group of answers to the one before (the first adds to nothing).
    """
    min_group = pipeline.stack.collector_settings.min_group_size

    async def revisions() -> list[dict[str, Any]] | None:
        # The local broker does not compact, and a relay may publish a revision twice:
        # one record per revision, in revision order (not the order they were read in).
        by_revision = {
            record["value"]["revision"]: dict(record["value"])
            for record in await pipeline.records(FIGURES_PUBLISHED.name)
            if record["key"] == key
        }
        ordered = [by_revision[n] for n in sorted(by_revision)]
        return ordered if ordered and ordered[-1]["responses"] == responses else None

    ordered = await wait_until(revisions, what=f"figure {key} with {responses} responses")
    counted = 0
    for cell in ordered:
        step = cell["responses"] - counted
        assert step == 0 or step >= min_group, f"{key} revision {cell['revision']} adds {step}"
        counted = cell["responses"]
    return ordered[-1]


async def test_opted_out_customer_gets_nothing(pipeline: Pipeline) -> None:
    phone = mobile()
    event = contact(phone=phone)
    added = consent_cli(
        pipeline,
        "optout",
        "add",
        "--customer-id",
        event.customer_id,
        "--reason",
        "asked customer service for no surveys",
    )
    assert added.returncode == 0, added.stderr
    await pipeline.publish(event)
    assert (await suppression_of(pipeline, event.contact_id))["reason"] == "opted_out"
    requested = [
        r
        for r in await pipeline.records(SURVEY_REQUESTED.name)
        if r["value"]["contact_id"] == event.contact_id
    ]
    assert requested == []
    received = await pipeline.received()
    assert [m for m in received["sms"] if m["to"] == e164(phone)] == []


async def test_sms_invitation_contains_no_link(pipeline: Pipeline) -> None:
    phone = mobile()
    await pipeline.publish(contact(phone=phone, language="fi"))
    (sms,) = await pipeline.messages_to(e164(phone))
    assert ANY_LINK.findall(sms["text"]) == []
    assert violations(Invitation("", sms["text"]), allow_links_to=None) == []
    assert "0-10" in sms["text"]
    assert "Vastaa" in sms["text"]


async def test_email_invitation_links_only_to_the_survey_origin(pipeline: Pipeline) -> None:
    address = "kund.e2e@example.se"
    await pipeline.publish(contact(phone="09 3101 2345", email=address, language="sv"))
    (email,) = await pipeline.messages_to(address)
    links = ANY_LINK.findall(email["text"])
    assert len(links) == 3, "the survey, its privacy notice and the unsubscribe link"
    assert links[0].startswith(f"{pipeline.stack.collector_url}/s/")
    assert links[1] == f"{pipeline.stack.collector_url}/privacy/default/sv"
    assert links[2].startswith(f"{pipeline.stack.collector_url}/u/")
    assert len(links[0].rsplit("/", 1)[1]) >= 22, "at least 128 bits of token"
    assert email["subject"].startswith("Hur lyckades vi")
    assert (
        violations(
            Invitation(email["subject"], email["text"]), allow_links_to=pipeline.stack.collector_url
        )
        == []
    )


async def test_duplicate_event_gives_one_invitation(pipeline: Pipeline) -> None:
    phone = mobile()
    first = contact(phone=phone)
    sentinel = contact(phone=phone, customer_id=first.customer_id)
    republished_contact = contact(
        phone=phone, customer_id=first.customer_id, contact_id=first.contact_id
    )
    for event in (first, first, republished_contact, sentinel):
        await pipeline.publish(event)
    # The sentinel shares the customer's partition, so once it is through, so are the copies.
    await pipeline.messages_to(e164(phone), count=2)
    requested = [
        r["value"]["contact_id"]
        for r in await pipeline.records(SURVEY_REQUESTED.name)
        if r["key"] == first.customer_id
    ]
    assert sorted(requested) == sorted([first.contact_id, sentinel.contact_id])
    received = await pipeline.received()
    assert len([m for m in received["sms"] if m["to"] == e164(phone)]) == 2


async def test_answers_by_page_and_by_sms_reply_reach_every_breakdown(
    pipeline: Pipeline,
) -> None:
    day = date(2026, 3, 2)
    emails = [f"e2e.page{n}@example.fi" for n in range(5)]
    phones = [mobile() for _ in range(5)]
    for address in emails:
        await pipeline.publish(contact(day=day, contact_channel="branch", email=address))
    for phone in phones:
        await pipeline.publish(contact(day=day, contact_channel="branch", phone=phone))
    page_answers = [(10, 5), (9, 4), (6, 2), (8, None), (None, 5)]
    for address, (score, csat) in zip(emails, page_answers, strict=True):
        (email,) = await pipeline.messages_to(address)
        thanks = await pipeline.answer_page(email, score, "Selkeä vastaus", csat=csat)
        assert thanks.status_code == 200
        assert "Kiitos vastauksestasi" in thanks.text
        (link,) = LINK.findall(email["text"])
        again = await pipeline.http.post(link, data={"score": "0"})
        assert again.status_code == 409, "a token answers once"
    for phone, reply in zip(phones, ("8 kiitos", "10/10", "9", "3", "7"), strict=True):
        await pipeline.messages_to(e164(phone))
        assert (await pipeline.reply_sms(e164(phone), reply))["status"] == "recorded"

    def figures(cell: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            cell[name]
            for name in ("promoters", "passives", "detractors", "nps", "csat_responses", "csat")
        )

    page = await figure(pipeline, "day|2026-03-02|survey_channel|email", responses=5)
    assert figures(page) == (2, 1, 1, 25.0, 4, 75.0), "NPS of four, CSAT of four"
    sms = await figure(pipeline, "day|2026-03-02|survey_channel|sms", responses=5)
    assert figures(sms) == (2, 2, 1, 20.0, 0, None), "SMS asks NPS only"
    for key in ("total|", "contact_channel|branch", "language|fi", "unit|Kotka"):
        cell = await figure(pipeline, f"day|2026-03-02|{key}", responses=10)
        assert figures(cell) == (4, 3, 2, 22.2, 4, 75.0)
    assert "comment" not in json.dumps(cell), "free text never leaves the collector"
    # The week and the month count the same release; their records may reach the topic
    # (other partitions) a moment after the day's.
    for period in ("2026-W10", "2026-03"):

        async def counted(period: str = period) -> bool:
            cells = [r["value"] for r in await pipeline.records(FIGURES_PUBLISHED.name)]
            return any(c["period"] == period and c["responses"] >= 10 for c in cells)

        await wait_until(counted, what=f"the figures of {period} to count the ten answers")


async def test_a_cell_under_five_responses_is_not_published(pipeline: Pipeline) -> None:
    small, full = date(2026, 3, 3), date(2026, 3, 4)
    small_phones = [mobile() for _ in range(5)]
    full_phones = [mobile() for _ in range(5)]
    for phone in small_phones:
        await pipeline.publish(contact(day=small, contact_channel="social_media", phone=phone))
    for phone in full_phones:
        await pipeline.publish(contact(day=full, contact_channel="social_media", phone=phone))
    for phone in small_phones[:4] + full_phones:
        await pipeline.messages_to(e164(phone))
        assert (await pipeline.reply_sms(e164(phone), "9"))["status"] == "recorded"
    # The full cell was answered after the small one: once it is out, the small one would be.
    await figure(pipeline, "day|2026-03-04|contact_channel|social_media", responses=5)
    cells = [r["value"] for r in await pipeline.records(FIGURES_PUBLISHED.name)]
    assert [c for c in cells if c["period"] == small.isoformat()] == []
    await pipeline.messages_to(e164(small_phones[4]))
    assert (await pipeline.reply_sms(e164(small_phones[4]), "3"))["status"] == "recorded"
    cell = await figure(pipeline, "day|2026-03-03|contact_channel|social_media", responses=5)
    assert (cell["promoters"], cell["detractors"]) == (4, 1)


async def test_each_periods_total_says_how_many_answers_came_and_how_many_it_counts(
    pipeline: Pipeline,
) -> None:
    """The coverage BI shows as "5 of 6 answers": a day's total cell carries the answers
    received of the day beside the answers in its figures; below five, nothing at all."""
    day = date(2026, 5, 19)
    phones = [mobile() for _ in range(6)]
    for n, phone in enumerate(phones):
        unit = "Kotka" if n < 5 else "Hamina"  # the sixth waits: a unit of one
        await pipeline.publish(contact(day=day, phone=phone, unit=unit, contact_channel="chat"))
    for phone in phones:
        await pipeline.messages_to(e164(phone))

    async def total(received: int) -> dict[str, Any] | None:
        revisions = sorted(
            (
                dict(record["value"])
                for record in await pipeline.records(FIGURES_PUBLISHED.name)
                if record["key"] == "day|2026-05-19|total|"
            ),
            key=lambda cell: int(cell["revision"]),
        )
        return revisions[-1] if revisions and revisions[-1]["received"] == received else None

    for phone in phones[:4]:
        assert (await pipeline.reply_sms(e164(phone), "8"))["status"] == "recorded"
    assert (await pipeline.reply_sms(e164(phones[4]), "10"))["status"] == "recorded"
    cell = await wait_until(lambda: total(5), what="the day's total saying 5 answers came")
    assert (cell["responses"], cell["received"]) == (5, 5)
    assert (await pipeline.reply_sms(e164(phones[5]), "10"))["status"] == "recorded"
    cell = await wait_until(lambda: total(6), what="the day's total saying 6 answers came")
    assert (cell["responses"], cell["received"]) == (5, 6)
    every = [r["value"] for r in await pipeline.records(FIGURES_PUBLISHED.name)]
    ours = [c for c in every if c["period"] == day.isoformat()]
    # Never fewer than five received published; breakdowns carry no count of their own.
    assert all(c["received"] is None or c["received"] >= 5 for c in ours)
    assert {c["received"] for c in ours if c["dimension"] != "total"} == {None}
    week = [c for c in every if c["grain"] == "week" and c["period"] == "2026-W21"]
    assert max(c["received"] or 0 for c in week if c["dimension"] == "total") >= 6


async def test_malformed_event_lands_in_the_dead_letter_topic_and_the_next_flows(
    pipeline: Pipeline,
) -> None:
    not_a_contact = json.loads(contact().model_dump_json()) | {"contact_channel": "pigeon"}
    await pipeline.publish_raw(b'{"contact_id": "K-broken"', "C-broken")
    await pipeline.publish_raw(json.dumps(not_a_contact).encode(), not_a_contact["customer_id"])
    phone = mobile()
    await pipeline.publish(contact(phone=phone))
    await pipeline.messages_to(e164(phone))

    async def letters() -> list[dict[str, Any]]:
        found = await pipeline.records(CONTACT_CLOSED.dead_letter)
        ours = [r for r in found if r["key"] in ("C-broken", not_a_contact["customer_id"])]
        return ours if len(ours) == 2 else []

    dead = await wait_until(letters, what="both dead letters")
    assert {r["headers"]["palaute-dlt-reason"] for r in dead} == {"invalid"}
    assert all(r["headers"]["palaute-dlt-original-topic"] == CONTACT_CLOSED.name for r in dead)
    assert any("contact_channel" in r["headers"]["palaute-dlt-error"] for r in dead)


async def test_a_bad_phone_is_an_outcome_not_a_dead_letter(pipeline: Pipeline) -> None:
    address = "huono.numero@example.fi"
    by_email = contact(phone="12345", email=address)
    no_way = contact(phone="12345")
    await pipeline.publish(by_email)
    await pipeline.publish(no_way)
    (email,) = await pipeline.messages_to(address)
    assert email["to"] == [address]
    assert (await suppression_of(pipeline, no_way.contact_id))["reason"] == "invalid_phone"
    letters = await pipeline.records(CONTACT_CLOSED.dead_letter)
    assert not [r for r in letters if r["key"] in (by_email.customer_id, no_way.customer_id)]


async def test_anonymous_answers_have_no_link_to_the_customer_and_no_row_of_their_own(
    pipeline: Pipeline,
) -> None:
    events = [
        contact(email=f"anonyymi{n}.e2e@example.fi", anonymous=True, day=date(2026, 3, 5))
        for n in range(5)
    ]
    for event in events:
        await pipeline.publish(event)
    emails = [(await pipeline.messages_to(event.email or ""))[0] for event in events]

    async def all_sent() -> list[dict[str, Any]] | None:
        # The dispatcher announces an invitation after the partner took it: the sandbox
        # may hold a message a moment before its InvitationSent is on the topic.
        found = [
            r["value"]
            for r in await pipeline.records(INVITATION_SENT.name)
            if r["value"]["contact_day"] == "2026-03-05"
        ]
        return found if len(found) >= 5 else None

    sent = await wait_until(all_sent, what="the five InvitationSent records")
    assert len(sent) == 5
    assert all(one["customer_id"] is None and one["anonymous"] is True for one in sent)
    assert not any(event.customer_id in json.dumps(sent) for event in events)
    for n, email in enumerate(emails):
        answer = await pipeline.answer_page(email, 7, f"anonyymi kommentti {n}")
        assert answer.status_code == 200
    # Released into the figures together; only then are the comments written, shuffled.
    cell = await figure(pipeline, "day|2026-03-05|contact_channel|phone", responses=5)
    assert cell["passives"] == 5
    async with pipeline.collector_db.connect() as connection:
        rows = (
            await connection.execute(
                sa.select(responses).where(responses.c.comment.like("anonyymi kommentti%"))
            )
        ).all()
        comments = list(
            await connection.scalars(
                sa.select(anonymous_comments.c.comment).where(
                    anonymous_comments.c.comment.like("anonyymi kommentti%")
                )
            )
        )
    assert rows == [], "an anonymous answer has no row of its own"
    assert sorted(comments) == [f"anonyymi kommentti {n}" for n in range(5)]


async def test_stop_reply_opts_the_number_out_of_later_surveys(pipeline: Pipeline) -> None:
    phone = mobile()
    await pipeline.publish(contact(phone=phone, language="sv"))
    await pipeline.messages_to(e164(phone))
    assert (await pipeline.reply_sms(e164(phone), "STOPP"))["status"] == "opted_out"

    async def registered() -> bool:
        listing = consent_cli(pipeline, "optout", "list")
        return e164(phone) in listing.stdout

    await wait_until(registered, what="the STOP reply in the opt-out register")
    later = contact(phone=phone)  # another customer id, same number
    await pipeline.publish(later)
    assert (await suppression_of(pipeline, later.contact_id))["reason"] == "opted_out"
    audit = consent_cli(pipeline, "optout", "audit").stdout
    assert '"source": "sms_stop"' in audit


async def test_a_killed_service_is_restarted_said_so_and_loses_nothing(pipeline: Pipeline) -> None:
    supervisor = pipeline.stack.supervisor
    assert supervisor is not None
    dispatcher = supervisor.services["dispatcher"]
    before, old_pid = dispatcher.restarts, dispatcher.pid
    supervisor.kill("dispatcher", signal.SIGKILL)
    phone = mobile()
    await pipeline.publish(contact(phone=phone))  # while the dispatcher is down
    await supervisor.wait_restarted("dispatcher", before + 1)
    assert dispatcher.pid != old_pid
    assert any(line.startswith("dispatcher exited with code -9") for line in pipeline.said)
    (message,) = await pipeline.messages_to(e164(phone))
    assert message["to"] == e164(phone)


async def test_a_stop_reply_withdraws_that_numbers_invitation_waiting_for_a_retry(
    pipeline: Pipeline,
) -> None:
    phone = mobile()
    await pipeline.publish(contact(phone=phone))
    await pipeline.messages_to(e164(phone))
    dispatcher_db = create_engine(pipeline.stack.dispatcher_settings.database_url)
    faults = f"{pipeline.stack.sandbox_url}/sandbox/faults"
    await pipeline.http.post(faults, json={"fail_next": 1_000_000})
    try:
        waiting = contact(phone=phone)  # a second survey to the number, while the partner fails
        await pipeline.publish(waiting)

        async def status() -> str | None:
            async with dispatcher_db.connect() as connection:
                row = (
                    await connection.execute(
                        sa.select(invitations.c.status, invitations.c.attempts).where(
                            invitations.c.contact_id == waiting.contact_id
                        )
                    )
                ).first()
            if row is None or row.attempts == 0:
                return None
            return str(row.status)

        assert await wait_until(status, what="a failed first attempt") == "pending"
        assert (await pipeline.reply_sms(e164(phone), "STOP"))["status"] == "opted_out"

        async def withdrawn() -> bool:
            return await status() == "withdrawn"

        await wait_until(withdrawn, what="the waiting invitation to be withdrawn")
    finally:
        await pipeline.http.post(faults, json={"fail_next": 0})
        await dispatcher_db.dispose()
    received = await pipeline.received()
    assert [m["to"] for m in received["sms"]].count(e164(phone)) == 1


async def test_one_click_unsubscribe_in_an_email_reaches_the_register(pipeline: Pipeline) -> None:
    address = f"leave-{mobile()}@example.fi"
    await pipeline.publish(contact(email=address, language="sv"))
    (email,) = await pipeline.messages_to(address)
    headers = email["headers"]
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = headers["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith(f"{pipeline.stack.collector_url}/u/")
    assert address not in unsubscribe, "the address travels sealed, never readable"
    assert unsubscribe in email["html"], "the HTML part offers it too"
    assert unsubscribe in email["text"], "and the plain text part"
    assert email["raw_headers"]["List-Unsubscribe"] == f"<{unsubscribe}>", "plain on the wire"
    page = await pipeline.http.get(unsubscribe)
    assert page.status_code == 200
    assert "<form" in page.text
    assert "Jag vill inte ha fler enkäter" in page.text
    tampered = unsubscribe[:-4] + ("AAAA" if not unsubscribe.endswith("AAAA") else "BBBB")
    assert (await pipeline.http.post(tampered)).status_code == 404
    # What a mail provider sends for a one-click unsubscribe (RFC 8058).
    done = await pipeline.http.post(
        unsubscribe,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200
    assert "Vi skickar inga fler kundenkäter" in done.text

    async def registered() -> bool:
        listed = await asyncio.to_thread(consent_cli, pipeline, "optout", "list")
        entries = [json.loads(line) for line in listed.stdout.splitlines()]
        return any(e["value"] == address and e["source"] == "email_unsubscribe" for e in entries)

    await wait_until(registered, within=30, what="the address in the opt-out register")
    later = contact(email=address)
    await pipeline.publish(later)
    assert (await suppression_of(pipeline, later.contact_id))["reason"] == "opted_out"


async def test_an_answer_tells_the_dispatcher_so_and_nothing_of_the_answer(
    pipeline: Pipeline,
) -> None:
    address = f"answered-{mobile()}@example.fi"
    closed = contact(email=address)
    await pipeline.publish(closed)
    (email,) = await pipeline.messages_to(address)
    assert (await pipeline.answer_page(email, 3, comment="Jonotin pitkään")).status_code == 200
    dispatcher_db = create_engine(pipeline.stack.dispatcher_settings.database_url)
    try:

        async def answered() -> Any:
            async with dispatcher_db.connect() as connection:
                return (
                    await connection.execute(
                        sa.select(invitations.c.id).where(
                            invitations.c.contact_id == closed.contact_id,
                            invitations.c.answered.is_(True),
                        )
                    )
                ).first()

        (invitation_id,) = await wait_until(answered, what="the dispatcher to know it answered")
    finally:
        await dispatcher_db.dispose()
    (told,) = [
        record["value"]
        for record in await pipeline.records(INVITATION_ANSWERED.name)
        if record["value"]["invitation_id"] == str(invitation_id)
    ]
    assert set(told) == {"schema_version", "event_id", "occurred_at", "invitation_id"}


async def test_an_sms_reply_answers_only_the_survey_it_replies_to(pipeline: Pipeline) -> None:
    phone = mobile()
    # Unsolicited, before any survey to the number: held, and never for a later survey.
    assert (await pipeline.reply_sms(e164(phone), "0"))["status"] == "held"
    closed = contact(phone=phone)
    await pipeline.publish(closed)
    await pipeline.messages_to(e164(phone))
    replay = f"in-{closed.contact_id}"
    assert (await pipeline.reply_sms(e164(phone), "9", replay))["status"] == "recorded"
    assert (await pipeline.reply_sms(e164(phone), "9", replay))["status"] == "duplicate"
    async with pipeline.collector_db.connect() as connection:
        scores = list(
            await connection.scalars(
                sa.select(responses.c.score).where(responses.c.customer_id == closed.customer_id)
            )
        )
    assert scores == [9], "one answer: the reply, once; the unsolicited 0 answered nothing"


async def test_a_follow_up_asked_on_the_page_reaches_the_crm_and_its_closing_reaches_bi(
    pipeline: Pipeline,
) -> None:
    unit = f"Seuranta-{mobile()}"
    address = f"seuranta-{mobile()}@example.fi"
    closed = contact(email=address, unit=unit)
    await pipeline.publish(closed)
    (email,) = await pipeline.messages_to(address)
    (link,) = LINK.findall(email["text"])
    page = await pipeline.http.get(link)
    assert 'name="follow_up"' in page.text, "a named survey offers a follow-up"
    # Working days count from the day it is in Finland when the answer comes (it may turn
    # while the test runs).
    days = {datetime.now(HELSINKI).date()}
    answer = await pipeline.http.post(
        link, data={"score": "2", "comment": "Asia jäi kesken", "follow_up": "yes"}
    )
    assert answer.status_code == 200

    async def requested() -> dict[str, Any] | None:
        for record in await pipeline.records(FOLLOW_UP_REQUESTED.name):
            if record["value"]["unit"] == unit:
                return dict(record["value"])
        return None

    request = await wait_until(requested, what="the FollowUpRequested for the CRM")
    assert (request["customer_id"], request["contact_id"]) == (
        closed.customer_id,
        closed.contact_id,
    )
    assert request["comment"] == "Asia jäi kesken"
    days.add(datetime.now(HELSINKI).date())
    assert date.fromisoformat(request["due_date"]) in {due_date(day, 3, "FI") for day in days}
    done = FollowUpClosed(
        follow_up_id=uuid.UUID(request["follow_up_id"]), closed_at=datetime.now(UTC)
    )
    await pipeline.producer.send_and_wait(
        FOLLOW_UP_CLOSED.name, done.model_dump_json().encode(), key=request["follow_up_id"].encode()
    )

    async def figures() -> list[tuple[int, int]] | None:
        found = [
            (r["value"]["open"], r["value"]["overdue"])
            for r in await pipeline.records(FOLLOW_UP_FIGURES.name)
            if r["value"]["unit"] == unit
        ]
        return found if len(found) >= 2 else None

    assert await wait_until(figures, what="the unit's figures after closing") == [(1, 0), (0, 0)]


async def test_the_funnel_matches_what_the_partner_received_and_what_was_answered(
    pipeline: Pipeline,
) -> None:
    day = date(2026, 4, 1)
    addresses = [f"suppilo{n}-{mobile()}@example.fi" for n in range(5)]
    for address in addresses:
        await pipeline.publish(contact(day=day, email=address, contact_channel="web_form"))
    received = [(await pipeline.messages_to(address))[0] for address in addresses]
    for email in received:
        assert (await pipeline.answer_page(email, 9)).status_code == 200

    async def funnel() -> dict[str, Any] | None:
        for record in await pipeline.records(FUNNEL_PUBLISHED.name):
            cell = record["value"]
            if (cell["day"], cell["channel"], cell["answered"]) == (day.isoformat(), "email", 5):
                return dict(cell)
        return None

    cell = await wait_until(funnel, within=30, what="the funnel cell with five answers")
    assert (cell["sent"], cell["opened"], cell["response_rate"]) == (len(received), 5, 100.0)


async def test_an_erasure_by_customer_id_alone_leaves_nothing_at_the_partner(
    pipeline: Pipeline,
) -> None:
    phone, address = mobile(), f"vain-tunnus-{mobile()}@example.fi"
    first = contact(phone=phone)
    second = contact(customer_id=first.customer_id, email=address)
    for event in (first, second):
        await pipeline.publish(event)
    await pipeline.messages_to(e164(phone))
    await pipeline.messages_to(address)
    made = await asyncio.to_thread(
        consent_cli, pipeline, "tokens", "create", "erasure-by-id", "--role", "officer"
    )
    assert made.returncode == 0, made.stderr
    bearer = {"Authorization": f"Bearer {made.stdout.strip()}"}
    api = pipeline.stack.http_urls["consent"] + "/api/v1/requests"
    filed = await pipeline.http.post(
        api,
        json={"kind": "erasure", "customer_id": first.customer_id, "reason": "by letter"},
        headers=bearer,
    )
    assert filed.status_code == 201, filed.text

    async def completed() -> dict[str, Any] | None:
        answer = await pipeline.http.get(f"{api}/{filed.json()['request_id']}", headers=bearer)
        body: dict[str, Any] = answer.json()
        return body if body["complete"] else None

    done = await wait_until(completed, what="every service's erasure")
    dispatcher = done["services"]["dispatcher"]
    assert (dispatcher["erased"], dispatcher["partner_deleted"]) == ({"invitations": 2}, True)
    # Each processor's part, said: the sandbox's API deleted, the relay cannot be asked.
    assert dispatcher["processors"]["sandbox"] == "deleted"
    assert dispatcher["processors"]["email relay"].startswith("not asked: SMTP has no deletion")
    received = json.dumps(await pipeline.received())
    assert e164(phone) not in received, "the partner deleted the SMS"
    assert address not in received, "and the email, though the request named neither"
