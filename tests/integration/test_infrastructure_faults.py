"""A database that is locked or refuses connections pauses a consumer; nothing is lost and
nothing valid is dead-lettered. Real broker, real SQLite lock, real PostgreSQL refusal."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from palaute_consent.bootstrap import build as build_consent
from palaute_consent.settings import ConsentSettings
from palaute_runtime.database import DatabaseInUse
from palaute_runtime.service import ServiceRuntime
from palaute_schemas import CONTACT_CLOSED, SURVEY_REQUESTED, ContactClosed
from palaute_stack.stack import LOCAL_RELEASE_RULES
from tests.conftest import wait_until

pytestmark = pytest.mark.broker


def contacts(count: int) -> list[ContactClosed]:
    batch = uuid.uuid4().hex[:8]
    return [
        ContactClosed(
            contact_id=f"F-{batch}-{n}",
            customer_id=f"C-{batch}-{n}",
            contact_channel="chat",
            language="sv",
            unit="Malmö",
            closed_at=datetime.now(UTC),
            email=f"kund{n}@example.se",
        )
        for n in range(count)
    ]


class TopicWatcher:
    """Reads a topic from the start in the background and keeps every value."""

    def __init__(self, kafka: str, topic: str) -> None:
        self.values: list[dict[str, object]] = []
        self._consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=kafka, auto_offset_reset="earliest", fetch_max_wait_ms=20
        )
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TopicWatcher:
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for record in self._consumer:
            self.values.append(json.loads(record.value))

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()


@pytest.fixture
async def producer(kafka: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


@asynccontextmanager
async def sqlite_write_lock(path: Path, released: threading.Event) -> AsyncIterator[None]:
    """Hold SQLite's write lock from another connection until `released` is set. Waiting
    for it must not block the event loop: the service under test runs in it, and may be in
    the middle of a transaction that has to finish first."""
    locked = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(path, timeout=30)
        connection.execute("BEGIN EXCLUSIVE")
        locked.set()
        released.wait(60)
        connection.rollback()
        connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert await asyncio.to_thread(locked.wait, 30), "could not take the SQLite lock"
        yield
    finally:
        released.set()
        await asyncio.to_thread(thread.join)


async def publish(producer: AIOKafkaProducer, batch: list[ContactClosed]) -> None:
    for event in batch:
        await producer.send(
            CONTACT_CLOSED.name, event.model_dump_json().encode(), key=event.customer_id.encode()
        )
    await producer.flush()


async def requested_all(watcher: TopicWatcher, batch: list[ContactClosed]) -> bool:
    wanted = {c.contact_id for c in batch}
    return wanted <= {v["contact_id"] for v in watcher.values}


async def test_a_locked_sqlite_database_pauses_consent_and_loses_nothing(
    kafka: str, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    database = tmp_path / "consent.db"
    settings = ConsentSettings(
        kafka_bootstrap=kafka,
        data_dir=tmp_path,
        consent_database_url=f"sqlite+aiosqlite:///{database}?timeout=0.5",
        **LOCAL_RELEASE_RULES,
    )
    runtime, _ = build_consent(settings)
    await runtime.start()
    released = threading.Event()
    batch = contacts(40)
    try:
        async with (
            TopicWatcher(kafka, SURVEY_REQUESTED.name) as requested,
            TopicWatcher(kafka, CONTACT_CLOSED.dead_letter) as dead,
        ):
            async with sqlite_write_lock(database, released):
                await publish(producer, batch)
                await wait_until(
                    lambda: _not_ready(runtime), what="consent to report the database fault"
                )
                assert not await requested_all(requested, batch)
                # Held for several busy timeouts: each attempt fails and the consumer waits.
                await asyncio.sleep(3)
                assert not runtime.health.ready
            await wait_until(
                lambda: requested_all(requested, batch), what="every contact after the lock"
            )
            assert runtime.health.ready
            ours = [v for v in dead.values if str(v.get("contact_id", "")).startswith("F-")]
            assert ours == [], "nothing valid was dead-lettered"
    finally:
        await runtime.stop()


async def _not_ready(runtime: ServiceRuntime) -> bool:
    return not runtime.health.ready


async def ready_answer(runtime: ServiceRuntime) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"{runtime.ops.url}/health/ready")


@pytest.mark.postgres
async def test_a_postgresql_that_refuses_connections_pauses_consent_and_loses_nothing(
    kafka: str, producer: AIOKafkaProducer, postgres_url: str, postgres_admin: str, tmp_path: Path
) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    runtime, _ = build_consent(
        ConsentSettings(
            kafka_bootstrap=kafka,
            data_dir=tmp_path,
            consent_database_url=postgres_url,
            **LOCAL_RELEASE_RULES,
        )
    )
    await runtime.start()
    admin = await asyncpg.connect(postgres_admin)
    batch = contacts(40)
    try:
        async with (
            TopicWatcher(kafka, SURVEY_REQUESTED.name) as requested,
            TopicWatcher(kafka, CONTACT_CLOSED.dead_letter) as dead,
        ):
            # The database goes away: no new connections, and the open ones are cut.
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
            await publish(producer, batch)
            await wait_until(
                lambda: _not_ready(runtime), what="consent to report the database fault"
            )
            # Readiness says so to the orchestrator, naming the database.
            answer = await ready_answer(runtime)
            assert answer.status_code == 503
            assert "database" in answer.json()["problems"]
            await asyncio.sleep(2)
            assert not await requested_all(requested, batch)
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            await wait_until(
                lambda: requested_all(requested, batch), what="every contact after the outage"
            )

            async def ready_again() -> bool:
                return (await ready_answer(runtime)).status_code == 200

            await wait_until(ready_again, what="readiness after the outage")
            ours = [v for v in dead.values if str(v.get("contact_id", "")).startswith("F-")]
            assert ours == [], "nothing valid was dead-lettered"
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await admin.close()
        await runtime.stop()


async def test_a_second_service_process_on_one_sqlite_database_is_refused(
    kafka: str, tmp_path: Path
) -> None:
    settings = ConsentSettings(kafka_bootstrap=kafka, data_dir=tmp_path, **LOCAL_RELEASE_RULES)
    first, _ = build_consent(settings)
    second, _ = build_consent(settings)
    await first.start()
    try:
        with pytest.raises(DatabaseInUse, match="one process per database"):
            await second.start()
    finally:
        await first.stop()
    await second.start()  # free again once the first one stopped
    await second.stop()
