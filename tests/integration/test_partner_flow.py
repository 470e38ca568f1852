"""The dispatcher's pace against the partner sandbox over real HTTP, in real time: the
contracted rate without a single 429, and expiry of what an outage kept too long."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa

from palaute_dispatcher import tables
from palaute_dispatcher.partner import HttpSmsPartner, SmtpEmailPartner
from palaute_dispatcher.service import DispatcherService
from palaute_dispatcher.settings import DispatcherSettings
from palaute_runtime.database import create_engine
from palaute_runtime.migrations import migrate
from palaute_sandbox.server import PartnerSandbox
from palaute_schemas import InvitationFailed, SurveyRequested, SurveyWithdrawn
from palaute_stack.stack import LOCAL_RELEASE_RULES
from tests.conftest import sms_requests, wait_until


@asynccontextmanager
async def dispatcher_for(
    sandbox: PartnerSandbox, database_url: str, **settings: object
) -> AsyncIterator[DispatcherService]:
    config = DispatcherSettings(
        dispatcher_database_url=database_url,
        partner_sms_url=sandbox.http.url,
        partner_smtp_port=sandbox.settings.sandbox_smtp_port,
        **(LOCAL_RELEASE_RULES | settings),  # type: ignore[arg-type]
    )
    engine = create_engine(config.database_url)
    await migrate(engine, tables.MIGRATIONS)
    sms = HttpSmsPartner(config.partner_sms_url, config.partner_api_key, config.sms_sender)
    email = SmtpEmailPartner("127.0.0.1", config.partner_smtp_port, config.email_sender)
    try:
        yield DispatcherService(engine, config, {"sms": sms, "email": email})
    finally:
        await sms.close()
        await engine.dispose()


def backlog(count: int) -> list[SurveyRequested]:
    return sms_requests("Flow", count, 402000000)


async def partner_set(sandbox: PartnerSandbox, **fault: object) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{sandbox.http.url}/sandbox/faults", json=fault)
        assert answer.status_code == 200, answer.text


@asynccontextmanager
async def delivering(dispatcher: DispatcherService) -> AsyncIterator[None]:
    """The dispatcher's delivery loop, running for the block."""
    delivery = asyncio.create_task(dispatcher.run_delivery())
    try:
        yield
    finally:
        delivery.cancel()
        await asyncio.gather(delivery, return_exceptions=True)


async def statuses(dispatcher: DispatcherService) -> list[str]:
    async with dispatcher.engine.connect() as connection:
        return sorted((await connection.scalars(sa.select(tables.invitations.c.status))).all())


async def test_a_backlog_drains_at_the_contracted_rate_without_a_429(
    sandbox: PartnerSandbox, database_url: str
) -> None:
    # The sandbox enforces the contract (a 429 for every call over 200/s): a backlog five
    # seconds long at that rate drains with none. How fast is the benchmark's to say.
    await partner_set(sandbox, rate_per_second=200)
    async with dispatcher_for(sandbox, database_url, partner_sms_rate_per_second=200) as dispatcher:
        await dispatcher.handle_survey_requests(backlog(1000))
        started = time.monotonic()
        async with delivering(dispatcher):

            async def drained() -> bool:
                return len(sandbox.recorder.sms) >= 1000

            await wait_until(drained, within=60, what="the backlog to drain")
            took = time.monotonic() - started
    counts = sandbox.recorder.counts()
    print(f"1,000 SMS at 200/s drained in {took:.2f} s; {counts['throttled']['sms']} x 429")
    assert counts["throttled"]["sms"] == 0, "never over the contracted rate"
    assert counts["replays"]["sms"] == 0
    assert len({m["to"] for m in sandbox.recorder.sms}) == 1000, "each once"


async def test_an_invitation_an_outage_kept_past_its_send_by_time_is_expired_never_sent(
    sandbox: PartnerSandbox, database_url: str
) -> None:
    # An outage twice as long as the send-by time (shortened through the settings).
    await partner_set(sandbox, fail_for_seconds=4, status=503)
    async with dispatcher_for(
        sandbox, database_url, max_send_delay_hours=2 / 3600, breaker_cool_down_seconds=0.5
    ) as dispatcher:
        await dispatcher.handle_survey_requests(backlog(20))
        async with delivering(dispatcher):

            async def all_expired() -> bool:
                return await statuses(dispatcher) == ["expired"] * 20

            await wait_until(all_expired, within=30, what="all 20 to expire")
            # A newcomer after the outage is delivered: the loop runs with the partner up,
            # and still sends none of the expired ones.
            (late,) = backlog(1)
            await wait_until(partner_up(sandbox), within=30, what="the partner to come back")
            await dispatcher.handle_survey_requests([late])

            async def late_delivered() -> bool:
                return len(sandbox.recorder.sms) > 0

            await wait_until(late_delivered, within=30, what="the newcomer to be delivered")
        async with dispatcher.engine.connect() as connection:
            payloads = (await connection.execute(sa.select(tables.outbox.c.payload))).scalars()
            events = [p for p in payloads if '"reason"' in p]
    assert [m["to"] for m in sandbox.recorder.sms] == [late.address]
    failed = [InvitationFailed.model_validate_json(p) for p in events]
    assert sorted(f.reason for f in failed) == ["expired"] * 20
    assert all(f.contact_id and f.contact_id.startswith("Flow-") for f in failed)


def partner_up(sandbox: PartnerSandbox) -> Callable[[], Awaitable[bool]]:
    """Whether the sandbox's injected outage is over (asked without changing it)."""

    async def probe() -> bool:
        async with httpx.AsyncClient() as client:
            stats = (await client.get(f"{sandbox.http.url}/sandbox/stats")).json()
        return bool(stats["outage_seconds_left"] == 0)

    return probe


def dispatcher_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "palaute_dispatcher", *args],
        env={**os.environ, "PALAUTE_DISPATCHER_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_an_operator_requeues_what_was_given_up_in_a_time_range(
    sandbox: PartnerSandbox, database_url: str
) -> None:
    await partner_set(sandbox, fail_for_seconds=30, status=503)
    before = datetime.now(UTC)
    given_up = backlog(3)
    async with dispatcher_for(sandbox, database_url, max_send_delay_hours=1 / 3600) as dispatcher:
        await dispatcher.handle_survey_requests(given_up)
        await dispatcher.handle_withdrawals(
            [SurveyWithdrawn(contact_id=given_up[0].contact_id, reason="opted_out")]
        )

        async def expired() -> bool:
            await dispatcher.deliver_due()
            return await statuses(dispatcher) == ["expired", "expired", "withdrawn"]

        await wait_until(expired, within=30, what="two to expire (the third was withdrawn)")
    window = ["--since", before.isoformat(), "--until", datetime.now(UTC).isoformat()]
    dry = await asyncio.to_thread(dispatcher_cli, database_url, "requeue", *window, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip() == "would requeue 2 invitation(s); 0 left as they are (survey closed)"
    done = await asyncio.to_thread(dispatcher_cli, database_url, "requeue", *window)
    assert done.stdout.strip() == "requeued 2 invitation(s); 0 left as they are (survey closed)"
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(sa.select(tables.invitations))).all()
    finally:
        await engine.dispose()
    assert sorted(r.status for r in rows) == ["pending", "pending", "withdrawn"]
    for row in rows:
        if row.status == "pending":
            assert (row.attempts, row.last_error) == (0, None)
            assert row.send_by.replace(tzinfo=UTC) > datetime.now(UTC)
    backwards = await asyncio.to_thread(
        dispatcher_cli, database_url, "requeue", "--since", window[3], "--until", window[1]
    )
    assert backwards.returncode == 1
    assert backwards.stderr == "error: --since must come before --until.\n"
