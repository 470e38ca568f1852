"""A Polish customer, end to end on the real broker: a contact of a unit in Poland, sent as
`pl-PL` the way the CRM writes it, is surveyed in Polish (an SMS in one GSM-7 segment, an
email with its plural forms), answered and heard in Polish (scores, stop words, call
requests and their negations), its pages read in Polish in a browser, and its send window
follows Poland's public holidays."""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
import sqlalchemy as sa
from playwright.async_api import BrowserContext

from palaute_collector.tables import responses
from palaute_consent.tables import opt_outs, plans
from palaute_dispatcher.sms import segments
from palaute_runtime.database import as_utc, create_engine
from palaute_schemas import FOLLOW_UP_REQUESTED
from tests.conftest import wait_until
from tests.e2e.conftest import (
    LINK,
    POLISH_UNIT,
    Pipeline,
    add_staff,
    contact,
    mobile,
    reply_stop_and_wait,
)

pytestmark = pytest.mark.e2e

WARSAW = ZoneInfo("Europe/Warsaw")
HELSINKI = ZoneInfo("Europe/Helsinki")
# Stop words the README documents for Polish; "nie" alone answers the question.
POLISH_STOPS = ("STOP", "koniec", "Wypisz", "wypisz mnie", "Rezygnuję")
_numbers = itertools.count(5_000_000)


def polish_mobile() -> str:
    """A fresh valid Polish mobile number, as a Polish CRM writes it (+48 and nine digits)."""
    return f"+48 51{next(_numbers):07d}"


def e164(number: str) -> str:
    return number.replace(" ", "")


async def test_a_polish_customer_is_surveyed_and_heard_in_polish(pipeline: Pipeline) -> None:
    answering, asking, declining = polish_mobile(), polish_mobile(), polish_mobile()
    by_sms = [
        contact(unit=POLISH_UNIT, language="pl-PL", phone=number)
        for number in (answering, asking, declining)
    ]
    address = f"jan.kowalski.{uuid.uuid4().hex[:8]}@example.pl"
    by_email = contact(unit=POLISH_UNIT, language="pl-PL", email=address)
    for event in (*by_sms, by_email):
        await pipeline.publish(event)

    for number in (answering, asking, declining):
        (sms,) = await pipeline.messages_to(e164(number))
        assert sms["text"].startswith("Palaute dziekuje! Polecisz nas? Odpowiedz 0-10"), sms
        cost = segments(sms["text"])
        assert (cost.encoding, cost.count) == ("GSM-7", 1), cost
    (email,) = await pipeline.messages_to(address)
    assert email["subject"] == "Jak nam poszło? Krótka ankieta o Twoim kontakcie"
    assert "Dzień dobry," in email["text"]
    assert re.search(r"a link jest ważny przez \d+ (?:dzień|dni)\.", email["text"])
    assert "/privacy/default/pl" in email["text"]

    # Replies as Polish customers type them.
    assert (await pipeline.reply_sms(e164(answering), "9, dziękuję"))["status"] == "recorded"
    assert (await pipeline.reply_sms(e164(asking), "3 proszę o kontakt"))["status"] == "recorded"
    assert (await pipeline.reply_sms(e164(declining), "4 nie dzwońcie"))["status"] == "recorded"
    async with pipeline.collector_db.connect() as connection:
        scores = {
            row.comment: row.score
            for row in await connection.execute(
                sa.select(responses.c.comment, responses.c.score).where(
                    responses.c.unit == POLISH_UNIT, responses.c.survey_channel == "sms"
                )
            )
        }
    assert scores["dziękuję"] == 9
    assert scores["proszę o kontakt"] == 3

    async def follow_ups() -> list[dict[str, Any]] | None:
        found = [
            r["value"]
            for r in await pipeline.records(FOLLOW_UP_REQUESTED.name)
            if r["value"]["unit"] == POLISH_UNIT
        ]
        return found or None

    (asked,) = await wait_until(follow_ups, what="the Polish follow-up for the CRM")
    assert asked["customer_id"] == by_sms[1].customer_id
    assert (asked["language"], asked["comment"]) == ("pl", "proszę o kontakt")
    # Due in Polish working days (Poland's holidays), counted from a day in Warsaw.
    assert date.fromisoformat(asked["due_date"]).weekday() < 5

    # "nie" answers nothing and opts nobody out; each documented stop word does.
    saying_no = polish_mobile()
    assert (await pipeline.reply_sms(e164(saying_no), "nie"))["status"] == "unreadable"
    stoppers = {e164(polish_mobile()): word for word in POLISH_STOPS}
    for number, word in stoppers.items():
        assert (await pipeline.reply_sms(number, word))["status"] == "opted_out", word

    consent_db = create_engine(pipeline.stack.consent_settings.database_url)

    async def registered() -> set[str] | None:
        async with consent_db.connect() as connection:
            found = set(
                await connection.scalars(
                    sa.select(opt_outs.c.value).where(
                        opt_outs.c.value.in_([*stoppers, e164(saying_no)])
                    )
                )
            )
        return found if set(stoppers) <= found else None

    try:
        found = await wait_until(registered, what="the Polish STOPs in the register")
    finally:
        await consent_db.dispose()
    assert found == set(stoppers), "every stop word, and not the 'nie'"


def eve_of_a_polish_holiday() -> date:
    """The next day before a Polish public holiday that Finland works (Corpus Christi, the
    Constitution, the Assumption, Independence Day, ...): a Tuesday to Thursday holiday
    between two Polish working days."""
    start = date.today() + timedelta(days=2)
    years = range(start.year, start.year + 3)
    poland, finland = (
        holidays.country_holidays("PL", years=years),
        holidays.country_holidays("FI", years=years),
    )
    for offset in range(800):
        day = start + timedelta(days=offset)
        eve, after = day - timedelta(days=1), day + timedelta(days=1)
        if (
            day in poland
            and day not in finland
            and day.weekday() in (1, 2, 3)
            and eve not in poland | finland
            and after not in poland
        ):
            return eve
    raise AssertionError("no Polish-only holiday within two years")


async def test_the_send_window_follows_polish_holidays(pipeline: Pipeline) -> None:
    """Closed on the eve of a Polish holiday at 19:45 in Warsaw (20:45 in Helsinki): the
    Polish telecom's survey waits past the holiday to nine the next morning, Warsaw time;
    a Finnish bank's, closed the same moment, goes out that morning at eight, Helsinki
    time (Finland works that day)."""
    eve = eve_of_a_polish_holiday()
    closed = datetime.combine(eve, time(19, 45), tzinfo=WARSAW)
    polish = contact(
        unit="Telekom PL Warszawa", language="pl-PL", phone=polish_mobile(), closed_at=closed
    )
    finnish = contact(unit="OP Helsinki", language="fi-FI", phone=mobile(), closed_at=closed)
    for event in (polish, finnish):
        await pipeline.publish(event)
    consent_db = create_engine(pipeline.stack.consent_settings.database_url)

    async def planned() -> dict[str, datetime] | None:
        async with consent_db.connect() as connection:
            rows = await connection.execute(
                sa.select(plans.c.contact_id, plans.c.release_at, plans.c.language).where(
                    plans.c.contact_id.in_([polish.contact_id, finnish.contact_id])
                )
            )
            found = {row.contact_id: (as_utc(row.release_at), row.language) for row in rows}
        return found if len(found) == 2 else None

    try:
        found = await wait_until(planned, what="both contacts planned")
    finally:
        await consent_db.dispose()
    holiday = eve + timedelta(days=1)
    polish_at, polish_language = found[polish.contact_id]
    assert polish_language == "pl"
    assert polish_at == datetime.combine(holiday + timedelta(days=1), time(9), tzinfo=WARSAW)
    finnish_at, _ = found[finnish.contact_id]
    assert finnish_at == datetime.combine(holiday, time(8), tzinfo=HELSINKI)


async def test_the_pages_read_in_polish_in_a_browser(
    pipeline: Pipeline, context: BrowserContext
) -> None:
    address = f"anna.nowak.{uuid.uuid4().hex[:8]}@example.pl"
    await pipeline.publish(contact(unit=POLISH_UNIT, language="pl", email=address))
    (email,) = await pipeline.messages_to(address)
    (link,) = LINK.findall(email["text"])
    page = await context.new_page()
    await page.goto(link)
    assert await page.locator("html").get_attribute("lang") == "pl"
    assert await page.title() == "Ankieta dla klientów"
    await page.get_by_text("Jak bardzo prawdopodobne jest, że polecisz nas").first.wait_for()
    await page.get_by_role("button", name="Wyślij odpowiedź").wait_for()
    about = await page.locator("main").inner_text()  # the contact's day, as Polish writes it
    months = (
        "stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|września|października"
        "|listopada|grudnia"
    )
    said = rf"Ankieta dotyczy Twojego kontaktu: Palaute, telefon, \d{{1,2}} (?:{months}) \d{{4}}\."
    assert re.search(said, about), about
    await page.get_by_role("link", name="Informacja o ochronie danych").click()
    await page.wait_for_load_state()
    assert await page.locator("html").get_attribute("lang") == "pl"
    assert "Informacja o ochronie danych: ankieta dla klientów" in await page.title()
    assert "Odpowiedz STOP na SMS z ankietą." in await page.locator("#refuse").inner_text()

    await add_staff(pipeline, {"iod-pl": ("hasło-inspektora-1234", "officer")})
    consent = pipeline.stack.http_urls["consent"]
    await page.goto(f"{consent}/officer/sign-in?lang=pl")
    await page.get_by_label("Nazwa użytkownika").fill("iod-pl")
    await page.get_by_label("Hasło").fill("hasło-inspektora-1234")
    await page.get_by_role("button", name="Zaloguj się").click()
    await page.wait_for_load_state()
    assert await page.locator("html").get_attribute("lang") == "pl"
    await page.get_by_role("heading", name="W skrócie").wait_for()
    # A code is shown with its label in the reader's language beside it.
    await reply_stop_and_wait(pipeline.stack, e164(polish_mobile()))
    await page.reload()
    stops = page.locator("#by-source tr", has=page.locator("code", has_text="sms_stop"))
    assert "odpowiedź STOP na SMS" in await stops.inner_text()
    await page.goto(f"{consent}/results")  # the language is kept in its cookie
    assert await page.locator("html").get_attribute("lang") == "pl"
    await page.get_by_role("heading", name="Wyniki opinii klientów").wait_for()
    await page.get_by_label("Miara").wait_for()
