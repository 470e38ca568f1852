"""The survey page in a real browser: keyboard- and screen-reader-friendly, no JavaScript;
what it and the email tell the respondent of their answer, and the privacy notice."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.async_api import Browser

from palaute_collector.notice import notice_of
from palaute_runtime import i18n
from palaute_schemas import Language
from tests.e2e.conftest import LINK, Pipeline, contact

LINKED = {
    "fi": "Vastaukseni on liitetty asiakastietoihini.",
    "sv": "Mitt svar är kopplat till mina kunduppgifter.",
    "en": "My answer is linked to my customer record.",
}
NOTICE = {"fi": "Tietosuojaseloste", "sv": "Dataskyddsbeskrivning", "en": "Privacy notice"}

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


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
async def test_the_respondent_is_told_whether_the_answer_is_anonymous_and_who_asks(
    pipeline: Pipeline, browser: Browser, language: Language
) -> None:
    """In each language, an anonymous and a named survey's email and page say which it is
    and link the programme's privacy notice; only the named one offers a follow-up."""
    context = await browser.new_context(java_script_enabled=False)
    try:
        for anonymous in (True, False):
            address = f"kerro.{language}.{int(anonymous)}.{uuid.uuid4().hex[:6]}@example.fi"
            await pipeline.publish(contact(email=address, language=language, anonymous=anonymous))
            (email,) = await pipeline.messages_to(address)
            said = i18n.catalogue(language).text(
                "anonymity.anonymous" if anonymous else "anonymity.named"
            )
            assert said in email["text"]
            assert said in email["html"]
            notice = f"{pipeline.stack.collector_url}/privacy/default/{language}"
            assert notice in email["text"]
            assert f'href="{notice}"' in email["html"]
            page = await context.new_page()
            (link,) = LINK.findall(email["text"])
            await page.goto(link)
            assert await page.locator("#anonymity strong").inner_text() == said
            follow_up = page.locator("input[name=follow_up]")
            assert await follow_up.count() == (0 if anonymous else 1)
            if not anonymous:
                label = await page.locator("label", has=follow_up).inner_text()
                assert LINKED[language] in label, "the offer says the answer is linked"
            await page.get_by_role("link", name=NOTICE[language]).click()
            await page.wait_for_load_state()
            assert page.url == notice
            assert await page.get_attribute("html", "lang") == language
            texts = notice_of(
                pipeline.stack.collector_settings.programmes.default,
                language,
                pipeline.stack.collector_settings,
            )
            assert await page.locator("#controller").inner_text() == (
                f"{texts['controller']} {texts['no_contact']}"
            )
            assert await page.locator("#processor").inner_text() == texts["processor"]
            refuse = await page.locator("#refuse li").all_inner_texts()
            assert refuse == [
                texts[k] for k in ("refuse_sms", "refuse_email", "refuse_app", "refuse_service")
            ]
            await page.close()
    finally:
        await context.close()


async def test_a_programmes_notice_names_its_controller_contact_and_anonymity(
    pipeline: Pipeline,
) -> None:
    base = f"{pipeline.stack.collector_url}/privacy"
    helsinki = await pipeline.http.get(f"{base}/op-helsinki/fi")
    assert helsinki.status_code == 200
    assert "Rekisterinpitäjä on OP Helsinki." in helsinki.text
    assert "tietosuoja@op-helsinki.example" in helsinki.text
    kierratys = await pipeline.http.get(f"{base}/kierratys/sv")
    assert "Svaren på den här enkäten är alltid anonyma." in kierratys.text
    assert "Kopplingen mellan" not in kierratys.text, "no named answers to keep"
    for missing in ("nobody/fi", "kierratys/de"):
        assert (await pipeline.http.get(f"{base}/{missing}")).status_code == 404
