"""The partner sandbox's page is for people: newest first, 50 a page, survey links that
open, the delivery status; the JSON stays at /sandbox/messages. Real HTTP and SMTP."""

from __future__ import annotations

import uuid

import httpx

from palaute_dispatcher.partner import HttpSmsPartner, Outgoing, SmtpEmailPartner
from palaute_sandbox.server import PartnerSandbox

SURVEY = "http://127.0.0.1:18000/s/AbCdEf123_-"


async def test_the_page_is_newest_first_paged_with_survey_links_that_open(
    sandbox: PartnerSandbox,
) -> None:
    sms = HttpSmsPartner(sandbox.http.url, "sandbox-key", "Palaute")
    try:
        for n in range(60):
            await sms.send(Outgoing(f"+35840{5000000 + n}", "", f"SMS {n}", str(uuid.uuid4())))
    finally:
        await sms.close()
    email = SmtpEmailPartner("127.0.0.1", sandbox.settings.sandbox_smtp_port, "k@palaute.invalid")
    await email.send(
        Outgoing("lukija@example.fi", "Kysely", f"Vastaa:\n\n{SURVEY}\n", str(uuid.uuid4()))
    )
    async with httpx.AsyncClient(base_url=sandbox.http.url) as client:
        first = await client.get("/sandbox/")
        second = await client.get("/sandbox/", params={"page": "2"})
        odd = await client.get("/sandbox/", params={"page": "kaksi"})
        beyond = await client.get("/sandbox/", params={"page": "999"})
        listing = await client.get("/sandbox/messages")
    assert first.status_code == 200
    assert "Page 1 of 2" in first.text
    assert f'<a href="{SURVEY}">open the survey</a>' in first.text
    assert first.text.index("lukija@example.fi") < first.text.index("SMS 59"), "newest first"
    assert "SMS 0<" not in first.text, "the oldest are on the next page"
    assert "Page 2 of 2" in second.text
    assert "SMS 0<" in second.text
    assert (odd.status_code, "Page 1 of 2" in odd.text) == (200, True)
    assert "Page 2 of 2" in beyond.text
    assert len(listing.json()["sms"]) == 60
