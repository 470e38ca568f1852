"""The send window holds up to the partner call, against a partner that fails in real time.

The dispatcher runs on the real broker and PostgreSQL, its clock moved (PALAUTE_CLOCK_START)
to a Thursday evening in Helsinki, with the real window (09:00-20:00 on weekdays); the
sandbox's SMS API is down from the start. A backlog of Finnish SMS invitations waits through
the outage, which ends at 20:55: nothing reaches a Finnish recipient until 09:00 the next
working day, and then everything does. Email takes the zone of the unit's country: after
20:00 in Helsinki, a Malmö unit's email still goes (19:xx in Sweden) and a Kotka unit's waits.

The evening passes as the dispatcher is restarted on the same database with its clock moved
on (20:54:57, then 08:59:57 on Friday): the window is decided from what it finds there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa

from palaute_dispatcher.bootstrap import build as build_dispatcher
from palaute_dispatcher.settings import DispatcherSettings
from palaute_dispatcher.tables import invitations
from palaute_runtime.clock import Clock
from palaute_runtime.database import as_utc, create_engine
from palaute_runtime.local_broker import free_port
from palaute_sandbox.server import PartnerSandbox
from palaute_sandbox.settings import SandboxSettings
from palaute_schemas import SurveyRequested
from tests.conftest import publish_requests, sms_requests, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

HELSINKI = ZoneInfo("Europe/Helsinki")
EVENING = datetime(2026, 12, 10, 19, 59, 55, tzinfo=HELSINKI)  # a Thursday, no holiday
OUTAGE_ENDS = datetime(2026, 12, 10, 20, 55, tzinfo=HELSINKI)
NINE_FRIDAY = datetime(2026, 12, 11, 9, 0, tzinfo=HELSINKI)
FINNISH_SMS = 15


def to(message: dict[str, Any]) -> str:
    """The one recipient of a message the sandbox took (SMTP lists them)."""
    addressed = message["to"]
    return str(addressed[0] if isinstance(addressed, list) else addressed)


def emails(unit: str, count: int) -> list[SurveyRequested]:
    return [
        request.model_copy(update={"channel": "email", "address": f"{unit.lower()}-{n}@ex.fi"})
        for n, request in enumerate(sms_requests(unit, count, 0))
    ]


@asynccontextmanager
async def dispatcher_at(
    start: datetime, kafka: str, database_url: str, tmp_path: Path, sandbox: PartnerSandbox
) -> AsyncIterator[Clock]:
    """The dispatcher as it runs in production (default window, holidays kept), its clock
    moved to `start`; yields that clock."""
    runtime, service = build_dispatcher(
        DispatcherSettings(
            kafka_bootstrap=kafka,
            data_dir=tmp_path,
            dispatcher_database_url=database_url,
            partner_sms_url=sandbox.http.url,
            partner_smtp_port=sandbox.settings.sandbox_smtp_port,
            unit_countries="Malmö=SE",
            clock_start=start,
            # The breaker's cool-downs a quarter of production's, as in the outage test.
            breaker_cool_down_seconds=0.5,
            breaker_longest_cool_down_seconds=7.5,
        )
    )
    await runtime.start()
    try:
        yield service.clock
    finally:
        await runtime.stop()


async def rows(database_url: str) -> list[dict[str, Any]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            found = await connection.execute(sa.select(invitations))
            return [dict(row._mapping) for row in found]
    finally:
        await engine.dispose()


async def test_an_outage_ending_at_2055_sends_nothing_until_nine_the_next_working_day(
    kafka: str, postgres_url: str, tmp_path: Path
) -> None:
    sandbox = PartnerSandbox(
        SandboxSettings(sandbox_http_port=free_port(), sandbox_smtp_port=free_port())
    )
    await sandbox.start()
    finnish = sms_requests("Kotka", FINNISH_SMS, 408100000)
    kotka_mail, malmo_mail, malmo_late = emails("Kotka", 5), emails("Malmö", 5), emails("Malmö", 2)

    async def partner(path: str) -> Any:
        return (await client.get(f"{sandbox.http.url}/sandbox/{path}")).json()

    async def delivered(addresses: list[str]) -> bool:
        got = await partner("messages")
        return {to(m) for m in got["sms"] + got["email"]} >= set(addresses)

    async def waiting_for(opening: datetime, requests: list[SurveyRequested]) -> bool:
        wanted = {r.address for r in requests}
        found = [r for r in await rows(postgres_url) if r["address"] in wanted]
        return len(found) == len(wanted) and all(
            r["status"] == "pending" and as_utc(r["next_attempt_at"]) == opening for r in found
        )

    async with httpx.AsyncClient(timeout=10) as client:
        outage = {"fail_for_seconds": 3600, "status": 503}
        assert (await client.post(f"{sandbox.http.url}/sandbox/faults", json=outage)).is_success
        try:
            # Thursday, five seconds before the window closes: the backlog meets the outage.
            async with dispatcher_at(EVENING, kafka, postgres_url, tmp_path, sandbox) as clock:
                await publish_requests(kafka, finnish)

                async def refused() -> bool:
                    return bool((await partner("stats"))["rejected"]["sms"] > 0)

                await wait_until(refused, within=20, what="the partner to refuse the backlog")
                assert clock.now() < EVENING.replace(hour=20, second=0), "inside the window"

                async def past_eight() -> bool:
                    return clock.now() >= EVENING.replace(hour=20, minute=0, second=1)

                await wait_until(past_eight, within=20, what="the window to close")
                await publish_requests(kafka, [*kotka_mail, *malmo_mail])
                # It is 19:00 in Malmö: its email goes; Kotka's waits with the SMS backlog.
                await wait_until(
                    lambda: delivered([r.address for r in malmo_mail]),
                    within=30,
                    what="the Malmö unit's email (19:00 in Sweden)",
                )
                await wait_until(
                    lambda: waiting_for(NINE_FRIDAY, [*finnish, *kotka_mail]),
                    within=30,
                    what="every Finnish recipient's invitation to wait for 09:00 on Friday",
                )
                calls_at_eight = (await partner("stats"))["rejected"]["sms"]

            # 20:54:57 on the same evening; the partner comes back at 20:55.
            async with dispatcher_at(
                OUTAGE_ENDS - timedelta(seconds=3), kafka, postgres_url, tmp_path, sandbox
            ) as clock:
                back = {"fail_for_seconds": (OUTAGE_ENDS - clock.now()).total_seconds()}
                assert (
                    await client.post(f"{sandbox.http.url}/sandbox/faults", json=back)
                ).is_success

                async def partner_back() -> bool:
                    return bool((await partner("stats"))["outage_seconds_left"] == 0)

                await wait_until(partner_back, within=20, what="the outage's end")
                # The dispatcher works on after the outage: a Malmö email (19:55 there) goes.
                await publish_requests(kafka, malmo_late)
                await wait_until(
                    lambda: delivered([r.address for r in malmo_late]),
                    within=30,
                    what="an email still inside its window after the outage",
                )
                assert clock.now() < NINE_FRIDAY
                stats = await partner("stats")
                assert stats["accepted"]["sms"] == 0, "no SMS went after 20:00 in Helsinki"
                assert stats["rejected"]["sms"] == calls_at_eight, "nor was the partner asked"
                assert await waiting_for(NINE_FRIDAY, [*finnish, *kotka_mail])

            # Friday, three seconds before nine.
            async with dispatcher_at(
                NINE_FRIDAY - timedelta(seconds=3), kafka, postgres_url, tmp_path, sandbox
            ) as friday:
                await wait_until(
                    lambda: delivered([r.address for r in [*finnish, *kotka_mail]]),
                    within=60,
                    what="everything at nine",
                )

                # A round records its outcomes once all its calls have answered: the partner
                # may hold the last message a moment before its invitation says sent.
                async def recorded() -> bool:
                    wanted = {r.address for r in [*finnish, *kotka_mail]}
                    found = [r for r in await rows(postgres_url) if r["address"] in wanted]
                    return all(r["status"] != "pending" for r in found)

                await wait_until(recorded, within=30, what="the last round's record")
            got = await partner("messages")
        finally:
            await sandbox.stop()

    # Nothing was taken by the partner before nine on Friday (the sandbox's own real clock,
    # against the instant the dispatcher's moved clock said 09:00) ...
    nine_real = NINE_FRIDAY - (friday.now() - Clock().now())
    finns = {r.address for r in [*finnish, *kotka_mail]}
    taken = [m for m in got["sms"] + got["email"] if to(m) in finns]
    assert sorted(to(m) for m in taken) == sorted(finns), "each once, every one"
    assert all(datetime.fromisoformat(m["received_at"]) >= nine_real for m in taken)
    # ... and the dispatcher recorded each as sent at nine or later, none failed or expired.
    sent = [r for r in await rows(postgres_url) if r["address"] in finns]
    assert {r["status"] for r in sent} == {"sent"}
    assert min(as_utc(r["sent_at"]) for r in sent) >= NINE_FRIDAY
