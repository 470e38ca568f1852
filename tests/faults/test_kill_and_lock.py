"""Faults in real time, on real processes: SIGKILL and a held database lock during 4,000
events. Nothing may be lost, nothing sent twice, nothing valid dead-lettered.

When each process is killed and when the lock is taken are drawn from the session's seed
(printed; `./dev test-faults --seed N` replays a schedule). The waits are the real ones,
shortened through settings: the lock outlasts the services' SQLite lock timeout (4 s) four
times over, and a killed dispatcher's claims come back after a 15 s claim lease.

Run with `./dev test-faults` (a few minutes; CI runs it after `./dev test`).
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from palaute_collector.tables import invitations as collector_invitations
from palaute_dispatcher.tables import invitations as dispatcher_invitations
from palaute_runtime.database import create_engine
from palaute_runtime.topic_reader import read_records
from palaute_schemas import (
    ALL_TOPICS,
    CONTACT_CLOSED,
    INVITATION_SENT,
    SURVEY_REQUESTED,
    SURVEY_SUPPRESSED,
    ContactClosed,
)
from palaute_stack.stack import LocalStack, StackOptions

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]

EVENTS = 4_000
RATE = 150.0  # events/s: publishing lasts 27 s, long enough for every fault to land in it
LOCK_SECONDS = 16.0  # four times the services' SQLite lock timeout: a fault, not a wait
SQLITE_LOCK_TIMEOUT = 4  # seconds a SQLite writer waits before the consumer pauses
CLAIM_SECONDS = 15.0  # a killed dispatcher's claims come back after this (60 in production)
SETTLE_SECONDS = 300.0
# Settings that shorten the waits (never skip them): see the module's docstring. The
# partner's contracted rate (50 SMS/s by default) would make the drain, not the faults, the
# test's length; the rate has tests of its own.
SHORTENED = {
    "claim_seconds": CLAIM_SECONDS,
    "partner_sms_rate_per_second": 500,
    "partner_email_rate_per_second": 500,
}


def schedule(seed: int, victims: list[str]) -> tuple[list[float], float]:
    """When to kill each victim (seconds into publishing, in order, at least 2 s apart)
    and when to take the lock, drawn from the seed."""
    rng = random.Random(seed)
    kills = sorted(rng.uniform(1.0, 15.0) for _ in victims)
    for n in range(1, len(kills)):
        kills[n] = max(kills[n], kills[n - 1] + 2.0)
    return kills, rng.uniform(2.0, 10.0)


def contacts(run: str) -> list[ContactClosed]:
    """Unique customers; every fifth has only an email address, the rest a mobile."""
    return [
        ContactClosed(
            contact_id=f"X-{run}-{n}",
            customer_id=f"C-{run}-{n}",
            contact_channel="phone",
            language=("fi", "sv", "en")[n % 3],
            unit="Fault",
            closed_at=datetime.now(UTC),
            **(
                {"email": f"x{n}@{run}.example.fi"}
                if n % 5 == 0
                else {"phone": f"+35850{1000000 + n:07d}"}
            ),
        )
        for n in range(EVENTS)
    ]


@asynccontextmanager
async def stack_of(tmp_path: Path, **options: Any) -> AsyncIterator[LocalStack]:
    stack = LocalStack(
        StackOptions.ephemeral(
            tmp_path,
            **options,
        )
    )
    await stack.start()
    try:
        yield stack
    finally:
        await stack.stop()


async def publish_paced(bootstrap: str, events: list[ContactClosed]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        started = time.monotonic()
        for n, event in enumerate(events):
            await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))
            await producer.send(
                CONTACT_CLOSED.name,
                event.model_dump_json().encode(),
                key=event.customer_id.encode(),
            )
        await producer.flush()
    finally:
        await producer.stop()


async def kill_in_turn(stack: LocalStack, victims: list[str], at: list[float]) -> list[str]:
    """SIGKILL each victim at its time (seconds from now). A victim killed before is waited
    for until it is up again; the others' restarts may overlap (two services down at once
    is a fault too). Returns once every victim is back."""
    assert stack.supervisor is not None
    supervisor = stack.supervisor
    began = time.monotonic()
    done: list[str] = []
    awaited: dict[str, int] = {}  # victim -> the restart count it is up again at
    for victim, moment in zip(victims, at, strict=True):
        await asyncio.sleep(max(0.0, began + moment - time.monotonic()))
        if victim in awaited:
            await supervisor.wait_restarted(victim, awaited[victim])
        awaited[victim] = supervisor.services[victim].restarts + 1
        supervisor.kill(victim, signal.SIGKILL)
        done.append(victim)
    for victim, restarts in awaited.items():
        await supervisor.wait_restarted(victim, restarts)
    return done


async def hold_sqlite_lock(path: Path, after: float) -> float:
    """Take SQLite's write lock from outside for LOCK_SECONDS; returns how long it was held."""
    await asyncio.sleep(after)
    release = threading.Event()
    taken = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(path, timeout=60)
        connection.execute("BEGIN EXCLUSIVE")
        taken.set()
        release.wait(LOCK_SECONDS + 30)
        connection.rollback()
        connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    await asyncio.to_thread(taken.wait, 30)
    began = time.monotonic()
    await asyncio.sleep(LOCK_SECONDS)
    release.set()
    await asyncio.to_thread(thread.join)
    return time.monotonic() - began


async def hold_postgres_lock(dsn: str, after: float) -> float:
    """Lock the dispatcher's invitations against everyone for LOCK_SECONDS: its consumer and
    its delivery loop both stop there. One table, so that taking the lock cannot deadlock
    with a service's transaction (several tables taken one by one can, and did)."""
    await asyncio.sleep(after)
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            await connection.execute("LOCK TABLE invitations IN ACCESS EXCLUSIVE MODE")
            began = time.monotonic()
            await asyncio.sleep(LOCK_SECONDS)
        return time.monotonic() - began
    finally:
        await connection.close()


async def wait_for(
    probe: Callable[[], Awaitable[int]], target: int, within: float, what: str
) -> None:
    deadline = time.monotonic() + within
    while (value := await probe()) < target:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {value} of {target} {what} after {within:g} s")
        await asyncio.sleep(1.0)


async def topic_values(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return [
        json.loads(record.value or b"null")
        async for record in read_records(bootstrap, [topic], idle_timeout=3.0)
    ]


async def count_rows(url: str, table: sa.Table, *conditions: Any) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            query = sa.select(sa.func.count()).select_from(table).where(*conditions)
            return int(await connection.scalar(query) or 0)
    finally:
        await engine.dispose()


async def run_faults_and_check(
    stack: LocalStack,
    victims: list[str],
    kill_at: list[float],
    lock: Callable[[], Awaitable[float]],
) -> None:
    run = uuid.uuid4().hex[:8]
    began = time.monotonic()
    phases: dict[str, float] = {}
    events = contacts(run)
    bootstrap = stack.options.kafka_bootstrap
    async with httpx.AsyncClient(timeout=60) as client:

        async def accepted() -> int:
            stats = (await client.get(f"{stack.sandbox_url}/sandbox/stats")).json()
            return int(stats["accepted"]["sms"] + stats["accepted"]["email"])

        publishing = asyncio.create_task(publish_paced(bootstrap, events))
        kills, held = await asyncio.gather(kill_in_turn(stack, victims, kill_at), lock())
        await publishing
        phases["published, faults done"] = time.monotonic() - began
        await wait_for(accepted, EVENTS, SETTLE_SECONDS, "messages accepted by the partner")
        phases["all accepted by the partner"] = time.monotonic() - began
        received = (await client.get(f"{stack.sandbox_url}/sandbox/messages")).json()

    assert kills == victims
    assert held >= LOCK_SECONDS
    # 0 lost, 0 sent twice: every address got exactly one message.
    addresses = Counter(m["to"] for m in received["sms"]) + Counter(
        to for m in received["email"] for to in m["to"]
    )
    wanted = Counter(e.phone or e.email for e in events)
    assert addresses == wanted, "every customer exactly one message"
    # Every contact decided once, every invitation announced once.
    # A relay killed between publishing and deleting its rows publishes them again: the same
    # event (same event_id), which the dispatcher's inbox takes once. Never a second decision.
    requested = await topic_values(bootstrap, SURVEY_REQUESTED.name)
    decisions = {(r["contact_id"], r["event_id"]) for r in requested}
    assert sorted(contact for contact, _ in decisions) == sorted(e.contact_id for e in events)
    assert await topic_values(bootstrap, SURVEY_SUPPRESSED.name) == []
    # The partner can hold every message while a killed dispatcher's last batch is not yet
    # recorded as sent: its claim comes back after CLAIM_SECONDS, is sent again (the
    # partner's idempotency key makes that one message) and only then recorded.
    dispatcher_url = stack.dispatcher_settings.database_url
    collector_url = stack.collector_settings.database_url
    assert await count_rows(dispatcher_url, dispatcher_invitations) == EVENTS

    async def recorded_sent() -> int:
        return await count_rows(
            dispatcher_url, dispatcher_invitations, dispatcher_invitations.c.status == "sent"
        )

    await wait_for(recorded_sent, EVENTS, SETTLE_SECONDS, "invitations recorded as sent")
    phases["all recorded as sent"] = time.monotonic() - began

    async def announced() -> int:
        sent = await topic_values(bootstrap, INVITATION_SENT.name)
        return len({s["invitation_id"] for s in sent})

    await wait_for(announced, EVENTS, 60, "invitations announced by InvitationSent")

    async def recorded() -> int:
        return await count_rows(collector_url, collector_invitations)

    await wait_for(recorded, EVENTS, 60, "invitations recorded by the collector")
    phases["all recorded by the collector"] = time.monotonic() - began
    print("seconds since the start: " + ", ".join(f"{k} {v:.0f}" for k, v in phases.items()))
    # Nothing valid in any dead-letter topic (all read at once: one quiet period, not one
    # per topic).
    letters = Counter(
        [
            record.topic
            async for record in read_records(
                bootstrap, [topic.dead_letter for topic in ALL_TOPICS], idle_timeout=3.0
            )
        ]
    )
    assert letters == Counter(), f"dead letters: {dict(letters)}"


async def test_kill_9_and_a_locked_database_lose_nothing_and_send_nothing_twice_on_sqlite(
    tmp_path: Path, fault_seed: int
) -> None:
    # SMS through Twilio's API here, through 46elks's in the PostgreSQL test below: neither
    # has an idempotency key, so a dispatcher killed between the provider's acceptance and
    # its record finds the message by looking it up before sending again.
    victims = ["dispatcher", "collector"] * 3
    kill_at, lock_at = schedule(fault_seed, victims)
    urls = {
        service: f"sqlite+aiosqlite:///{tmp_path}/{service}.db?timeout={SQLITE_LOCK_TIMEOUT}"
        for service in ("consent", "dispatcher", "collector")
    }
    twilio = SHORTENED | {"sms_provider": "twilio"}
    async with stack_of(tmp_path, database_urls=urls, extra_settings=twilio) as stack:
        database = tmp_path / "dispatcher.db"
        await run_faults_and_check(
            stack, victims, kill_at, lambda: hold_sqlite_lock(database, after=lock_at)
        )


@pytest.mark.postgres
async def test_two_replicas_of_each_service_on_postgresql_survive_kill_9_and_a_lock(
    tmp_path: Path, postgres_admin: str, fault_seed: int
) -> None:
    victims = ["dispatcher-1", "collector-1", "consent-1", "dispatcher-2", "collector-2"]
    kill_at, lock_at = schedule(fault_seed + 1, victims)
    suffix = uuid.uuid4().hex[:8]
    names = {
        service: f"faults_{service}_{suffix}" for service in ("consent", "dispatcher", "collector")
    }
    admin = await asyncpg.connect(postgres_admin)
    try:
        for name in names.values():
            await admin.execute(f'CREATE DATABASE "{name}"')
        base = postgres_admin.rsplit("/", 1)[0]
        urls = {
            service: f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
            for service, name in names.items()
        }
        elks = SHORTENED | {"sms_provider": "46elks"}
        async with stack_of(tmp_path, database_urls=urls, replicas=2, extra_settings=elks) as stack:
            await run_faults_and_check(
                stack,
                victims,
                kill_at,
                lambda: hold_postgres_lock(f"{base}/{names['dispatcher']}", after=lock_at),
            )
    finally:
        for name in names.values():
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
