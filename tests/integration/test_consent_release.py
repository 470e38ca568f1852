"""Consent decides at release time, on SQLite and PostgreSQL: the plan waits for its window,
the register and the frequency cap are asked again when it is due, an opt-out withdraws
what was released, and a plan is released once even by two services at the same time."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from palaute_consent import tables
from palaute_consent.service import ConsentService
from palaute_consent.settings import ConsentSettings
from palaute_runtime.database import create_engine
from palaute_runtime.migrations import migrate
from palaute_schemas import ContactClosed
from tests.conftest import ManualClock

HELSINKI = ZoneInfo("Europe/Helsinki")
TUESDAY_3AM = datetime(2026, 11, 24, 3, 0, tzinfo=HELSINKI)


@pytest.fixture
async def consent(database_url: str) -> AsyncIterator[ConsentService]:
    engine = create_engine(database_url)
    await migrate(engine, tables.MIGRATIONS)
    yield ConsentService(engine, ConsentSettings(), ManualClock(TUESDAY_3AM))
    await engine.dispose()


def clock_of(service: ConsentService) -> ManualClock:
    assert isinstance(service.clock, ManualClock)
    return service.clock


def contact(closed_at: datetime = TUESDAY_3AM, **changes: Any) -> ContactClosed:
    fields: dict[str, Any] = {
        "contact_id": f"K-{uuid.uuid4().hex[:10]}",
        "customer_id": f"C-{uuid.uuid4().hex[:10]}",
        "contact_channel": "phone",
        "language": "fi",
        "unit": "Kotka",
        "closed_at": closed_at,
        "phone": "+358401234567",
    }
    return ContactClosed.model_validate(fields | changes)


async def published(service: ConsentService) -> list[tuple[str, dict[str, Any]]]:
    """What the service queued for its topics, in order."""
    async with service.engine.connect() as connection:
        rows = await connection.execute(sa.select(tables.outbox).order_by(tables.outbox.c.id))
        return [(row.topic, json.loads(row.payload)) for row in rows]


async def outcomes(service: ConsentService) -> list[tuple[str, str]]:
    """(topic's last part, contact id or reason) for everything queued."""
    found = []
    for topic, payload in await published(service):
        kind = topic.split(".")[1]
        found.append((kind, payload.get("reason") or payload["contact_id"]))
    return found


async def test_a_contact_waits_for_the_send_window_then_is_requested(
    consent: ConsentService,
) -> None:
    event = contact()
    await consent.handle_contacts_closed([event])
    assert await published(consent) == [], "nothing before the release time"
    next_at = await consent.next_release_at()
    assert next_at is not None
    assert next_at.astimezone(HELSINKI) == TUESDAY_3AM.replace(hour=9)
    clock_of(consent).at = TUESDAY_3AM.replace(hour=8, minute=59)
    assert await consent.release_due() == 0
    clock_of(consent).at = TUESDAY_3AM.replace(hour=9)
    assert await consent.release_due() == 1
    assert await consent.release_due() == 0, "released once"
    ((topic, request),) = await published(consent)
    assert topic == "survey.requested.v1"
    assert (request["contact_id"], request["address"]) == (event.contact_id, "+358401234567")


async def test_the_contact_day_is_the_day_where_the_unit_serves_not_in_utc(
    consent: ConsentService,
) -> None:
    # Closed at 23:30 UTC on Monday: Tuesday 01:30 in Kotka, whose figures it counts in.
    monday_in_utc = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    event = contact(closed_at=monday_in_utc)
    await consent.handle_contacts_closed([event])
    clock_of(consent).at = TUESDAY_3AM.replace(hour=9)
    assert await consent.release_due() == 1
    ((_, request),) = await published(consent)
    assert request["contact_day"] == "2026-11-24"


async def test_an_opt_out_during_the_delay_wins_at_release(consent: ConsentService) -> None:
    event = contact()
    await consent.handle_contacts_closed([event])
    async with consent.engine.begin() as connection:
        withdrawn = await consent.register_opt_out(
            connection, "phone", "+358401234567", source="sms_stop", reason="a test", actor="test"
        )
    assert withdrawn == 0, "nothing was released yet"
    clock_of(consent).at = TUESDAY_3AM.replace(hour=9)
    assert await consent.release_due() == 1
    assert await outcomes(consent) == [("suppressed", "opted_out")]


async def test_an_opt_out_after_release_withdraws_the_survey(consent: ConsentService) -> None:
    event = contact(phone="040 765 4321")
    await consent.handle_contacts_closed([event])
    clock_of(consent).at = TUESDAY_3AM.replace(hour=9, minute=5)
    await consent.release_due()
    async with consent.engine.begin() as connection:
        withdrawn = await consent.register_opt_out(
            connection,
            "customer_id",
            event.customer_id,
            source="privacy_officer",
            reason="a test",
            actor="po",
        )
    assert withdrawn == 1
    assert await outcomes(consent) == [
        ("requested", event.contact_id),
        ("withdrawn", "opted_out"),
    ]
    ((_, withdrawal),) = [(t, p) for t, p in await published(consent) if "withdrawn" in t]
    assert withdrawal["contact_id"] == event.contact_id


async def test_the_frequency_cap_holds_across_channels_and_customer_ids(
    consent: ConsentService,
) -> None:
    first = contact(phone="0401110001", email="eka@example.fi")
    await consent.handle_contacts_closed([first])
    clock_of(consent).at = TUESDAY_3AM.replace(hour=9)
    await consent.release_due()
    # Ten days later: the same customer by email only, and the same phone under another id.
    later = TUESDAY_3AM + timedelta(days=10)
    clock_of(consent).at = later
    by_email = contact(later, customer_id=first.customer_id, phone=None, email="eka@example.fi")
    by_phone = contact(later, phone="+358401110001")
    await consent.handle_contacts_closed([by_email, by_phone])
    clock_of(consent).at = later.replace(hour=9)
    assert await consent.release_due() == 2
    # Five weeks after the first (not 31 days: that is Christmas Day), the cap has passed.
    after_cap = TUESDAY_3AM + timedelta(days=35)
    clock_of(consent).at = after_cap
    await consent.handle_contacts_closed([contact(after_cap, customer_id=first.customer_id)])
    clock_of(consent).at = after_cap.replace(hour=9)
    await consent.release_due()
    assert [kind for kind, _ in await outcomes(consent)] == [
        "requested",
        "suppressed",
        "suppressed",
        "requested",
    ]
    reasons = [what for kind, what in await outcomes(consent) if kind == "suppressed"]
    assert reasons == ["frequency_cap", "frequency_cap"]


async def test_two_contacts_of_one_customer_due_together_survey_once(
    consent: ConsentService,
) -> None:
    customer = f"C-{uuid.uuid4().hex[:8]}"
    await consent.handle_contacts_closed(
        [contact(customer_id=customer), contact(customer_id=customer, phone="0409998877")]
    )
    clock_of(consent).at = TUESDAY_3AM.replace(hour=10)
    assert await consent.release_due() == 2
    assert [kind for kind, _ in await outcomes(consent)] == ["requested", "suppressed"]


async def test_stale_duplicate_and_unusable_contacts_are_suppressed_with_reasons(
    consent: ConsentService,
) -> None:
    replayed = contact(TUESDAY_3AM - timedelta(days=10))
    twice = contact()
    bad_phone_good_email = contact(phone="12345", email="hyva@example.fi")
    bad_phone_only = contact(phone="12345")
    await consent.handle_contacts_closed([replayed, twice, bad_phone_good_email, bad_phone_only])
    again = twice.model_copy(update={"event_id": uuid.uuid4()})
    await consent.handle_contacts_closed([again])
    assert sorted(what for _, what in await outcomes(consent)) == [
        "duplicate_contact",
        "invalid_phone",
        "stale",
    ]
    clock_of(consent).at = TUESDAY_3AM.replace(hour=12)
    await consent.release_due()
    requested = [p for t, p in await published(consent) if t == "survey.requested.v1"]
    by_email = next(p for p in requested if p["contact_id"] == bad_phone_good_email.contact_id)
    assert (by_email["channel"], by_email["address"]) == ("email", "hyva@example.fi")


@pytest.mark.postgres
async def test_two_consent_replicas_release_each_plan_once(postgres_url: str) -> None:
    engine_a, engine_b = create_engine(postgres_url), create_engine(postgres_url)
    await migrate(engine_a, tables.MIGRATIONS)
    a = ConsentService(engine_a, ConsentSettings(), ManualClock(TUESDAY_3AM))
    b = ConsentService(engine_b, ConsentSettings(), ManualClock(TUESDAY_3AM))
    try:
        events = [contact(phone=f"+3584012{n:05d}") for n in range(600)]
        for start in range(0, len(events), 100):
            await a.handle_contacts_closed(events[start : start + 100])
        clock_of(a).at = clock_of(b).at = TUESDAY_3AM.replace(hour=9)

        async def drain(service: ConsentService) -> int:
            total = 0
            while released := await service.release_due(limit=50):
                total += released
            return total

        done_a, done_b = await asyncio.gather(drain(a), drain(b))
        assert done_a + done_b == len(events)
        assert done_a > 0, "both replicas took a share"
        assert done_b > 0, "both replicas took a share"
        requested = [p for t, p in await published(a) if t == "survey.requested.v1"]
        assert sorted(p["contact_id"] for p in requested) == sorted(e.contact_id for e in events)
    finally:
        await engine_a.dispose()
        await engine_b.dispose()


def run_cap_scenario(
    path: str, arrivals: list[tuple[int, int, int]], cap_days: int
) -> list[tuple[str, str, datetime]]:
    """Contacts of a few customers (customer, phone, hour of arrival) on a moved clock;
    returns (customer, phone, release instant) of every survey requested."""

    async def scenario() -> list[tuple[str, str, datetime]]:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(engine, tables.MIGRATIONS)
        settings = ConsentSettings(frequency_cap_days=cap_days, send_on_public_holidays=True)
        clock = ManualClock(TUESDAY_3AM)
        service = ConsentService(engine, settings, clock)
        people = {
            TUESDAY_3AM + timedelta(hours=h): (c, p) for c, p, h in arrivals
        }  # one contact per instant is plenty
        waiting = sorted(people)
        requested: list[tuple[str, str, datetime]] = []
        try:
            # Event by event: the clock jumps to the next arrival or the next due plan.
            while True:
                due = await service.next_release_at()
                candidates = [t for t in (waiting[0] if waiting else None, due) if t is not None]
                if not candidates:
                    break
                clock.at = max(clock.at, min(candidates))
                while waiting and waiting[0] <= clock.at:
                    customer, phone = people[waiting.pop(0)]
                    event = contact(
                        clock.at, customer_id=f"C{customer}", phone=f"+35840100000{phone}"
                    )
                    await service.handle_contacts_closed([event])
                seen = len(await published(service))
                await service.release_due()
                for topic, payload in (await published(service))[seen:]:
                    if topic == "survey.requested.v1":
                        requested.append((payload["customer_id"], payload["address"], clock.at))
        finally:
            await engine.dispose()
        return requested

    return asyncio.run(scenario())


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    arrivals=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 24 * 60)),
        min_size=1,
        max_size=12,
    ),
    cap_days=st.sampled_from([7, 30]),
)
def test_nobody_is_surveyed_twice_within_the_cap_whatever_the_arrivals(
    tmp_path_factory: pytest.TempPathFactory, arrivals: list[tuple[int, int, int]], cap_days: int
) -> None:
    path = str(tmp_path_factory.mktemp("cap") / "consent.db")
    requested = run_cap_scenario(path, arrivals, cap_days)
    assert requested, "the first contact is always surveyed"
    for key in (0, 1):  # by customer, and by phone number
        last: dict[str, datetime] = {}
        for survey in requested:
            who, at = survey[key], survey[2]
            if who in last:
                assert at - last[who] >= timedelta(days=cap_days), f"{who} twice within the cap"
            last[who] = at
