"""The whole stack, started through the same code as `palaute up`, once per session."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from playwright.async_api import Browser, BrowserContext, async_playwright
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_collector.figures import EVERY_BREAKDOWN, layout_text
from palaute_collector.tables import invitation_tokens, invitations
from palaute_consent import officers
from palaute_consent.tables import officer_accounts, opt_outs
from palaute_runtime.database import create_engine
from palaute_runtime.topic_reader import read_records
from palaute_schemas import (
    CONTACT_CLOSED,
    ERASURE_COMPLETED,
    ContactClosed,
    ErasureCompleted,
    recipient_ref,
    token_hash,
)
from palaute_stack.stack import LocalStack, StackOptions
from tests.conftest import EXAMPLE_PROGRAMMES, wait_until

POLISH_UNIT = "Warszawa Centrum"
LINK = re.compile(r"https?://\S+/s/\S+")  # an email's survey link (it links its notice too)
ANY_LINK = re.compile(r"https?://\S+")


@dataclass
class Pipeline:
    """The running stack and the ways a test talks to it: as the CRM, a customer, BI."""

    stack: LocalStack
    producer: AIOKafkaProducer
    http: httpx.AsyncClient
    collector_db: AsyncEngine  # the test's own reader of the collector's database
    said: list[str]  # what the stack told the person at the terminal

    async def publish(self, contact: ContactClosed) -> None:
        await self.publish_raw(contact.model_dump_json().encode(), contact.customer_id)

    async def publish_raw(self, payload: bytes, key: str) -> None:
        await self.producer.send_and_wait(CONTACT_CLOSED.name, payload, key=key.encode())

    async def received(self) -> dict[str, Any]:
        """What the partner sandbox received, from its own HTTP endpoint."""
        response = await self.http.get(f"{self.stack.sandbox_url}/sandbox/messages")
        response.raise_for_status()
        return dict(response.json())

    async def messages_to(self, address: str, count: int = 1) -> list[dict[str, Any]]:
        """Wait until the sandbox holds `count` messages to the address; return them."""

        async def found() -> list[dict[str, Any]]:
            received = await self.received()
            messages = [m for m in received["sms"] if m["to"] == address] + [
                m for m in received["email"] if address in m["to"]
            ]
            return messages if len(messages) >= count else []

        messages = await wait_until(found, what=f"{count} message(s) to the test address")
        for message in messages:
            await self._collector_knows(message)
        return messages

    async def _collector_knows(self, message: dict[str, Any]) -> None:
        """Wait until the collector has recorded the invitation behind a delivered message
        (a customer reads a message some time after it arrives)."""
        if message["id"].startswith("sms"):
            ref = recipient_ref(self.stack.collector_settings.recipient_pepper, message["to"])
            condition = invitations.c.recipient_ref == ref
        else:
            (link,) = LINK.findall(message["text"])
            token = link.rsplit("/", 1)[1]
            condition = invitations.c.id.in_(
                sa.select(invitation_tokens.c.invitation_id).where(
                    invitation_tokens.c.token_hash == token_hash(token)
                )
            )

        async def known() -> bool:
            async with self.collector_db.connect() as connection:
                return bool(
                    await connection.scalar(
                        sa.select(sa.func.count()).select_from(invitations).where(condition)
                    )
                )

        await wait_until(known, what="the collector to record the invitation")

    async def records(self, topic: str) -> list[dict[str, Any]]:
        """Every record of a topic so far, as BI would read it (values with headers)."""
        found = []
        async for record in read_records(
            self.stack.options.kafka_bootstrap, [topic], idle_timeout=1.0
        ):
            value: Any
            try:
                value = json.loads(record.value or b"")
            except json.JSONDecodeError:
                value = (record.value or b"").decode(errors="replace")
            found.append(
                {
                    "value": value,
                    "headers": {k: v.decode() for k, v in record.headers},
                    "key": (record.key or b"").decode(),
                }
            )
        return found

    async def reply_sms(
        self, sender: str, text: str, message_id: str | None = None
    ) -> dict[str, Any]:
        """A customer replies to an SMS; the sandbox forwards it to the collector's webhook
        (with the partner's message id: the same id again is the same delivery repeated)."""
        reply = {"from": sender, "text": text} | ({"id": message_id} if message_id else {})
        response = await self.http.post(f"{self.stack.sandbox_url}/sandbox/inbound-sms", json=reply)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def answer_page(
        self, email: dict[str, Any], score: int | None, comment: str = "", csat: int | None = None
    ) -> httpx.Response:
        """A customer opens the email's link and submits the form (NPS, CSAT or both)."""
        (link,) = LINK.findall(email["text"])
        page = await self.http.get(link)
        assert page.status_code == 200
        assert 'name="score"' in page.text
        form = {"comment": comment}
        if score is not None:
            form["score"] = str(score)
        if csat is not None:
            form["csat"] = str(csat)
        return await self.http.post(link, data=form)


@pytest.fixture(scope="session")
async def pipeline(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pipeline]:
    data_dir: Path = tmp_path_factory.mktemp("stack")
    said: list[str] = []
    stack = LocalStack(
        StackOptions.ephemeral(
            data_dir,
            # These tests pin figure days months back and survey one customer more than
            # once; staleness and the frequency cap have tests of their own.
            # Token guessing has a test of its own; here every test asks from one address.
            extra_settings={
                "max_contact_age_days": 365,
                "frequency_cap_days": 0,
                "token_guesses_per_minute": 10_000,
                "funnel_publish_seconds": 0.5,
                "figures_publish_seconds": 0.5,
                # These tests read each breakdown of a day; the default layout (day and week
                # by unit) has its tests in unit/test_figures.py and test_coverage.py.
                "figures_breakdowns": EVERY_BREAKDOWN_TEXT,
                # A slowed sign-in waits 1 s here, not 3 (its test counts the statuses).
                "officer_sign_in_slowdown_seconds": 1,
                # Single sign-on, trusted from 127.0.0.1 only (tests call from 127.0.0.2 too).
                "officer_sso_header": "X-Palaute-User",
                "officer_sso_proxies": "127.0.0.1",
                # The example programmes: their units (OP ..., Kierrätyskeskus ...) are
                # surveyed in their own names; every other unit in the default programme.
                "programmes_file": str(EXAMPLE_PROGRAMMES),
                # The default programme offers Polish too, and a unit of it serves from
                # Poland (its holidays, its zone): tests/e2e/test_polish.py.
                "languages": "fi,sv,en,pl",
                "unit_countries": f"{POLISH_UNIT}=PL",
            },
        ),
        say=said.append,
    )
    await stack.start()
    producer = AIOKafkaProducer(bootstrap_servers=stack.options.kafka_bootstrap, acks="all")
    await producer.start()
    collector_db = create_engine(stack.collector_settings.database_url)
    async with httpx.AsyncClient(timeout=10) as client:
        yield Pipeline(stack, producer, client, collector_db, said)
    await collector_db.dispose()
    await producer.stop()
    await stack.stop()


EVERY_BREAKDOWN_TEXT = layout_text(EVERY_BREAKDOWN)


@asynccontextmanager
async def stack_of_its_own(data_dir: Path, **settings: Any) -> AsyncIterator[LocalStack]:
    """A whole stack for one test module (a provider's mode, a mailbox): started, stopped."""
    running = LocalStack(StackOptions.ephemeral(data_dir, extra_settings=settings))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def first_row(database_url: str, query: Any) -> Any:
    """The first row a query finds in a service's database (a reader of its own)."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(query)).first()
    finally:
        await engine.dispose()


async def erasure_completed(stack: LocalStack, request_id: uuid.UUID) -> ErasureCompleted:
    """The dispatcher's ErasureCompleted for an erasure request, once it is on its topic."""

    async def found() -> ErasureCompleted | None:
        async for record in read_records(
            stack.options.kafka_bootstrap, [ERASURE_COMPLETED.name], idle_timeout=1.0
        ):
            done = ErasureCompleted.model_validate_json(record.value or b"")
            if done.request_id == request_id and done.service == "dispatcher":
                return done
        return None

    return await wait_until(found, within=30, what="the dispatcher's ErasureCompleted")


async def wait_for_sms_answer(stack: LocalStack, phone: str) -> None:
    """Until the collector has recorded an answer to the SMS invitation to this number."""
    ref = recipient_ref(stack.collector_settings.recipient_pepper, phone)

    async def answered() -> bool:
        row = await first_row(
            stack.collector_settings.database_url,
            sa.select(invitations.c.answered).where(invitations.c.recipient_ref == ref),
        )
        return bool(row and row.answered)

    await wait_until(answered, within=20, what="the SMS answer to be recorded")


async def reply_stop_and_wait(stack: LocalStack, phone: str) -> httpx.Response:
    """The customer replies STOP (the sandbox forwards it as the stack's provider would);
    returns the webhook's answer once consent's register holds the number."""
    async with httpx.AsyncClient() as client:
        stop = await client.post(
            f"{stack.sandbox_url}/sandbox/inbound-sms", json={"from": phone, "text": "STOP"}
        )

    async def registered() -> bool:
        row = await first_row(
            stack.consent_settings.database_url,
            sa.select(opt_outs.c.source).where(opt_outs.c.value == phone),
        )
        return bool(row and row.source == "sms_stop")

    await wait_until(registered, within=30, what="STOP to reach the register")
    return stop


_numbers = iter(range(1_000_000, 9_999_999))


def mobile() -> str:
    """A fresh valid Finnish mobile number, in national format as CRMs often hold them."""
    return f"040{next(_numbers)}"


def e164(national_mobile: str) -> str:
    return "+358" + national_mobile[1:]


def contact(*, day: date | None = None, **fields: Any) -> ContactClosed:
    """A ContactClosed for a fresh customer; `day` pins the figures' day."""
    closed_at = datetime.combine(day, time(10, 0), tzinfo=UTC) if day else datetime.now(UTC)
    base: dict[str, Any] = {
        "contact_id": f"K-{uuid.uuid4().hex[:10]}",
        "customer_id": f"C-{uuid.uuid4().hex[:10]}",
        "contact_channel": "phone",
        "language": "fi",
        "unit": "Kotka",
        "closed_at": closed_at,
    }
    return ContactClosed.model_validate(base | fields)


CHROMIUM = os.environ.get("PALAUTE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_PRESENT = Path(CHROMIUM).exists() or shutil.which("chromium") is not None
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM_PRESENT:
        reason = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("PALAUTE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}; PALAUTE_REQUIRE_BROWSER=1")
        pytest.skip(reason)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A browser context with JavaScript off, as the pages are made to work."""
    context = await browser.new_context(java_script_enabled=False)
    try:
        yield context
    finally:
        await context.close()


async def add_staff(pipeline: Pipeline, accounts: dict[str, tuple[str, str]]) -> None:
    """Staff accounts (name: (password, role)) straight in consent's database, through the
    function the CLI calls; an account made already on this stack is left as it is."""
    engine = create_engine(pipeline.stack.consent_settings.database_url)
    try:
        async with engine.begin() as connection:
            for name, (password, role) in accounts.items():
                taken = await connection.scalar(
                    sa.select(officer_accounts.c.username).where(
                        officer_accounts.c.username == name
                    )
                )
                if taken is None:
                    await officers.add_account(
                        connection, name, password, role, now=datetime.now(UTC)
                    )
    finally:
        await engine.dispose()


@asynccontextmanager
async def staff_client(
    pipeline: Pipeline, name: str, password: str
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client signed in to consent's staff pages (the sign-in form, as a browser
    posts it)."""
    async with httpx.AsyncClient(
        base_url=pipeline.stack.http_urls["consent"], timeout=10
    ) as client:
        form = await client.get("/officer/sign-in")
        csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        done = await client.post(
            "/officer/sign-in", data={"username": name, "password": password, "csrf": csrf}
        )
        assert done.status_code == 303, done.text
        yield client
