"""The opt-out race, repeated, on the real broker: consent and dispatcher running, the
partner failing, and an opt-out arriving at a random moment after each contact. Not one of
the opted-out customers may get a message; the others must get theirs once the partner
is back."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from palaute_consent.bootstrap import build as build_consent
from palaute_consent.settings import ConsentSettings
from palaute_consent.tables import decisions, opt_outs
from palaute_dispatcher.bootstrap import build as build_dispatcher
from palaute_dispatcher.settings import DispatcherSettings
from palaute_dispatcher.tables import invitations
from palaute_runtime.database import create_engine
from palaute_runtime.local_broker import free_port
from palaute_runtime.service import ServiceRuntime
from palaute_sandbox.server import PartnerSandbox
from palaute_sandbox.settings import SandboxSettings
from palaute_schemas import CONTACT_CLOSED, OPT_OUT_REQUESTED, ContactClosed, OptOutRequested
from palaute_stack.stack import LOCAL_RELEASE_RULES
from tests.conftest import local_broker_with_topics, wait_until

pytestmark = pytest.mark.broker

RACES = 60
CONTROL = 15


@pytest.fixture(scope="module")
async def kafka() -> AsyncIterator[str]:
    """A broker of this module's own. The session's holds what other tests published, and a
    dispatcher started here takes up their unsent surveys first: in one slow run their
    emails and retries kept the races from being decided within the wait."""
    async with local_broker_with_topics() as bootstrap:
        yield bootstrap


@pytest.fixture
async def two_postgres_urls(postgres_databases: Callable[[], Awaitable[str]]) -> list[str]:
    return [await postgres_databases(), await postgres_databases()]


@pytest.fixture(params=["sqlite", "postgres"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """A database for consent and one for the dispatcher."""
    if request.param == "sqlite":
        return {s: f"sqlite+aiosqlite:///{tmp_path}/{s}.db" for s in ("consent", "dispatcher")}
    consent, dispatcher = request.getfixturevalue("two_postgres_urls")
    return {"consent": consent, "dispatcher": dispatcher}


Restart = Callable[..., Awaitable[None]]


@asynccontextmanager
async def consent_and_dispatcher(
    kafka: str, tmp_path: Path, databases: dict[str, str], **consent_settings: Any
) -> AsyncIterator[tuple[AIOKafkaProducer, httpx.AsyncClient, Restart]]:
    """Consent and dispatcher running on the real broker, the partner sandbox, a producer
    for the CRM's and the opt-outs' topics, a client of the sandbox, and a way to restart
    consent on the same database with some settings changed."""
    sandbox = PartnerSandbox(
        SandboxSettings(sandbox_http_port=free_port(), sandbox_smtp_port=free_port())
    )
    await sandbox.start()
    common: dict[str, Any] = {"kafka_bootstrap": kafka, "data_dir": tmp_path}

    def consent_with(**changed: Any) -> ServiceRuntime:
        settings = {**consent_settings, **changed}
        runtime, _ = build_consent(
            ConsentSettings(**common, consent_database_url=databases["consent"], **settings)
        )
        return runtime

    running = [consent_with()]

    async def restart_consent(**changed: Any) -> None:
        await running[0].stop()
        running[0] = consent_with(**changed)
        await running[0].start()

    dispatcher, _ = build_dispatcher(
        DispatcherSettings(
            **common,
            dispatcher_database_url=databases["dispatcher"],
            partner_sms_url=sandbox.http.url,
            partner_smtp_port=sandbox.settings.sandbox_smtp_port,
            **LOCAL_RELEASE_RULES,
        )
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    async with httpx.AsyncClient(base_url=sandbox.http.url) as partner:
        await asyncio.gather(running[0].start(), dispatcher.start())
        await producer.start()
        try:
            yield producer, partner, restart_consent
        finally:
            await producer.stop()
            await asyncio.gather(running[0].stop(), dispatcher.stop())
            await sandbox.stop()


def assert_only_controls_got_messages(
    received: list[dict[str, Any]], control: list[ContactClosed], opted: list[ContactClosed]
) -> None:
    # The module's broker may replay its earlier tests' leftovers: judge this run's numbers.
    delivered_to = {message["to"] for message in received}
    assert {event.phone for event in control} <= delivered_to
    assert not delivered_to & {event.phone for event in opted}, "no opted-out customer got one"


async def controls_delivered(partner: httpx.AsyncClient, control: list[ContactClosed]) -> bool:
    """Whether every control customer got their message (counted by number: the shared
    broker may replay an earlier test's contacts, whose messages a count would take in)."""
    received = (await partner.get("/sandbox/messages")).json()["sms"]
    return {event.phone for event in control} <= {message["to"] for message in received}


async def test_an_opt_out_before_the_claim_means_no_message_however_the_race_falls(
    kafka: str, tmp_path: Path, databases: dict[str, str]
) -> None:
    rng = random.Random(5)
    run = uuid.uuid4().hex[:6]
    racing = [contact(run, n) for n in range(RACES)]
    control = [contact(run, RACES + n) for n in range(CONTROL)]
    async with consent_and_dispatcher(kafka, tmp_path, databases, **LOCAL_RELEASE_RULES) as (
        producer,
        partner,
        _,
    ):
        # The partner is down (503, Retry-After: 1) for the whole race.
        await partner.post("/sandbox/faults", json={"fail_next": 1_000_000})

        async def one_race(event: ContactClosed) -> None:
            await publish(producer, CONTACT_CLOSED.name, event, event.customer_id)
            await asyncio.sleep(rng.uniform(0.0, 3.0))  # before, during or after release
            opt_out = OptOutRequested(source="customer_service", phone=event.phone, reason="race")
            await publish(producer, OPT_OUT_REQUESTED.name, opt_out, event.phone or "")

        for event in control:
            await publish(producer, CONTACT_CLOSED.name, event, event.customer_id)
        await asyncio.gather(*(one_race(event) for event in racing))
        racing_ids = [event.contact_id for event in racing]

        async def every_race_settled() -> bool:
            return await settled(databases, racing_ids) == RACES

        await wait_until(every_race_settled, within=60, what="every race to be decided")
        attempted = (await partner.get("/sandbox/stats")).json()["rejected"]["sms"]
        # The partner comes back: only the control group may be delivered.
        await partner.post("/sandbox/faults", json={"fail_next": 0})
        await wait_until(
            lambda: controls_delivered(partner, control), within=60, what="the controls"
        )
        received = (await partner.get("/sandbox/messages")).json()["sms"]
    assert attempted > 0, "the race met a failing partner, not an idle one"
    assert_only_controls_got_messages(received, control, racing)


def contact(run: str, n: int, closed_at: datetime | None = None) -> ContactClosed:
    return ContactClosed(
        contact_id=f"R-{run}-{n}",
        customer_id=f"C-{run}-{n}",
        contact_channel="phone",
        language="fi",
        unit="Race",
        closed_at=closed_at or datetime.now(UTC),
        phone=f"+35845{n:07d}",
    )


async def publish(
    producer: AIOKafkaProducer, topic: str, message: ContactClosed | OptOutRequested, key: str
) -> None:
    await producer.send_and_wait(topic, message.model_dump_json().encode(), key=key.encode())


async def settled(databases: dict[str, str], contact_ids: list[str]) -> int:
    """How many racing contacts reached their end: suppressed by consent at release, or
    withdrawn at the dispatcher."""
    consent_db = create_engine(databases["consent"])
    dispatcher_db = create_engine(databases["dispatcher"])
    try:
        async with consent_db.connect() as connection:
            suppressed = set(
                await connection.scalars(
                    sa.select(decisions.c.contact_id).where(
                        decisions.c.contact_id.in_(contact_ids),
                        decisions.c.outcome == "opted_out",
                    )
                )
            )
        async with dispatcher_db.connect() as connection:
            withdrawn = set(
                await connection.scalars(
                    sa.select(invitations.c.contact_id).where(
                        invitations.c.contact_id.in_(contact_ids),
                        invitations.c.status == "withdrawn",
                    )
                )
            )
        return len(suppressed | withdrawn)
    finally:
        await consent_db.dispose()
        await dispatcher_db.dispose()


async def test_an_opt_out_while_the_survey_waits_for_its_window_means_no_message(
    kafka: str, tmp_path: Path, databases: dict[str, str]
) -> None:
    helsinki = ZoneInfo("Europe/Helsinki")
    # A Tuesday morning on consent's clock, an hour before the window opens at nine: the
    # contacts are planned and the opt-outs come (at random within 4 s) while the plans wait.
    morning = datetime(2026, 11, 24, 8, 0, tzinfo=helsinki)
    rng = random.Random(9)
    run = uuid.uuid4().hex[:6]
    waiting = [contact(run, n, closed_at=morning) for n in range(30)]
    control = [contact(run, 30 + n, closed_at=morning) for n in range(10)]
    window = {"release_delay_minutes": 0, "send_window_weekdays": "09:00-20:00"}
    async with consent_and_dispatcher(
        kafka, tmp_path, databases, **window, clock_start=morning
    ) as (producer, partner, restart_consent):
        for event in [*waiting, *control]:
            await publish(producer, CONTACT_CLOSED.name, event, event.customer_id)

        async def opt_out_later(event: ContactClosed) -> None:
            await asyncio.sleep(rng.uniform(0.0, 4.0))  # while the plan waits for 09:00
            request = OptOutRequested(source="customer_profile", phone=event.phone, reason="race")
            await publish(producer, OPT_OUT_REQUESTED.name, request, event.phone or "")

        await asyncio.gather(*(opt_out_later(event) for event in waiting))
        every = [event.contact_id for event in [*waiting, *control]]
        phones = [event.phone or "" for event in waiting]
        await wait_until(
            lambda: planned_and_opted_out(databases, every, phones),
            within=30,
            what="every contact planned and every opt-out registered, before nine",
        )
        # Then it is a minute to nine for consent (a restart on the same database: the plans
        # and the register are what it finds), and the window opens while it runs.
        await restart_consent(**window, clock_start=morning.replace(minute=59, second=58))
        await wait_until(
            lambda: controls_delivered(partner, control), within=60, what="the window to open"
        )
        ids = [event.contact_id for event in waiting]

        async def all_suppressed() -> bool:
            return await settled(databases, ids) == len(waiting)

        await wait_until(all_suppressed, within=30, what="every waiting survey suppressed")
        received = (await partner.get("/sandbox/messages")).json()["sms"]
    assert_only_controls_got_messages(received, control, waiting)


async def planned_and_opted_out(
    databases: dict[str, str], contact_ids: list[str], phones: list[str]
) -> bool:
    """Whether consent has decided on every contact without releasing any (it is before
    nine: planned, or suppressed at once when its opt-out came first) and registered every
    opt-out."""
    engine = create_engine(databases["consent"])
    try:
        async with engine.connect() as connection:
            planned = await connection.scalar(
                sa.select(sa.func.count()).where(
                    decisions.c.contact_id.in_(contact_ids),
                    decisions.c.outcome.in_(["planned", "opted_out"]),
                )
            )
            registered = await connection.scalar(
                sa.select(sa.func.count()).where(
                    opt_outs.c.kind == "phone", opt_outs.c.value.in_(phones)
                )
            )
        return planned == len(contact_ids) and registered == len(phones)
    finally:
        await engine.dispose()
