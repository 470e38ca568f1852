"""The privacy officer's workspace on the running stack: accounts and tokens made with the
CLI, the register's pages in real Chromium with JavaScript off, and the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from playwright.async_api import BrowserContext, Page

from palaute_consent import officers
from palaute_runtime.database import create_engine
from palaute_schemas import SURVEY_SUPPRESSED
from tests.conftest import wait_until
from tests.e2e.conftest import Pipeline, contact, e164, mobile

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PASSWORDS = {"anna": "pitkä-salasana-anna", "tarmo": "pitkä-salasana-tarmo"}
PHONE = "040 765 4321"
PHONE_E164 = "+358407654321"


def consent(pipeline: Pipeline, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "palaute_consent", *args],
        env=os.environ | {"PALAUTE_DATA_DIR": str(pipeline.stack.options.data_dir)},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# The people made on each worker's stack: xdist's work stealing can run this module's tests
# apart on one worker, so its module fixture is set up again on a stack that has them.
_MADE: dict[int, dict[str, str]] = {}


@pytest.fixture(scope="module")
async def people(pipeline: Pipeline) -> dict[str, str]:
    """Two accounts and two API tokens. The first account is made as an operator would
    (the CLI, its own process); the rest straight in consent's database, through the same
    functions the CLI calls (each CLI run costs seconds, and the module's fixture is made on
    every worker that draws one of its tests)."""
    if id(pipeline.stack) in _MADE:
        return _MADE[id(pipeline.stack)]
    made = consent(
        pipeline,
        "accounts",
        "add",
        "anna",
        "--role",
        "officer",
        "--password-stdin",
        stdin=PASSWORDS["anna"] + "\n",
    )
    assert made.returncode == 0, made.stderr
    engine = create_engine(pipeline.stack.consent_settings.database_url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as connection:
            await officers.add_account(connection, "tarmo", PASSWORDS["tarmo"], "auditor", now=now)
            tokens = {
                name: await officers.create_token(connection, name, role, now=now)
                for name, role in (("crm", "officer"), ("bi", "auditor"))
            }
            return _MADE.setdefault(id(pipeline.stack), tokens)
    finally:
        await engine.dispose()


def url(pipeline: Pipeline, path: str) -> str:
    return pipeline.stack.http_urls["consent"] + path


async def sign_in(page: Page, pipeline: Pipeline, name: str) -> None:
    answer = await page.goto(url(pipeline, "/officer?lang=en"))
    assert answer is not None
    assert answer.status == 401, "anonymous: only the sign-in page"
    await page.get_by_label("Username").fill(name)
    await page.get_by_label("Password").fill(PASSWORDS[name])
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()
    assert f"Signed in as officer:{name}" in await page.locator("nav").inner_text()


async def search(page: Page, kind: str, value: str) -> str:
    await page.get_by_label("Identifier").select_option(label=kind)
    await page.get_by_label("Value").fill(value)
    await page.get_by_role("button", name="Search").click()
    await page.wait_for_load_state()
    return await page.locator("main").inner_text()


async def test_the_officer_searches_adds_and_removes_and_reads_the_audit_log(
    pipeline: Pipeline, people: dict[str, str], context: BrowserContext
) -> None:
    page = await context.new_page()
    await sign_in(page, pipeline, "anna")
    cookie = next(c for c in await context.cookies() if c["name"] == "palaute_officer")
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
    assert "Not in the register" in await search(page, "Phone number", PHONE)
    await page.get_by_label("Reason").fill("asked by phone not to be surveyed")
    await page.get_by_role("button", name="Add opt-out").click()
    await page.wait_for_load_state()
    main = await page.locator("main").inner_text()
    assert "Added." in main
    assert "In the register: no surveys are sent." in main
    assert PHONE_E164 in main, "normalised as everywhere else"
    # What consent decided for a customer is there to read.
    assert "No decisions." in await search(page, "Customer id", "C-nobody")
    assert "In the register" in await search(page, "Phone number", PHONE_E164)
    # A reason that a spreadsheet would run as a formula (CSV injection).
    await page.get_by_label("Reason").fill('=HYPERLINK("https://attacker.example","asked")')
    await page.get_by_role("button", name="Remove opt-out").click()
    await page.wait_for_load_state()
    assert "Removed." in await page.locator("main").inner_text()

    await page.get_by_role("link", name="Audit log").click()
    await page.wait_for_load_state()
    log = await page.locator("main").inner_text()
    assert "The audit log is intact" in log
    assert "officer:anna" in log
    assert "+358 40 *** **21" in log
    assert PHONE_E164 not in log, "masked, never plaintext"
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Download CSV").click()
    exported = (await (await download.value).path()).read_text()
    assert exported.splitlines()[0] == "id,at,actor,action,kind,value,source,reason"
    assert "officer:anna,remove,phone,'+358 40 *** **21" in exported
    assert """'=HYPERLINK(""https://attacker.example"",""asked"")""" in exported
    assert ",=" not in exported, "no cell begins a formula"
    assert ',"=' not in exported, "no quoted cell either"
    # Finnish on request.
    await page.goto(url(pipeline, "/officer?lang=fi"))
    assert "Kirjautuneena" in await page.locator("nav").inner_text()
    await page.get_by_role("button", name="Kirjaudu ulos").click()
    await page.wait_for_load_state()
    answer = await page.goto(url(pipeline, "/officer"))
    assert answer is not None
    assert answer.status == 401, "signed out"


async def test_the_auditor_reads_but_cannot_change_anything(
    pipeline: Pipeline, people: dict[str, str], context: BrowserContext
) -> None:
    page = await context.new_page()
    answer = await page.goto(url(pipeline, "/officer?lang=en"))
    assert answer is not None
    assert answer.status == 401
    await page.get_by_label("Username").fill("tarmo")
    await page.get_by_label("Password").fill(PASSWORDS["tarmo"])
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()
    assert "auditor (read only)" in await page.locator("nav").inner_text()
    # The landing page: what needs attention (the chain checked at consent's start).
    assert await page.locator("#glance").inner_text() == "At a glance"
    assert "The audit log is intact" in await page.locator("#chain").inner_text()
    assert "Not in the register" in await search(page, "Email", "Tarkastus@Example.FI")
    assert await page.get_by_role("button", name="Add opt-out").count() == 0
    # A hand-made form with the auditor's own CSRF token is still refused.
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    refused = await context.request.post(
        url(pipeline, "/officer/opt-outs/add"),
        form={"csrf": csrf or "", "kind": "email", "identifier": "x@example.fi", "reason": "r"},
    )
    assert refused.status == 403
    assert "reads only" in await refused.text()
    # The programmes and their rules, read-only, and which one a unit falls in.
    await page.get_by_role("link", name="Survey programmes").click()
    await page.get_by_label("Unit").fill("OP Helsinki Kamppi")
    await page.get_by_role("button", name="Show the unit's programme").click()
    await page.wait_for_load_state()
    assert "falls in programme op-helsinki" in await page.locator("#falls-in").inner_text()
    kierratys = await page.locator("#programme-kierratys").inner_text()
    assert "sampling_share\t0.5" in kierratys
    assert "csat" in kierratys
    assert await page.locator("form[method=post]").count() == 1, "only sign-out posts"


async def test_a_forged_form_without_its_csrf_token_is_refused(
    pipeline: Pipeline, people: dict[str, str], context: BrowserContext
) -> None:
    page = await context.new_page()
    await sign_in(page, pipeline, "anna")
    forged = await context.request.post(
        url(pipeline, "/officer/opt-outs/add"),
        form={"kind": "customer_id", "identifier": "C-forged", "reason": "a forged form"},
    )
    assert forged.status == 403
    assert "Not in the register" in await search(page, "Customer id", "C-forged")
    anonymous = await pipeline.http.post(
        url(pipeline, "/officer/opt-outs/add"),
        data={"kind": "customer_id", "identifier": "C-forged", "reason": "no session"},
    )
    assert anonymous.status_code == 401


async def test_the_api_takes_tokens_scoped_to_a_role(
    pipeline: Pipeline, people: dict[str, str]
) -> None:
    def bearer(name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {people[name]}"}

    listed = consent(pipeline, "tokens", "list")
    assert people["crm"] not in listed.stdout, "a token is shown once, never listed"
    short = consent(
        pipeline, "accounts", "add", "lyhyt", "--role", "officer", "--password-stdin", stdin="x\n"
    )
    assert (short.returncode, short.stderr) == (
        1,
        "error: a password has at least 12 characters.\n",
    )

    entry = {"kind": "email", "identifier": "API.Test@example.fi", "reason": "CRM profile"}
    nobody = await pipeline.http.post(url(pipeline, "/api/v1/register/add"), json=entry)
    assert nobody.status_code == 401
    read_only = await pipeline.http.post(
        url(pipeline, "/api/v1/register/add"), json=entry, headers=bearer("bi")
    )
    assert read_only.status_code == 403
    added = await pipeline.http.post(
        url(pipeline, "/api/v1/register/add"), json=entry, headers=bearer("crm")
    )
    assert added.status_code == 201, added.text
    assert (added.json()["identifier"], added.json()["listed"]) == ("API.Test@example.fi", True)
    looked = await pipeline.http.post(
        url(pipeline, "/api/v1/register/lookup"), json=entry, headers=bearer("bi")
    )
    assert looked.json()["entry"]["source"] == "privacy_officer"
    empty = await pipeline.http.post(
        url(pipeline, "/api/v1/register/add"), json=entry | {"reason": "  "}, headers=bearer("crm")
    )
    assert (empty.status_code, empty.json()["error"]) == (
        400,
        "a reason is required, and kept in the audit log",
    )
    trail = await pipeline.http.post(
        url(pipeline, "/api/v1/audit"),
        json={"kind": "email", "identifier": "api.test@example.fi"},
        headers=bearer("bi"),
    )
    assert trail.json()["intact"] is True
    # The change, and the auditor's lookup: a read of personal data is accounted too.
    assert [(c["actor"], c["action"]) for c in trail.json()["changes"]] == [
        ("token:crm", "add"),
        ("token:bi", "read"),
    ]
    assert consent(pipeline, "tokens", "revoke", "crm").returncode == 0
    revoked = await pipeline.http.post(
        url(pipeline, "/api/v1/register/remove"), json=entry, headers=bearer("crm")
    )
    assert revoked.status_code == 401


async def test_failed_sign_ins_slow_an_account_down_but_never_lock_its_owner_out(
    pipeline: Pipeline, people: dict[str, str], context: BrowserContext
) -> None:
    page = await context.new_page()
    statuses = []
    for _ in range(6):  # the sixth comes after five failures in 15 minutes: slowed, not refused
        await page.goto(url(pipeline, "/officer/sign-in?lang=en"))
        await page.get_by_label("Username").fill("tarmo")
        await page.get_by_label("Password").fill("not the password")
        async with page.expect_response(lambda r: r.request.method == "POST") as posted:
            await page.get_by_role("button", name="Sign in").click()
        statuses.append((await posted.value).status)
    assert statuses == [401] * 6
    # Anyone may name any account: its owner, with the right password, still gets in.
    answer = await page.goto(url(pipeline, "/officer/sign-in?lang=en"))
    assert answer is not None
    await page.get_by_label("Username").fill("tarmo")
    await page.get_by_label("Password").fill(PASSWORDS["tarmo"])
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()
    assert "Signed in as officer:tarmo" in await page.locator("nav").inner_text()


async def every_row(url: str) -> str:
    """Every row of every table of a service's database, as text."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
            dumped = []
            for name in names:
                rows = await connection.execute(sa.text(f'SELECT * FROM "{name}"'))  # noqa: S608
                dumped.append(f"{name}: {[tuple(row) for row in rows]!r}")
        return "\n".join(dumped)
    finally:
        await engine.dispose()


async def test_an_erasure_leaves_no_trace_in_any_service_or_at_the_partner_but_the_objection(
    pipeline: Pipeline, people: dict[str, str], context: BrowserContext
) -> None:
    customer = f"C-erase-{uuid.uuid4().hex[:8]}"
    phone, email = mobile(), f"poisto.{uuid.uuid4().hex[:6]}@example.fi"
    await pipeline.publish(contact(customer_id=customer, phone=phone))
    await pipeline.publish(contact(customer_id=customer, email=email))
    await pipeline.messages_to(e164(phone))
    (message,) = await pipeline.messages_to(email)
    assert (await pipeline.reply_sms(e164(phone), "3 soita"))["status"] == "recorded"
    assert (await pipeline.answer_page(message, 9, "Hyvää palvelua")).status_code == 200
    stack = pipeline.stack
    urls = [
        stack.consent_settings.database_url,
        stack.dispatcher_settings.database_url,
        stack.collector_settings.database_url,
    ]
    traces = (customer, e164(phone), phone, email)
    held = "\n".join([await every_row(url) for url in urls])
    assert all(trace in held for trace in (customer, e164(phone), email)), "held before"

    # An access request first, on the page: one JSON document from every service.
    page = await context.new_page()
    await sign_in(page, pipeline, "anna")
    await page.get_by_role("link", name="Erasure and access requests").click()
    await page.get_by_label("Access (a copy of their data)").check()
    await page.get_by_label("Customer id").fill(customer)
    await page.get_by_label("Phone number").fill(phone)
    await page.get_by_label("Reason").fill("the customer asked what we hold")
    await page.get_by_role("button", name="File a request").click()
    await page.wait_for_load_state()
    assert "Request filed" in await page.locator("main").inner_text()

    async def answered_by_all() -> bool:
        await page.goto(url(pipeline, "/officer/requests"))
        return "waiting" not in await page.locator("tbody tr").first.inner_text()

    await wait_until(answered_by_all, what="every service's part of the access request")
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Download JSON").first.click()
    document = json.loads((await (await download.value).path()).read_text())
    assert document["complete"] is True
    assert set(document["held_by"]) == {"consent", "dispatcher", "collector"}
    comments = sorted(r["comment"] for r in document["held_by"]["collector"]["responses"])
    assert comments == ["Hyvää palvelua", "soita"]
    assert len(document["held_by"]["dispatcher"]["invitations"]) == 2
    # Who read it is in the audit log, chained like the changes.
    await page.goto(url(pipeline, "/officer/audit"))
    read = await page.locator("tbody tr", has_text="access document").first.inner_text()
    assert "officer:anna" in read
    assert "read" in read

    # The erasure, by the API (the crm token was revoked above).
    desk = consent(pipeline, "tokens", "create", "privacy-desk", "--role", "officer")
    bearer = {"Authorization": f"Bearer {desk.stdout.strip()}"}
    filed = await pipeline.http.post(
        url(pipeline, "/api/v1/requests"),
        json={
            "kind": "erasure",
            "customer_id": customer,
            "phone": phone,
            "email": email,
            "reason": "GDPR art. 17 request by letter",
        },
        headers=bearer,
    )
    assert filed.status_code == 201, filed.text
    request_id = filed.json()["request_id"]

    async def completed() -> dict[str, Any] | None:
        answer = await pipeline.http.get(
            url(pipeline, f"/api/v1/requests/{request_id}"), headers=bearer
        )
        body: dict[str, Any] = answer.json()
        return body if body["complete"] else None

    done = await wait_until(completed, what="every service's erasure")
    assert done["services"]["dispatcher"]["erased"] == {"invitations": 2}
    assert done["services"]["dispatcher"]["partner_deleted"] is True
    assert done["services"]["collector"]["erased"]["responses"] == 2
    after = "\n".join([await every_row(url) for url in urls])
    left = [trace for trace in traces if trace in after]
    assert left == [], f"still held after the erasure: {left}"
    sandbox = (await pipeline.http.get(f"{stack.sandbox_url}/sandbox/messages")).json()
    assert not any(trace in json.dumps(sandbox) for trace in traces), "the partner deleted it"
    assert sandbox["deletions"][-1]["messages_deleted"] == 2
    # The objection is kept, hashed: the next contact of the person is not surveyed.
    later = contact(customer_id=customer, phone=phone)
    await pipeline.publish(later)

    async def suppressed() -> str | None:
        for record in await pipeline.records(SURVEY_SUPPRESSED.name):
            if record["value"]["contact_id"] == later.contact_id:
                return str(record["value"]["reason"])
        return None

    assert await wait_until(suppressed, what="the later contact's decision") == "opted_out"


async def test_single_sign_on_trusts_the_header_only_from_the_proxy(
    pipeline: Pipeline, people: dict[str, str]
) -> None:
    as_anna = {"X-Palaute-User": "anna"}
    proxied = await pipeline.http.get(url(pipeline, "/officer?lang=en"), headers=as_anna)
    assert proxied.status_code == 200
    assert "Signed in as sso:anna (privacy officer)" in proxied.text
    unknown = await pipeline.http.get(
        url(pipeline, "/officer"), headers={"X-Palaute-User": "mallory"}
    )
    assert unknown.status_code == 401, "the name must be an account"
    # The same header from any other address is ignored.
    elsewhere = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(transport=elsewhere, timeout=10) as client:
        spoofed = await client.get(url(pipeline, "/officer"), headers=as_anna)
        api = await client.post(
            url(pipeline, "/api/v1/register/lookup"),
            json={"kind": "customer_id", "identifier": "C-1"},
            headers=as_anna,
        )
    assert (spoofed.status_code, api.status_code) == (401, 401)
    looked = await pipeline.http.post(
        url(pipeline, "/api/v1/register/lookup"),
        json={"kind": "customer_id", "identifier": "C-1"},
        headers=as_anna,
    )
    assert looked.status_code == 200


async def test_the_customers_own_app_sets_reads_and_lifts_their_ban_and_nothing_else(
    pipeline: Pipeline, people: dict[str, str]
) -> None:
    """The backend of a mobile bank, with a self_service token made by the operator: it
    reads, sets and lifts one named customer's ban; a contact while banned is suppressed and
    one after the lift is surveyed; every other operation is 403 to it, and its endpoints
    are 403 to every staff token; the audit chain names the app and the channel."""
    made = consent(pipeline, "tokens", "create", "mobile-bank", "--role", "self_service")
    assert made.returncode == 0, made.stderr
    app = {"Authorization": f"Bearer {made.stdout.strip()}"}
    auditor = {"Authorization": f"Bearer {people['bi']}"}
    customer, phone = f"C-app-{uuid.uuid4().hex[:8]}", mobile()
    who = {"customer_id": customer}

    async def ban(path: str, headers: dict[str, str] = app) -> httpx.Response:
        return await pipeline.http.post(
            url(pipeline, f"/api/v1/self-service/ban{path}"), json=who, headers=headers
        )

    assert (await ban("")).json() == {
        "customer_id": customer,
        "banned": False,
        "source": None,
        "since": None,
    }
    banned = await ban("/set")
    assert (banned.status_code, banned.json()["banned"]) == (200, True)
    assert banned.json()["source"] == "self_service"
    looked = await pipeline.http.post(
        url(pipeline, "/api/v1/register/lookup"),
        json={"kind": "customer_id", "identifier": customer},
        headers=auditor,
    )
    assert looked.json()["entry"]["source"] == "self_service", "the officer sees the channel"
    while_banned = contact(customer_id=customer, phone=phone)
    await pipeline.publish(while_banned)

    async def suppressed() -> str | None:
        for record in await pipeline.records(SURVEY_SUPPRESSED.name):
            if record["value"]["contact_id"] == while_banned.contact_id:
                return str(record["value"]["reason"])
        return None

    assert await wait_until(suppressed, what="the banned customer's contact") == "opted_out"
    lifted = await ban("/lift")
    assert (lifted.json()["banned"], lifted.json()["lifted"]) == (False, True)
    await pipeline.publish(contact(customer_id=customer, phone=phone))
    await pipeline.messages_to(e164(phone))  # surveyed again: the customer's own choice
    # Nothing else is open to the app, and the app's endpoints to nobody else.
    identifier = {"kind": "customer_id", "identifier": customer, "reason": "app"}
    for method, path, body in (
        ("POST", "/api/v1/register/lookup", identifier),
        ("POST", "/api/v1/register/add", identifier),
        ("POST", "/api/v1/register/remove", identifier),
        ("POST", "/api/v1/audit", {}),
        ("POST", "/api/v1/requests", {"kind": "erasure", "customer_id": customer, "reason": "x"}),
        ("GET", f"/api/v1/requests/{uuid.uuid4()}", None),
        ("GET", f"/api/v1/requests/{uuid.uuid4()}/access", None),
    ):
        refused = await pipeline.http.request(method, url(pipeline, path), json=body, headers=app)
        assert refused.status_code == 403, f"{method} {path}: {refused.text}"
    for path in ("", "/set", "/lift"):
        assert (await ban(path, auditor)).status_code == 403
    trail = await pipeline.http.post(
        url(pipeline, "/api/v1/audit"),
        json={"kind": "customer_id", "identifier": customer},
        headers=auditor,
    )
    assert trail.json()["intact"] is True
    by_app = [c for c in trail.json()["changes"] if c["actor"] == "app:mobile-bank"]
    assert [(c["action"], c["source"]) for c in by_app] == [
        ("read", "self_service"),
        ("add", "self_service"),
        ("remove", "self_service"),
    ]
    assert "the customer's own choice" in by_app[2]["reason"]
