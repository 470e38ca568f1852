"""Accessibility proven in the browser: axe-core (the npm package, run in Chromium) with the
WCAG 2.0, 2.1 and 2.2 A and AA rules finds nothing on the survey page, the privacy notice,
the staff's sign-in, the officer's pages and the results; the survey is answered and the
officer signs in with the keyboard alone; the survey page fits 320 CSS pixels with score
targets of at least 44 px and a visible focus ring.

What axe cannot decide (whether a text alternative says the right thing, the reading order
a screen reader takes) needs a person with a screen reader: the README says so."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from tests.e2e.conftest import LINK, Pipeline, add_staff, contact

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / ".tools/axe/node_modules/axe-core/axe.min.js"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
OFFICER, ANALYST = ("saara", "pitkä-salasana-saara"), ("aapo", "pitkä-salasana-aapo")


@pytest.fixture(scope="module")
def axe() -> Path:
    if not AXE.exists():
        reason = f"axe-core is not installed at {AXE} (npm install --prefix .tools/axe axe-core)"
        if os.environ.get("PALAUTE_REQUIRE_AXE") == "1":
            pytest.fail(f"{reason}; PALAUTE_REQUIRE_AXE=1")
        pytest.skip(reason)
    return AXE


@pytest.fixture(scope="module")
async def accounts(pipeline: Pipeline) -> Pipeline:
    """An officer and an analyst on this worker's stack."""
    await add_staff(
        pipeline, {OFFICER[0]: (OFFICER[1], "officer"), ANALYST[0]: (ANALYST[1], "analyst")}
    )
    return pipeline


@pytest.fixture
async def scripted(browser: Browser) -> AsyncIterator[BrowserContext]:
    """The pages run no script; axe is one, injected past the pages' CSP."""
    context = await browser.new_context(bypass_csp=True)
    try:
        yield context
    finally:
        await context.close()


async def violations(page: Page, axe: Path) -> list[dict[str, Any]]:
    """What axe finds on the page under the WCAG A and AA rules (2.0, 2.1, 2.2)."""
    await page.add_script_tag(path=str(axe))
    found: list[dict[str, Any]] = await page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ')),
            }));
        }""",
        WCAG,
    )
    return found


async def survey_link(pipeline: Pipeline, language: str) -> str:
    address = f"saavutettava-{language}-{os.urandom(4).hex()}@example.fi"
    await pipeline.publish(contact(email=address, language=language))
    (email,) = await pipeline.messages_to(address)
    (link,) = LINK.findall(email["text"])
    return str(link)


async def sign_in(page: Page, pipeline: Pipeline, who: tuple[str, str]) -> None:
    await page.goto(pipeline.stack.http_urls["consent"] + "/officer/sign-in?lang=en")
    await page.get_by_label("Username").fill(who[0])
    await page.get_by_label("Password").fill(who[1])
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()


@pytest.mark.parametrize("language", ["fi", "en", "pl"])
async def test_the_survey_page_and_its_notice_break_no_wcag_rule(
    pipeline: Pipeline, scripted: BrowserContext, axe: Path, language: str
) -> None:
    page = await scripted.new_page()
    await page.goto(await survey_link(pipeline, language))
    assert await violations(page, axe) == []
    # Sent without a score: the page again, with its error.
    await page.get_by_role("button").last.click()
    await page.wait_for_load_state()
    assert await violations(page, axe) == []
    notice = page.get_by_role(
        "link",
        name={
            "fi": "Tietosuojaseloste",
            "en": "Privacy notice",
            "pl": "Informacja o ochronie danych",
        }[language],
    )
    await notice.click()
    await page.wait_for_load_state()
    assert "/privacy/" in page.url
    assert await violations(page, axe) == []


async def test_the_staff_pages_break_no_wcag_rule(
    accounts: Pipeline, scripted: BrowserContext, axe: Path
) -> None:
    page = await scripted.new_page()
    base = accounts.stack.http_urls["consent"]
    await page.goto(base + "/officer/sign-in?lang=fi")
    assert await violations(page, axe) == []
    await sign_in(page, accounts, OFFICER)
    for path in ("/officer", "/officer/audit", "/officer/requests", "/officer/programmes"):
        await page.goto(base + path)
        assert await violations(page, axe) == [], path
    await scripted.clear_cookies()
    await sign_in(page, accounts, ANALYST)
    for query in ("", "?grain=month&dimension=unit&metric=csat", "?metric=response_rate"):
        await page.goto(base + "/results" + query)
        assert await violations(page, axe) == [], query


async def test_axe_finds_a_score_scale_without_its_labels(
    pipeline: Pipeline, scripted: BrowserContext, axe: Path
) -> None:
    """The check can fail: the same page with the scale's labels taken away."""
    page = await scripted.new_page()
    await page.goto(await survey_link(pipeline, "en"))
    await page.evaluate(
        """() => document.querySelectorAll('.scale label').forEach(label => {
            const input = label.querySelector('input');
            label.replaceWith(input);
        })"""
    )
    assert "label" in {found["id"] for found in await violations(page, axe)}


async def test_the_survey_is_answered_with_the_keyboard_alone(
    pipeline: Pipeline, scripted: BrowserContext
) -> None:
    page = await scripted.new_page()
    await page.goto(await survey_link(pipeline, "en"))
    keyboard = page.keyboard

    async def focused() -> dict[str, str]:
        found: dict[str, str] = await page.evaluate(
            "() => ({name: document.activeElement.name || '', value: document.activeElement.value"
            " || '', tag: document.activeElement.tagName})"
        )
        return found

    for _ in range(30):  # Tab into the NPS scale
        await keyboard.press("Tab")
        if (await focused())["name"] == "score":
            break
    assert (await focused())["name"] == "score"
    for _ in range(9):  # 0 -> 9 with the arrow key (arrows move and select in a group)
        await keyboard.press("ArrowRight")
    await keyboard.press("Space")
    assert (await focused()) == {"name": "score", "value": "9", "tag": "INPUT"}
    await keyboard.press("Tab")  # on to the CSAT scale
    assert (await focused())["name"] == "csat"
    for _ in range(3):
        await keyboard.press("ArrowRight")
    await keyboard.press("Space")
    assert (await focused())["value"] == "4"
    await keyboard.press("Tab")
    assert (await focused())["name"] == "comment"
    await keyboard.type("Kind and quick")
    for _ in range(5):  # on to the button, past the follow-up offer and the notice link
        await keyboard.press("Tab")
        if (await focused())["tag"] == "BUTTON":
            break
    await keyboard.press("Enter")
    await page.wait_for_load_state()
    assert "Thank you for your answer" in await page.locator("main").inner_text()


async def test_the_officer_signs_in_with_the_keyboard_alone(
    accounts: Pipeline, scripted: BrowserContext
) -> None:
    page = await scripted.new_page()
    await page.goto(accounts.stack.http_urls["consent"] + "/officer/sign-in?lang=en")
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await page.evaluate("() => document.activeElement.name") == "username":
            break
    await page.keyboard.type(OFFICER[0])
    await page.keyboard.press("Tab")
    await page.keyboard.type(OFFICER[1])
    await page.keyboard.press("Enter")
    await page.wait_for_load_state()
    assert f"officer:{OFFICER[0]}" in await page.locator("nav").inner_text()


async def test_the_survey_page_fits_320_pixels_with_44_pixel_targets_and_a_focus_ring(
    pipeline: Pipeline, browser: Browser
) -> None:
    context = await browser.new_context(viewport={"width": 320, "height": 640})
    try:
        page = await context.new_page()
        await page.goto(await survey_link(pipeline, "fi"))
        width = await page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 320, f"{width} px wide at 320: scrolls sideways"
        targets = page.locator(".scale label")
        assert await targets.count() == 11 + 5
        for n in range(await targets.count()):
            box = await targets.nth(n).bounding_box()
            assert box is not None
            assert box["width"] >= 44, box
            assert box["height"] >= 44, box
        await page.get_by_label("9", exact=True).first.focus()
        await page.keyboard.press("ArrowLeft")  # focus shown as from the keyboard
        ring = await page.evaluate(
            """() => {
                const span = document.activeElement.nextElementSibling;
                const style = getComputedStyle(span);
                return [style.outlineStyle, parseFloat(style.outlineWidth)];
            }"""
        )
        assert ring[0] != "none", ring
        assert ring[1] >= 2, ring
    finally:
        await context.close()
