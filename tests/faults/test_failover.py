"""Two SMS providers at once, and two dispatcher replicas sharing their contracts, in real
time on the real broker and PostgreSQL, through the two real providers' APIs as the sandbox
speaks them (PALAUTE_SMS_PROVIDER=twilio:50,46elks:50).

1. While 1,000 SMS wait, Twilio fails: 503s for a while, then, after a moment's calm (its
   circuit closes again), its sends hang (it takes each message but answers after the
   dispatcher has given up: the hand-over is in doubt).
   Twilio's share falls, 46elks carries the traffic, each message in doubt is settled with
   Twilio (its lookup finds it) and never sent through 46elks too; Twilio's share comes back
   after it recovers.
2. Then 1,000 more while Twilio's delivery reports come late: its share falls for slow
   reports, 46elks carries more, and the share comes back once the reports are prompt.

Throughout, each provider's stand-in enforces its contracted rate with a bucket of a
second's sends (as a provider does) and counts what it refused: two replicas, each sending
half of the contract, never go over it. Times are compressed through settings: the breaker's
cool-downs, the providers' timeouts, the failover's cool-down and quiet period, the slowness
threshold.

Run with `./dev test-faults` (CI runs it after `./dev test`).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from palaute_dispatcher.tables import invitations
from palaute_runtime.database import create_engine
from palaute_stack.stack import LocalStack, StackOptions
from tests.conftest import publish_requests, sms_requests, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.timeout(600)]

BACKLOG = 1000
RATE = 40  # each provider's contract, for the deployment
SETTINGS = {
    "sms_provider": "twilio:50,46elks:50",
    "partner_sms_rate_per_second": RATE,
    "sandbox_sms_rate_per_second": RATE,  # the stand-ins enforce it (429 above it)
    "partner_sms_timeout_seconds": 1.0,
    "breaker_cool_down_seconds": 0.5,
    "breaker_longest_cool_down_seconds": 4.0,
    "sms_failover_cool_down_seconds": 0.5,
    "sms_failover_quiet_seconds": 2.0,
    "sms_slow_report_seconds": 1.0,
    "sms_slow_window_seconds": 4.0,
    "sms_slow_check_seconds": 0.5,
    "replica_heartbeat_seconds": 0.5,
    "sandbox_receipt_delay_seconds": 0.1,
    "claim_seconds": 10.0,
}
ERRORS_SECONDS, CALM_SECONDS, HANG_SECONDS = 4.0, 2.0, 4.0


async def shares(client: httpx.AsyncClient, stack: LocalStack) -> list[dict[str, float]]:
    """Each replica's share per provider, as its /metrics says."""
    found = []
    for label, url in stack.ops_urls.items():
        if not label.startswith("dispatcher"):
            continue
        text = (await client.get(f"{url}/metrics")).text
        found.append(
            {
                sample.labels["provider"]: sample.value
                for family in text_string_to_metric_families(text)
                if family.name == "palaute_sms_provider_weight"
                for sample in family.samples
            }
        )
    return found


async def providers(client: httpx.AsyncClient, stack: LocalStack) -> dict[str, Any]:
    stats = (await client.get(f"{stack.sandbox_url}/sandbox/stats")).json()
    return dict(stats["providers"])


async def fault(client: httpx.AsyncClient, stack: LocalStack, **body: Any) -> None:
    answer = await client.post(f"{stack.sandbox_url}/sandbox/faults", json=body)
    assert answer.is_success, answer.text


@pytest.mark.postgres
async def test_a_provider_that_fails_or_reports_late_loses_traffic_and_nothing_goes_twice(
    tmp_path: Path, postgres_databases: Any
) -> None:
    url = await postgres_databases()
    stack = LocalStack(
        StackOptions.ephemeral(
            tmp_path,
            services=("dispatcher", "sandbox"),
            replicas=2,
            database_urls={"dispatcher": url},
            extra_settings=SETTINGS,
        )
    )
    await stack.start()
    first = sms_requests("Failover", BACKLOG, 414000000)
    second = sms_requests("Slow", BACKLOG, 415000000)
    engine = create_engine(url)
    try:
        async with httpx.AsyncClient(timeout=30) as client:

            async def accepted(count: int) -> dict[str, Any] | None:
                now = await providers(client, stack)
                total = now["twilio"]["accepted"] + now["46elks"]["accepted"]
                return now if total >= count else None

            async def back_to_even() -> bool:
                return all(
                    s == {"twilio": 50.0, "46elks": 50.0} for s in await shares(client, stack)
                )

            # 1. Twilio fails, then hangs, while the backlog goes out.
            await publish_requests(stack.options.kafka_bootstrap, first)
            await wait_until(lambda: accepted(50), within=60, what="the backlog under way")
            await fault(client, stack, provider="twilio", fail_for_seconds=ERRORS_SECONDS)
            # Counted once the fault is in force (a send the sandbox took just before counts
            # before it) and read a moment before it ends (not one that comes just after).
            before = await providers(client, stack)
            await asyncio.sleep(ERRORS_SECONDS - 1.0)  # the outage's length, in real time
            during_errors = await providers(client, stack)
            await asyncio.sleep(1.0)
            lowest = min(s["twilio"] for s in await shares(client, stack))
            await asyncio.sleep(CALM_SECONDS)  # a probe closes its circuit
            await fault(
                client, stack, provider="twilio", hang_for_seconds=HANG_SECONDS, hang_seconds=2.0
            )
            await asyncio.sleep(HANG_SECONDS)
            during_hang = await providers(client, stack)
            taken_in_hang = during_hang["twilio"]["accepted"] - during_errors["twilio"]["accepted"]
            lowest = min(lowest, *(s["twilio"] for s in await shares(client, stack)))
            await wait_until(lambda: accepted(BACKLOG), within=120, what="the first backlog")
            await wait_until(back_to_even, within=60, what="Twilio's share back")

            # 2. Twilio's delivery reports come late while the second backlog goes out.
            await fault(client, stack, provider="twilio", report_delay_seconds=3.0)
            started = time.monotonic()
            timeline: list[str] = []

            async def watch() -> None:
                while True:
                    now = await providers(client, stack)
                    low = min(s["twilio"] for s in await shares(client, stack))
                    timeline.append(
                        f"{time.monotonic() - started:.1f}s {now['twilio']['accepted']}/"
                        f"{now['46elks']['accepted']} {low:g}"
                    )
                    await asyncio.sleep(0.5)

            watcher = asyncio.create_task(watch())
            await publish_requests(stack.options.kafka_bootstrap, second)

            async def slowness_seen() -> float | None:
                low = min(s["twilio"] for s in await shares(client, stack))
                return low if low < 50 else None

            slow_share = await wait_until(
                slowness_seen, within=60, what="a lower share for slow reports"
            )
            seen_after = time.monotonic() - started
            at_slowness = await providers(client, stack)
            await wait_until(lambda: accepted(2 * BACKLOG), within=120, what="the second backlog")
            after_slow = await providers(client, stack)
            watcher.cancel()
            print("timeline (s, Twilio/46elks accepted, Twilio's lowest share):", timeline[::2])
            await fault(client, stack, provider="twilio", report_delay_seconds=None)
            await wait_until(back_to_even, within=60, what="Twilio's share back again")
            received = (await client.get(f"{stack.sandbox_url}/sandbox/messages")).json()

        twilio_in_errors = during_errors["twilio"]["accepted"] - before["twilio"]["accepted"]
        elks_in_outage = during_hang["46elks"]["accepted"] - before["46elks"]["accepted"]
        slow_twilio = after_slow["twilio"]["accepted"] - at_slowness["twilio"]["accepted"]
        slow_elks = after_slow["46elks"]["accepted"] - at_slowness["46elks"]["accepted"]
        print(
            f"outage: Twilio took {twilio_in_errors} in its 503s and {taken_in_hang} whose answer "
            f"it lost, 46elks {elks_in_outage} meanwhile; Twilio's share fell to {lowest:g}. "
            f"Slow reports: share {slow_share:g} after {seen_after:.1f} s, "
            f"then Twilio took {slow_twilio} and 46elks {slow_elks}. Refused for the rate: "
            f"{ {p: after_slow[p]['throttled'] for p in ('twilio', '46elks')} }"
        )
        assert twilio_in_errors == 0, "nothing goes through a provider answering 503"
        assert elks_in_outage >= RATE * (ERRORS_SECONDS + HANG_SECONDS) / 2, "46elks carried it"
        assert taken_in_hang > 0, "some SMS were in doubt at Twilio: the case to prove"
        assert lowest <= 20, "a step per failover cool-down: far down in 8 s"
        assert slow_elks >= 2 * slow_twilio, "46elks carried the most while Twilio was slow"
        # Every number exactly once: the messages in doubt at Twilio were not sent again.
        sent_to = Counter(m["to"] for m in received["sms"])
        assert sent_to == Counter(r.address for r in first + second)
        # The replicas shared each contract: the stand-ins refused nothing for the rate.
        assert after_slow["twilio"]["throttled"] == 0
        assert after_slow["46elks"]["throttled"] == 0

        async def settled() -> Counter[str] | None:
            async with engine.connect() as connection:
                rows = (
                    await connection.execute(
                        sa.select(invitations.c.status, invitations.c.provider)
                    )
                ).all()
            found = Counter((row.status, row.provider) for row in rows)
            return found if not any(status == "pending" for status, _ in found) else None

        statuses = await wait_until(settled, within=60, what="every invitation recorded")
        assert sum(statuses.values()) == 2 * BACKLOG
        assert {status for status, _ in statuses} == {"sent"}, statuses
        by_provider = Counter({p: n for (_, p), n in statuses.items()})
        assert by_provider["twilio"] == after_slow["twilio"]["accepted"]
        assert by_provider["46elks"] == after_slow["46elks"]["accepted"]
    finally:
        await engine.dispose()
        await stack.stop()
