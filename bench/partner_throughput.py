"""The dispatcher against a partner as it really is: the sandbox answers each SMS after a
realistic response time (50, 150, 400 ms) and enforces a contracted rate (100, 500,
1,000 SMS/s, 429 above it); the dispatcher runs as its own process with that contracted
rate and enough concurrency for it (up to its limit of 256 calls in flight).

For each pair it prints the rate attained (from the sandbox's own acceptance times, over the
middle 60 % of the backlog, so start-up and the tail do not count), its ratio to the
contracted rate, the 429s, the dispatcher's CPU seconds per 1,000 invitations, and how many
dispatcher processes that contracted rate needs at that response time. The ratios are of
this one run on this machine; nothing here is asserted as a speed.

    ./dev python bench/partner_throughput.py [--seconds 4] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from palaute_runtime.logs import configure_logging
from palaute_schemas import SURVEY_REQUESTED, SurveyRequested
from palaute_stack.stack import LocalStack, StackOptions

LATENCIES_MS = (50, 150, 400)
RATES = (100, 500, 1000)
MOST_IN_FLIGHT = 256  # the dispatcher's PALAUTE_DELIVERY_CONCURRENCY limit


def say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def in_flight_needed(rate: float, latency_ms: float) -> int:
    """Calls in flight at once for `rate` sends a second taking `latency_ms` each."""
    return math.ceil(rate * latency_ms / 1000)


async def publish_backlog(bootstrap: str, count: int) -> None:
    """`count` SurveyRequested for SMS to fresh Finnish mobiles, as consent publishes them."""
    run = uuid.uuid4().hex[:6]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for n in range(count):
            request = SurveyRequested(
                contact_id=f"Bench-{run}-{n}",
                customer_id=f"C-{run}-{n}",
                channel="sms",
                address=f"+358409{n:06d}",
                language="fi",
                contact_channel="phone",
                unit="Bench",
                contact_day=date.today(),
                anonymous=False,
            )
            await producer.send(
                SURVEY_REQUESTED.name,
                request.model_dump_json().encode(),
                key=SURVEY_REQUESTED.key(request).encode(),
            )
        await producer.flush()
    finally:
        await producer.stop()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def scenario(latency_ms: int, rate: int, seconds: float) -> dict[str, Any]:
    """One latency and contracted rate: a backlog of `rate * seconds` SMS invitations."""
    count = int(rate * seconds)
    concurrency = min(MOST_IN_FLIGHT, in_flight_needed(rate, latency_ms) * 5 // 4 + 8)
    settings = {
        "sandbox_response_ms": latency_ms,
        "sandbox_sms_rate_per_second": rate,
        "partner_sms_rate_per_second": rate,
        "delivery_concurrency": concurrency,
        "delivery_batch_size": min(1000, max(64, concurrency)),
    }
    with tempfile.TemporaryDirectory() as folder:
        stack = LocalStack(
            StackOptions.ephemeral(
                Path(folder), services=("dispatcher", "sandbox"), extra_settings=settings
            )
        )
        await stack.start()
        try:
            assert stack.supervisor is not None
            pid = stack.supervisor.services["dispatcher"].pid
            assert pid is not None
            cpu_before = cpu_seconds(pid)
            await publish_backlog(stack.options.kafka_bootstrap, count)
            async with httpx.AsyncClient(timeout=30) as client:
                deadline = time.monotonic() + seconds * 20 + 60
                while True:
                    stats = (await client.get(f"{stack.sandbox_url}/sandbox/stats")).json()
                    if stats["accepted"]["sms"] >= count or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.1)
                cpu = cpu_seconds(pid) - cpu_before
                messages = (await client.get(f"{stack.sandbox_url}/sandbox/messages")).json()
        finally:
            await stack.stop()
    times = sorted(datetime.fromisoformat(m["received_at"]) for m in messages["sms"])
    low, high = int(len(times) * 0.2), int(len(times) * 0.8) - 1
    span = (times[high] - times[low]).total_seconds() if high > low else 0.0
    attained = (high - low) / span if span > 0 else 0.0
    return {
        "latency_ms": latency_ms,
        "rate": rate,
        "invitations": count,
        "accepted": len(times),
        "attained": attained,
        "ratio": attained / rate,
        "throttled": stats["throttled"]["sms"],
        "cpu_per_1000": cpu / max(1, len(times)) * 1000,
        "processes_needed": math.ceil(in_flight_needed(rate, latency_ms) / MOST_IN_FLIGHT),
    }


async def main(args: argparse.Namespace) -> None:
    configure_logging("console", "warning")
    pairs = [(50, 100)] if args.quick else [(lat, r) for lat in LATENCIES_MS for r in RATES]
    results = []
    for latency_ms, rate in pairs:
        say(f"{latency_ms} ms, {rate}/s: {int(rate * args.seconds)} invitations ...")
        results.append(await scenario(latency_ms, rate, args.seconds))
    print("response  contracted  attained  ratio  429s  dispatcher CPU s/1000  processes needed")
    for r in results:
        print(
            f"{r['latency_ms']:>5} ms  {r['rate']:>7}/s  {r['attained']:>7.0f}/s  "
            f"{r['ratio']:5.2f}  {r['throttled']:>4}  {r['cpu_per_1000']:>21.2f}  "
            f"{r['processes_needed']:>16}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=4.0, help="backlog size in seconds of the rate (4)"
    )
    parser.add_argument("--quick", action="store_true", help="one pair only (50 ms, 100/s)")
    asyncio.run(main(parser.parse_args()))
