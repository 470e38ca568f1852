"""The results page on the running stack: answers over the real broker become figures, consent
keeps what the figures and funnel topics say, and the page (in Chromium, JavaScript off)
shows exactly those numbers, "fewer than 5" where a value has no cell, to an analyst, who
may not open the register."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext

from palaute_consent.results import PERIODS
from palaute_schemas import FIGURES_PUBLISHED
from palaute_schemas.periods import period_label, period_start
from tests.conftest import wait_until
from tests.e2e.conftest import Pipeline, add_staff, contact, e164, mobile, staff_client

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ANALYST, PASSWORD = "aino", "pitkä-salasana-aino"
# Two Tuesdays a week apart: a big unit answers on the first, a small one on the second.
FIRST, SECOND = date(2026, 6, 2), date(2026, 6, 9)
_MADE: set[int] = set()


@pytest.fixture(scope="module")
async def answered(pipeline: Pipeline) -> Pipeline:
    """An analyst account, and answers of two weeks: Iso's five in the first, Pieni's five
    and two more of Iso's (too few to publish) in the second."""
    if id(pipeline.stack) in _MADE:
        return pipeline
    await add_staff(pipeline, {ANALYST: (PASSWORD, "analyst")})
    people = [(FIRST, "Iso", 9)] * 5 + [(SECOND, "Pieni", 6)] * 5 + [(SECOND, "Iso", 10)] * 2
    phones = []
    for day, unit, _ in people:
        phone = mobile()
        phones.append(phone)
        await pipeline.publish(contact(day=day, phone=phone, unit=unit, contact_channel="branch"))
    for phone, (_, _, score) in zip(phones, people, strict=True):
        await pipeline.messages_to(e164(phone))
        assert (await pipeline.reply_sms(e164(phone), str(score)))["status"] == "recorded"
    _MADE.add(id(pipeline.stack))
    return pipeline


def url(pipeline: Pipeline, path: str) -> str:
    return pipeline.stack.http_urls["consent"] + path


@asynccontextmanager
async def signed_in(pipeline: Pipeline) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client signed in as the analyst, who lands on the results."""
    async with staff_client(pipeline, ANALYST, PASSWORD) as client:
        landing = await client.get("/officer/sign-in")
        assert landing.status_code == 303
        assert landing.headers["location"] == "/results", "an analyst lands on the results"
        yield client


async def topic_cells(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """The newest record of every figure cell on the topic, as BI reads it."""
    newest: dict[str, dict[str, Any]] = {}
    for record in await pipeline.records(FIGURES_PUBLISHED.name):
        value = dict(record["value"])
        if record["key"] not in newest or value["revision"] > newest[record["key"]]["revision"]:
            newest[record["key"]] = value
    return newest


def expected_rows(
    cells: dict[str, dict[str, Any]], grain: str, dimension: str, metric: str
) -> set[tuple[str, ...]]:
    """The rows the page's CSV must have for the topic's cells: every value and period
    shown, with "<5" where a value has no cell in a period that has figures."""
    totals = sorted(
        (c for c in cells.values() if (c["grain"], c["dimension"]) == (grain, "total")),
        key=lambda c: c["period_start"],
    )[-PERIODS[grain] :]
    periods = {c["period"]: c["final"] for c in totals}
    found = {
        (c["value"], c["period"]): c
        for c in cells.values()
        if (c["grain"], c["dimension"]) == (grain, dimension) and c["period"] in periods
    }
    rows = set()
    for value in {value for value, _ in found}:
        for period, final in periods.items():
            cell = found.get((value, period))
            base = "nps_responses" if metric == "nps" else "csat_responses"
            rows.add(
                (
                    period,
                    "true" if final else "false",
                    value,
                    "" if cell is None or cell[metric] is None else str(cell[metric]),
                    "<5" if cell is None else str(cell["responses"]),
                    "" if cell is None else str(cell[base]),
                )
            )
    return rows


@pytest.mark.parametrize(
    ("grain", "dimension", "metric"),
    [("week", "unit", "nps"), ("day", "total", "nps"), ("month", "language", "csat")],
)
async def test_the_results_are_the_figures_topic_to_the_number(
    answered: Pipeline, grain: str, dimension: str, metric: str
) -> None:
    pipeline = answered
    async with signed_in(pipeline) as client:
        query = f"grain={grain}&dimension={dimension}&metric={metric}"

        async def same() -> set[tuple[str, ...]] | None:
            # Consent reads the topics as BI does; it may be a moment behind.
            answer = await client.get(f"/results.csv?{query}")
            assert answer.status_code == 200
            rows = {tuple(row) for row in list(csv.reader(io.StringIO(answer.text)))[1:]}
            want = expected_rows(await topic_cells(pipeline), grain, dimension, metric)
            return rows if rows == want and rows else None

        rows = await wait_until(same, what=f"the page's {query} equal to the topic")
    if (grain, dimension) == ("week", "unit"):
        first = period_label("week", period_start("week", FIRST))
        second = period_label("week", period_start("week", SECOND))
        assert (first, "false", "Iso", "100.0", "5", "5") in rows
        assert (second, "false", "Iso", "", "<5", "") in rows, "two answers: fewer than 5"
        assert (second, "false", "Pieni", "-100.0", "5", "5") in rows


async def test_an_analyst_reads_the_results_not_the_register(answered: Pipeline) -> None:
    async with signed_in(answered) as client:
        for path in ("/officer", "/officer/audit", "/officer/requests", "/officer/audit.csv"):
            refused = await client.get(path)
            assert refused.status_code == 403, path
        page = await client.get("/results?grain=week&dimension=unit&lang=en")
        assert page.status_code == 200
        assert "fewer than 5" in page.text
        assert '<svg role="img" aria-labelledby="chart-caption"' in page.text
        assert "<script" not in page.text
        assert "/officer/audit" not in page.text, "no links to what the role may not open"


async def test_the_analyst_signs_in_and_reads_a_week_by_unit_in_the_browser(
    answered: Pipeline, context: BrowserContext
) -> None:
    page = await context.new_page()
    await page.goto(url(answered, "/results?lang=en"))
    await page.get_by_label("Username").fill(ANALYST)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()
    assert page.url.endswith("/results")
    await page.get_by_label("Breakdown").select_option("unit")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_load_state()
    second = period_label("week", period_start("week", SECOND))
    table = page.get_by_role("table")
    header = await table.locator("thead th").all_inner_texts()
    column = next(n for n, text in enumerate(header) if text.startswith(second))
    iso = table.locator("tbody tr", has=page.get_by_role("rowheader", name="Iso"))
    assert (await iso.locator("th, td").nth(column).inner_text()).strip() == "fewer than 5"
    assert await page.get_by_role("img").count() == 1
