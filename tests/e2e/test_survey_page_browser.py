"""The survey page in a real browser: keyboard- and screen-reader-friendly, no JavaScript."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.e2e.conftest import LINK, Pipeline, contact

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


async def test_customer_answers_the_email_survey_in_a_browser_without_javascript(
    pipeline: Pipeline, browser: Browser, tmp_path: Path
) -> None:
    address = "selain.e2e@example.fi"
    await pipeline.publish(contact(email=address, language="en"))
    (email,) = await pipeline.messages_to(address)
    (link,) = LINK.findall(email["text"])
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    try:
        await page.goto(link)
        assert await page.get_attribute("html", "lang") == "en"
        assert await page.locator("legend").all_inner_texts() == [
            "How likely are you to recommend us to a friend or colleague?",
            "How satisfied were you with the service?",
        ]
        main = await page.locator("main").inner_text()
        assert "This survey is about your contact: Palaute, phone" in main
        assert "asks for nothing but your answers" in main
        await page.get_by_label("9", exact=True).check()
        satisfaction = page.get_by_role("group", name="How satisfied were you with the service?")
        await satisfaction.get_by_label("4", exact=True).check()
        assert await satisfaction.get_by_label("4", exact=True).is_checked()
        await page.get_by_label("Would you like to tell us why? (optional)").fill("Quick help")
        await page.screenshot(path=str(tmp_path / "survey.png"))
        await page.get_by_role("button", name="Send answer").click()
        await page.wait_for_load_state()
        assert "Thank you for your answer" in await page.locator("main").inner_text()
        await page.goto(link)
        assert "already been answered" in await page.locator("main").inner_text()
    finally:
        await context.close()


async def test_submitting_without_a_score_explains_what_is_missing(
    pipeline: Pipeline, browser: Browser
) -> None:
    address = "selain2.e2e@example.fi"
    await pipeline.publish(contact(email=address, language="fi"))
    (email,) = await pipeline.messages_to(address)
    (link,) = LINK.findall(email["text"])
    response = await pipeline.http.post(link, data={"comment": "ei numeroa"})
    assert response.status_code == 400
    assert "Vastaa ainakin toiseen kysymykseen (0-10 tai 1-5)." in response.text
    assert "ei numeroa" in response.text, "what the customer wrote is kept"
    # CSAT alone is an answer.
    only_csat = await pipeline.http.post(link, data={"csat": "5", "comment": "hyvä"})
    assert only_csat.status_code == 200
    assert "Kiitos vastauksestasi" in only_csat.text
