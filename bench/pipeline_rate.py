"""The message path's figures, each measured in this one run on the local broker.

- ceiling: one aiokafka process consuming topic A and producing each record to topic B
  (getmany → send → flush + commit per batch): what the broker and client allow;
- consent alone: ContactClosed → SurveyRequested, the consent process on its own;
- pipeline: ContactClosed → the partner sandbox accepted the SMS, every service as its own
  process (the same stack as `palaute up`), then the peak RSS of each process;
- latency: ContactClosed → partner at a steady 50 events/s, p50 / p95 / p99.

Rates are printed as ratios of the ceiling measured in the same run, so the machine's speed
cancels out. Every scenario gets a fresh broker and fresh databases.

    ./dev python bench/pipeline_rate.py [--events 5000] [--database postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from palaute_runtime.local_broker import LocalBroker, TopicSpec, create_topics
from palaute_runtime.logs import configure_logging
from palaute_schemas import CONTACT_CLOSED, SURVEY_REQUESTED, ContactClosed
from palaute_stack.stack import LocalStack, StackOptions

POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def contact(n: int, run: str) -> ContactClosed:
    return ContactClosed(
        contact_id=f"B-{run}-{n}",
        customer_id=f"C{run}{n:07d}",
        contact_channel="phone",
        language="fi",
        unit="Bench",
        closed_at=datetime.now(UTC),
        phone=f"+35840{1000000 + n:07d}",
    )


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def ceiling(events: int) -> float:
    """Records per second of a plain consume → produce loop (no validation, no storage)."""
    broker = LocalBroker()
    await broker.start()
    try:
        bootstrap = broker.bootstrap
        await create_topics(bootstrap, [TopicSpec("bench.a", 4), TopicSpec("bench.b", 4)])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        await producer.start()
        run = uuid.uuid4().hex[:6]
        for n in range(events):
            await producer.send(
                "bench.a", contact(n, run).model_dump_json().encode(), key=b"%d" % n
            )
        await producer.flush()
        consumer = AIOKafkaConsumer(
            "bench.a",
            bootstrap_servers=bootstrap,
            group_id="bench",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=10,
        )
        await consumer.start()
        moved = 0
        started = time.perf_counter()
        while moved < events:
            batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
            for records in batch.values():
                for record in records:
                    await producer.send("bench.b", record.value, key=record.key)
                    moved += 1
            await producer.flush()
            await consumer.commit()
        elapsed = time.perf_counter() - started
        await consumer.stop()
        await producer.stop()
        return moved / elapsed
    finally:
        await broker.stop()


@dataclass
class Databases:
    """Where the services keep their data in one scenario."""

    kind: str
    dsn: str

    @asynccontextmanager
    async def fresh(self) -> AsyncIterator[dict[str, str]]:
        """Empty databases for the three services (SQLite: the stack's default files)."""
        if self.kind == "sqlite":
            yield {}
            return
        suffix = uuid.uuid4().hex[:8]
        names = {service: f"bench_{service}_{suffix}" for service in SERVICES_WITH_DATA}
        admin = await asyncpg.connect(self.dsn)
        try:
            for name in names.values():
                await admin.execute(f'CREATE DATABASE "{name}"')
            base = self.dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            yield {service: f"{base}/{name}" for service, name in names.items()}
        finally:
            for name in names.values():
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


SERVICES_WITH_DATA = ("consent", "dispatcher", "collector")


@asynccontextmanager
async def running_stack(
    databases: Databases, services: tuple[str, ...], data_dir: Path
) -> AsyncIterator[LocalStack]:
    async with databases.fresh() as urls:
        stack = LocalStack(
            StackOptions.ephemeral(
                data_dir / uuid.uuid4().hex[:6],
                database_urls=urls,
                services=services,
                # The sandbox is unlimited here: measure the pipeline, not a partner's contract.
                extra_settings={
                    "partner_sms_rate_per_second": 10_000,
                    "partner_email_rate_per_second": 10_000,
                    "sandbox_receipt_url": "",  # no delivery receipts: not the pipeline's work
                },
            )
        )
        await stack.start()
        try:
            yield stack
        finally:
            await stack.stop()


async def publish_all(bootstrap: str, contacts: list[ContactClosed]) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    for event in contacts:
        await producer.send(
            CONTACT_CLOSED.name, event.model_dump_json().encode(), key=event.customer_id.encode()
        )
    await producer.flush()
    return producer


async def wait_for_count(
    count: Callable[[], Awaitable[int]], target: int, what: str, limit: float = 900
) -> None:
    started = last = time.perf_counter()
    while (done := await count()) < target:
        if time.perf_counter() - last > 5:
            last = time.perf_counter()
            say(f"  ... {done}/{target} {what}")
        if time.perf_counter() - started > limit:
            raise TimeoutError(f"only {done}/{target} {what} after {limit:g} s")
        await asyncio.sleep(0.05)


async def consent_alone(databases: Databases, events: int, data_dir: Path) -> float:
    """ContactClosed per second through consent alone, to SurveyRequested on the topic."""
    async with running_stack(databases, ("consent",), data_dir) as stack:
        bootstrap = stack.options.kafka_bootstrap
        watcher = AIOKafkaConsumer(
            SURVEY_REQUESTED.name,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=10,
        )
        await watcher.start()
        seen = 0

        async def requested() -> int:
            nonlocal seen
            batch = await watcher.getmany(timeout_ms=50, max_records=10_000)
            seen += sum(len(records) for records in batch.values())
            return seen

        run = uuid.uuid4().hex[:6]
        contacts = [contact(n, run) for n in range(events)]
        started = time.perf_counter()
        producer = await publish_all(bootstrap, contacts)
        await wait_for_count(requested, events, "requested by consent")
        elapsed = time.perf_counter() - started
        await producer.stop()
        await watcher.stop()
        return events / elapsed


async def accepted_count(client: httpx.AsyncClient, stack: LocalStack) -> int:
    stats = (await client.get(f"{stack.sandbox_url}/sandbox/stats")).json()
    return int(stats["accepted"]["sms"])


def peak_rss_mb(stack: LocalStack) -> dict[str, float]:
    """Each service process's peak resident memory (VmHWM), in MB."""
    assert stack.supervisor is not None
    peaks: dict[str, float] = {}
    for name, service in stack.supervisor.services.items():
        status = Path(f"/proc/{service.pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        peaks[name] = kib / 1024
    return peaks


async def pipeline(
    databases: Databases, events: int, data_dir: Path
) -> tuple[float, dict[str, float]]:
    """ContactClosed per second to the partner's acceptance, and each process's peak RSS."""
    async with (
        running_stack(
            databases, ("sandbox", "consent", "dispatcher", "collector"), data_dir
        ) as stack,
        httpx.AsyncClient(timeout=30) as client,
    ):
        run = uuid.uuid4().hex[:6]
        contacts = [contact(n, run) for n in range(events)]
        started = time.perf_counter()
        producer = await publish_all(stack.options.kafka_bootstrap, contacts)
        await wait_for_count(
            lambda: accepted_count(client, stack), events, "accepted by the partner"
        )
        elapsed = time.perf_counter() - started
        await producer.stop()
        stats = (await client.get(f"{stack.sandbox_url}/sandbox/stats")).json()
        assert stats["accepted"]["sms"] == events, stats
        return events / elapsed, peak_rss_mb(stack)


async def latency(databases: Databases, rate: float, seconds: float, data_dir: Path) -> list[float]:
    """Milliseconds from publishing ContactClosed to the partner's acceptance, at a steady rate."""
    async with (
        running_stack(
            databases, ("sandbox", "consent", "dispatcher", "collector"), data_dir
        ) as stack,
        httpx.AsyncClient(timeout=30) as client,
    ):
        producer = AIOKafkaProducer(bootstrap_servers=stack.options.kafka_bootstrap, acks="all")
        await producer.start()
        run = uuid.uuid4().hex[:6]
        count = int(rate * seconds)
        published: dict[str, float] = {}
        started = time.perf_counter()
        for n in range(count):
            event = contact(n, run)
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            published[event.phone or ""] = time.time()
            await producer.send(
                CONTACT_CLOSED.name,
                event.model_dump_json().encode(),
                key=event.customer_id.encode(),
            )
        await producer.flush()
        await wait_for_count(lambda: accepted_count(client, stack), count, "accepted")
        await producer.stop()
        received = (await client.get(f"{stack.sandbox_url}/sandbox/messages")).json()["sms"]
        return [
            (datetime.fromisoformat(m["received_at"]).timestamp() - published[m["to"]]) * 1000
            for m in received
        ]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def main(args: argparse.Namespace) -> None:
    configure_logging("json", "warning")
    databases = Databases(args.database, args.postgres_dsn)
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch)
        say(f"ceiling: {args.ceiling_events} records ...")
        raw = await ceiling(args.ceiling_events)
        say(f"consent alone: {args.events} events ...")
        consent = await consent_alone(databases, args.events, data_dir)
        say(f"pipeline: {args.events} events ...")
        rate, rss = await pipeline(databases, args.events, data_dir)
        delays: list[float] = []
        if args.latency_seconds > 0:
            say(f"latency: {args.latency_rate:g} events/s for {args.latency_seconds:g} s ...")
            delays = await latency(databases, args.latency_rate, args.latency_seconds, data_dir)
    print(f"database                    : {args.database}")
    print(f"raw consume→produce ceiling : {raw:10.0f} msg/s  ({args.ceiling_events} records)")
    print(f"consent alone               : {consent:10.0f} msg/s  ({args.events} events)")
    print(f"pipeline ContactClosed→SMS  : {rate:10.0f} msg/s  ({args.events} events)")
    print(f"ratio consent / ceiling     : {consent / raw:10.4f}")
    print(f"ratio pipeline / ceiling    : {rate / raw:10.4f}")
    if delays:
        print(
            f"latency at {args.latency_rate:g}/s (ms)       : p50 {percentile(delays, 0.5):.0f}"
            f"  p95 {percentile(delays, 0.95):.0f}  p99 {percentile(delays, 0.99):.0f}"
            f"  max {max(delays):.0f}  ({len(delays)} events)"
        )
    print(
        f"peak RSS after {args.events} (MB)  : "
        + "  ".join(f"{name} {mb:.0f}" for name, mb in rss.items())
    )
    print(
        json.dumps(
            {
                "ceiling": raw,
                "consent": consent,
                "pipeline": rate,
                "rss_mb": rss,
                "latency_p50_ms": percentile(delays, 0.5) if delays else None,
                "latency_p99_ms": percentile(delays, 0.99) if delays else None,
                "latency_mean_ms": statistics.fmean(delays) if delays else None,
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="events per rate scenario (5000)")
    parser.add_argument(
        "--ceiling-events", type=int, default=50000, help="records for the raw ceiling (50000)"
    )
    parser.add_argument(
        "--latency-rate", type=float, default=50.0, help="steady events/s for latency (50)"
    )
    parser.add_argument(
        "--latency-seconds",
        type=float,
        default=20.0,
        help="how long to measure latency (20; 0 skips)",
    )
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-dsn", default=POSTGRES_DSN, help=f"({POSTGRES_DSN})")
    asyncio.run(main(parser.parse_args()))
