"""Fixtures shared by all tests: waiting on conditions, databases, the real local broker."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_runtime.clock import Clock
from palaute_runtime.local_broker import LocalBroker, create_topics, palaute_topics
from tests.transaction_guard import guarding

T = TypeVar("T")

# Services built inside a test serve their health endpoints on a port the system picks.
os.environ.setdefault("PALAUTE_CONSENT_PORT", "0")
os.environ.setdefault("PALAUTE_DISPATCHER_PORT", "0")
for _service in ("CONSENT", "DISPATCHER", "COLLECTOR"):
    os.environ.setdefault(f"PALAUTE_{_service}_OPS_PORT", "0")
# The tests' partner sandboxes speak plain SMTP on loopback, unless a test makes one a real
# relay (tests/integration/test_smtp_relay.py).
os.environ.setdefault("PALAUTE_PARTNER_SMTP_SECURITY", "none")

# Every consumer a test starts (in the test's process, or in a service or stack it runs:
# they inherit this environment) shortens its waits on the local broker:
# - a session of 2 s with a heartbeat every 0.5 s instead of 6 s and 1 s: the broker holds a
#   joining member for half the session, so each service start costs 1 s of waiting, not 3
#   (about 60 starts in the suite), and a killed consumer's partitions move on sooner;
# - a poll every 50 ms, not 10: the broker answers a waiting fetch only at its deadline, so
#   an idle service polling at 10 ms keeps most of a core busy (measured: 0.9 of 2 cores at
#   10 ms, 0.45 at 50) and slows every test beside it. Each hop costs ~25 ms more, which no
#   test waits on closely.
os.environ.setdefault("PALAUTE_KAFKA_SESSION_TIMEOUT_MS", "2000")
os.environ.setdefault("PALAUTE_KAFKA_HEARTBEAT_INTERVAL_MS", "500")
os.environ.setdefault("PALAUTE_KAFKA_FETCH_MAX_WAIT_MS", "50")

POSTGRES_DSN = os.environ.get("PALAUTE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--seed",
        type=int,
        default=None,
        help="the fault suite's schedule (kill times, lock and outage starts) from this seed; "
        "without it a new seed is drawn and printed",
    )


FAULT_SEED = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    given: int | None = config.getoption("--seed")
    config.stash[FAULT_SEED] = given if given is not None else secrets.randbelow(1_000_000)


def pytest_report_header(config: pytest.Config) -> str | None:
    if "faults" not in (config.option.markexpr or "") or "not faults" in config.option.markexpr:
        return None
    seed = config.stash[FAULT_SEED]
    return f"fault schedule seed: {seed} (replay it: ./dev test-faults --seed {seed})"


@pytest.fixture(scope="session")
def fault_seed(request: pytest.FixtureRequest) -> int:
    """The seed of the fault suite's schedule: --seed, or one drawn at the start (printed in
    the session's header, and with any failure)."""
    seed = request.config.stash[FAULT_SEED]
    print(f"fault schedule seed: {seed}")
    return seed


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Unit tests first, then integration, then end-to-end (and faults): the session-wide
    stack of the end-to-end tests then lives only while they run, not beside everything.
    In parallel (`./dev test`: three workers) each worker starts its own stack when it
    comes to the end-to-end tests."""
    order = {"unit": 0, "integration": 1, "e2e": 2, "faults": 3}

    def rank(item: pytest.Item) -> int:
        parts = item.path.parts
        return next((order[p] for p in reversed(parts) if p in order), 1)

    items.sort(key=rank)  # stable: within a folder, the usual order


class ManualClock(Clock):
    """A service's clock that the test moves by hand (`clock.at = ...`)."""

    def __init__(self, at: datetime) -> None:
        super().__init__()
        self.at = at

    def now(self) -> datetime:
        return self.at.astimezone(UTC)


# The programme file the demo ships: three programmes over the default (tests use it too).
EXAMPLE_PROGRAMMES = (
    Path(__file__).parents[1] / "stack" / "palaute_stack" / "programmes.example.toml"
)


async def wait_until(
    probe: Callable[[], Awaitable[T | None]], *, within: float = 20.0, what: str = "condition"
) -> T:
    """Poll `probe` until it returns something truthy; fail the test after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.05)


async def queued(engine: AsyncEngine, outbox: sa.Table, topic: str) -> list[dict[str, Any]]:
    """What a service's outbox holds for one topic, oldest first (published or not yet)."""
    async with engine.connect() as connection:
        payloads = await connection.scalars(
            sa.select(outbox.c.payload).where(outbox.c.topic == topic).order_by(outbox.c.id)
        )
        return [json.loads(payload) for payload in payloads]


@pytest.fixture(autouse=True)
def no_network_call_inside_a_transaction() -> Iterator[None]:
    """Fails any test in which an HTTP or SMTP call starts while its task holds a database
    transaction open (the partner is never called inside one)."""
    with guarding() as found:
        yield
    if found:
        pytest.fail(f"{len(found)} network call(s) inside a transaction; the first: {found[0]}")


@pytest.fixture(scope="session")
async def postgres_admin() -> str:
    """The DSN of a reachable PostgreSQL, or a skip (a failure under PALAUTE_REQUIRE_POSTGRES)."""
    try:
        connection = await asyncpg.connect(POSTGRES_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL is not reachable at {POSTGRES_DSN}: {exc}"
        if os.environ.get("PALAUTE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (PALAUTE_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    await connection.close()
    return POSTGRES_DSN


@pytest.fixture
async def postgres_databases(postgres_admin: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Makes fresh, empty PostgreSQL databases for one test; drops them afterwards."""
    created: list[str] = []
    base = postgres_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")

    async def make() -> str:
        name = f"palaute_test_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(postgres_admin)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        created.append(name)
        return f"{base}/{name}"

    yield make
    admin = await asyncpg.connect(postgres_admin)
    try:
        for name in created:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def postgres_url(postgres_databases: Callable[[], Awaitable[str]]) -> str:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    return await postgres_databases()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """Each repository contract runs on SQLite (embedded default) and PostgreSQL (production)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/test.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@asynccontextmanager
async def local_broker_with_topics() -> AsyncIterator[str]:
    """A real local broker (Tansu) with Palaute's topics: its bootstrap address, while open."""
    broker = LocalBroker()
    await broker.start()
    try:
        await create_topics(broker.bootstrap, palaute_topics())
        yield broker.bootstrap
    finally:
        await broker.stop()


@pytest.fixture(scope="session")
async def kafka() -> AsyncIterator[str]:
    """One real local broker for the whole session, with Palaute's topics."""
    async with local_broker_with_topics() as bootstrap:
        yield bootstrap


def webhook_request(body: bytes, headers: dict[str, str]) -> Any:
    """A POST as a provider's webhook makes it, to https://palaute.example/partner/twilio/
    status, as starlette hands it to a route (the body once, then a disconnect)."""
    from starlette.requests import Request

    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/partner/twilio/status",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "query_string": b"",
        "server": ("palaute.example", 443),
        "scheme": "https",
    }
    return Request(scope, receive)


def sms_requests(prefix: str, count: int, first_number: int, **fields: Any) -> list[Any]:
    """`count` SurveyRequested events for SMS to fresh Finnish mobiles, one customer each."""
    from palaute_schemas import SurveyRequested

    run = uuid.uuid4().hex[:6]
    return [
        SurveyRequested.model_validate(
            {
                "contact_id": f"{prefix}-{run}-{n}",
                "customer_id": f"C-{run}-{n}",
                "channel": "sms",
                "address": f"+358{first_number + n}",
                "language": ("fi", "sv", "en")[n % 3],
                "contact_channel": "phone",
                "unit": prefix,
                "contact_day": "2026-11-20",
                "anonymous": False,
                **fields,
            }
        )
        for n in range(count)
    ]


async def publish_requests(kafka: str, requests: list[Any]) -> None:
    """Publish SurveyRequested events as consent does, and wait for the broker to have them."""
    from palaute_schemas import SURVEY_REQUESTED

    await publish(kafka, SURVEY_REQUESTED, requests)


async def publish(kafka: str, topic: Any, messages: Sequence[Any]) -> None:
    """Publish messages on a topic, keyed as its producers key them, and wait for the broker
    to have them all."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    try:
        for message in messages:
            await producer.send(
                topic.name, message.model_dump_json().encode(), key=topic.key(message).encode()
            )
        await producer.flush()
    finally:
        await producer.stop()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under `./dev test --at` the moved clock must have reached this process: a run that
    says it is at another moment but reads the real time would prove nothing."""
    if os.environ.get("PALAUTE_TEST_CLOCK_OFFSET") and "time_machine" not in sys.modules:
        raise pytest.UsageError(
            "PALAUTE_TEST_CLOCK_OFFSET is set but the clock was not moved: run the suite "
            "through ./dev test --at MOMENT (it puts tests/shifted_clock on PYTHONPATH)"
        )
