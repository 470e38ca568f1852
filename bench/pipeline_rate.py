"""Pipeline rate as a ratio of the raw broker ceiling, both measured in this one run.

Ceiling: one aiokafka process consuming topic A and producing each record to topic B
(getmany → send → flush + commit per batch). Pipeline: ContactClosed in → partner sandbox
accepted the SMS, through consent, dispatcher (SQLite, outbox, HTTP to the sandbox).

    uv run python bench/pipeline_rate.py [--events 2000] [--ceiling-events 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from palaute_runtime.local_broker import LocalBroker, create_topics
from palaute_runtime.logs import configure_logging
from palaute_schemas import CONTACT_CLOSED, ContactClosed
from palaute_stack.stack import LocalStack, StackOptions


def contact(n: int) -> ContactClosed:
    return ContactClosed(
        contact_id=f"B-{uuid.uuid4().hex[:12]}",
        customer_id=f"C{n:07d}",
        contact_channel="phone",
        language="fi",
        unit="Bench",
        closed_at=datetime.now(UTC),
        phone=f"+35840{1000000 + n:07d}",
    )


async def ceiling(bootstrap: str, events: int) -> float:
    """Records per second of a plain consume → produce loop (no validation, no storage)."""
    source, target = f"bench.a.{uuid.uuid4().hex[:6]}", f"bench.b.{uuid.uuid4().hex[:6]}"
    await create_topics(bootstrap, [(source, 4), (target, 4)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    payloads = [contact(n).model_dump_json().encode() for n in range(events)]
    for n, payload in enumerate(payloads):
        await producer.send(source, payload, key=f"C{n}".encode())
    await producer.flush()
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=source,
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
                await producer.send(target, record.value, key=record.key)
                moved += 1
        await producer.flush()
        await consumer.commit()
    elapsed = time.perf_counter() - started
    await consumer.stop()
    await producer.stop()
    return moved / elapsed


async def pipeline(bootstrap: str, events: int, data_dir: Path) -> float:
    """ContactClosed per second from publication to the partner's acceptance."""
    stack = LocalStack(
        StackOptions(
            data_dir=data_dir,
            embedded_broker=False,
            kafka_bootstrap=bootstrap,
            collector_port=0,
            sandbox_http_port=0,
            sandbox_smtp_port=0,
        )
    )
    await stack.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        contacts = [contact(n) for n in range(events)]
        started = time.perf_counter()
        for event in contacts:
            await producer.send(
                CONTACT_CLOSED.name,
                event.model_dump_json().encode(),
                key=event.customer_id.encode(),
            )
        await producer.flush()
        last_report = started
        while len(stack.sandbox.recorder.sms) < events:
            await asyncio.sleep(0.05)
            if time.perf_counter() - last_report > 5:
                last_report = time.perf_counter()
                print(
                    f"  ... {len(stack.sandbox.recorder.sms)}/{events} accepted by the partner",
                    file=sys.stderr,
                )
            if time.perf_counter() - started > 600:
                raise TimeoutError("the pipeline did not deliver every invitation in 10 minutes")
        elapsed = time.perf_counter() - started
        assert stack.sandbox.recorder.replays["sms"] == 0
        return events / elapsed
    finally:
        await producer.stop()
        await stack.stop()


async def main(events: int, ceiling_events: int) -> None:
    configure_logging("json", "warning")
    broker = LocalBroker()
    await broker.start()
    try:
        await create_topics(broker.bootstrap, [(CONTACT_CLOSED.name, CONTACT_CLOSED.partitions)])
        raw = await ceiling(broker.bootstrap, ceiling_events)
        with tempfile.TemporaryDirectory() as data_dir:
            rate = await pipeline(broker.bootstrap, events, Path(data_dir))
    finally:
        await broker.stop()
    print(f"raw consume→produce ceiling : {raw:10.0f} msg/s  ({ceiling_events} records)")
    print(f"pipeline ContactClosed→SMS  : {rate:10.0f} msg/s  ({events} events)")
    print(f"ratio pipeline / ceiling    : {rate / raw:10.4f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="pipeline events (2000)")
    parser.add_argument(
        "--ceiling-events", type=int, default=20000, help="records for the raw ceiling (20000)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.events, args.ceiling_events))
