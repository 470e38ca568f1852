"""A partner that fails, in real time, against the dispatcher as its own process reading the
real broker, through the two real providers' APIs as the sandbox speaks them: 15 s of 503s
from 46elks's, and 15 s of 429s from Twilio's (each adapter looks a message up before
sending it: neither API has an idempotency key), starting at a moment drawn from the
session's seed while 300 invitations wait. (The sandbox's own API, for development only,
has its outage test in tests/integration/test_dispatcher_partner.py.) Nothing
is lost, nothing is sent twice, and while the partner is down it sees only a handful of
calls (the ones before the circuit opened, then one probe at a time). The outage is a
quarter of a minute, and the breaker's cool-downs a quarter of production's (0.5 s doubling
to 7.5 s), so it sees as many probes.

Run with `./dev test-faults` (CI runs it after `./dev test`).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from palaute_dispatcher.tables import invitations
from palaute_runtime.database import create_engine
from palaute_stack.stack import LocalStack, StackOptions
from tests.conftest import publish_requests, sms_requests, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]

BACKLOG = 300
OUTAGE_SECONDS = 15.0
BREAKER = {"breaker_cool_down_seconds": 0.5, "breaker_longest_cool_down_seconds": 7.5}
RATE = 50
# What the partner sees while down. First the calls already under way when it went: one
# delivery round's burst (a tenth to a whole second of sends at the contracted rate, as long
# as the machine makes a round), all within 1.5 s of the first failure. Then one call at a
# time, each at least 0.5 s after the one before: until the breaker opens (5 failures in a
# row), the calls the partner's Retry-After of 1 s lets through, at most four; then probes
# after cool-downs of 0.5 s doubling to 7.5 s, at most six in 15 s. In the outage's second
# half only the probes after cool-downs of 4 s and more: at most two.
OPENING_SECONDS = 1.5
MOST_IN_FLIGHT = RATE
MOST_AFTER_OPENING = 4 + 6
MOST_IN_SECOND_HALF = 2


async def stats(client: httpx.AsyncClient, stack: LocalStack) -> dict[str, Any]:
    answer = await client.get(f"{stack.sandbox_url}/sandbox/stats")
    return dict(answer.json())


@pytest.mark.parametrize(("provider", "status"), [("46elks", 503), ("twilio", 429)])
async def test_a_partner_outage_delays_every_invitation_and_loses_none(
    tmp_path: Path, provider: str, status: int, fault_seed: int
) -> None:
    # The partner goes down while the backlog arrives, at a moment drawn from the seed.
    goes_down_after = random.Random(fault_seed + status).uniform(0.0, 1.5)
    stack = LocalStack(
        StackOptions.ephemeral(
            tmp_path,
            services=("dispatcher", "sandbox"),
            extra_settings=BREAKER
            | {"partner_sms_rate_per_second": RATE, "sms_provider": provider},
        )
    )
    await stack.start()
    backlog = sms_requests("Outage", BACKLOG, 413000000)
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            await publish_requests(stack.options.kafka_bootstrap, backlog)
            await asyncio.sleep(goes_down_after)
            fault = {"fail_for_seconds": OUTAGE_SECONDS, "status": status}
            assert (await client.post(f"{stack.sandbox_url}/sandbox/faults", json=fault)).is_success
            went_down = time.monotonic()
            before = await stats(client, stack)

            async def partner_back() -> bool:
                return bool((await stats(client, stack))["outage_seconds_left"] == 0)

            await wait_until(partner_back, within=OUTAGE_SECONDS + 30, what="the outage's end")
            while_down = await stats(client, stack)
            came_back = time.monotonic()

            async def all_accepted() -> bool:
                return bool((await stats(client, stack))["accepted"]["sms"] >= BACKLOG)

            await wait_until(all_accepted, within=120, what="the backlog after the outage")
            drained_in = time.monotonic() - came_back
            after = await stats(client, stack)
            received = (await client.get(f"{stack.sandbox_url}/sandbox/messages")).json()
        failed_at = while_down["rejected_at"]  # seconds since the fault was set
        opening = [t for t in failed_at if t < failed_at[0] + OPENING_SECONDS]
        probes = failed_at[len(opening) :]
        print(
            f"{OUTAGE_SECONDS:g} s of {status} from {goes_down_after:.2f} s on: "
            f"{before['accepted']['sms']} accepted before it, {len(opening)} calls "
            f"failed in its first {OPENING_SECONDS:g} s, then one at a time at {probes}; "
            f"backlog of {BACKLOG} drained {drained_in:.1f} s after "
            f"({time.monotonic() - went_down:.1f} s in all)"
        )
        assert 0 < len(opening) <= MOST_IN_FLIGHT
        assert len(probes) <= MOST_AFTER_OPENING
        gaps = [later - earlier for earlier, later in itertools.pairwise(probes)]
        assert all(gap >= BREAKER["breaker_cool_down_seconds"] for gap in gaps), gaps
        assert len([t for t in failed_at if t >= OUTAGE_SECONDS / 2]) <= MOST_IN_SECOND_HALF
        assert Counter(m["to"] for m in received["sms"]) == Counter(r.address for r in backlog)
        assert after["throttled"]["sms"] == while_down["throttled"]["sms"], "no 429 after"
        engine = create_engine(stack.dispatcher_settings.database_url)
        try:
            # The dispatcher records a round's outcomes once all its calls have answered: the
            # partner may hold the last message a moment before its invitation says sent.
            async def settled() -> Counter[str] | None:
                async with engine.connect() as connection:
                    found = Counter(
                        (await connection.scalars(sa.select(invitations.c.status))).all()
                    )
                return found if "pending" not in found else None

            statuses = await wait_until(settled, within=60, what="every invitation recorded")
        finally:
            await engine.dispose()
        assert statuses == {"sent": BACKLOG}, "none failed, none expired"
    finally:
        await stack.stop()
