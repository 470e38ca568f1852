"""Consent's suppression list of bounced email addresses, on SQLite and PostgreSQL: what an
EmailBounced does (found by the survey released to the contact, kept as a keyed hash), hard
and soft bounces in a row, the period, release-time suppression, access, erasure, purge."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_consent import privacy
from palaute_consent.bounces import BouncedAddresses, Bounces
from palaute_consent.core import Core
from palaute_consent.service import ConsentService
from palaute_consent.settings import ConsentSettings
from palaute_consent.tables import bounced_addresses, decisions, released
from palaute_runtime.clock import Clock
from palaute_runtime.keys import Keyring
from palaute_schemas import BounceKind, ContactClosed, EmailBounced

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SHORTENED = {
    "soft_bounces_to_suppress": 2,
    "bounce_suppression_days": 30,
    "frequency_cap_days": 0,
    "release_delay_minutes": 0,
    "send_window_weekdays": "00:00-24:00",
}
SETTINGS = ConsentSettings(**SHORTENED)  # type: ignore[arg-type]


def bounce(contact_id: str, kind: BounceKind, at: datetime) -> EmailBounced:
    return EmailBounced(
        invitation_id=uuid.uuid4(),
        contact_id=contact_id,
        kind=kind,
        status="5.1.1" if kind == "hard" else "4.2.2",
        reason="550 5.1.1 <address>: User unknown",
        bounced_at=at,
    )


async def surveyed_at(engine: AsyncEngine, email: str, customer: str = "C-1") -> str:
    """A survey released to the address (what consent finds the address by)."""
    contact_id = f"K-{uuid.uuid4().hex[:8]}"
    async with engine.begin() as connection:
        await connection.execute(
            released.insert().values(
                contact_id=contact_id,
                customer_id=customer,
                email=email,
                released_at=NOW,
                channel="email",
            )
        )
    return contact_id


async def suppressed(engine: AsyncEngine, email: str, at: datetime) -> bool:
    async with engine.connect() as connection:
        listed = BouncedAddresses(connection, Keyring.parse(SETTINGS.register_audit_key))
        return email in await listed.suppressed([email, "other@example.fi"], at)


async def test_hard_at_once_soft_after_two_in_a_row_each_for_its_period(
    consent_db: AsyncEngine,
) -> None:
    handler = Bounces(Core(consent_db, SETTINGS, Clock()))
    hard, soft = "kova@example.fi", "pehmea@example.fi"
    await handler.handle_bounces([bounce(await surveyed_at(consent_db, hard), "hard", NOW)])
    assert await suppressed(consent_db, hard, NOW + timedelta(days=29))
    assert not await suppressed(consent_db, hard, NOW + timedelta(days=31)), "for its period"

    first = bounce(await surveyed_at(consent_db, soft), "soft", NOW)
    await handler.handle_bounces([first])
    await handler.handle_bounces([first])  # redelivered: counted once
    assert not await suppressed(consent_db, soft, NOW)
    # The next soft bounce is more than the period later: a new row, not two in a row.
    later = NOW + timedelta(days=40)
    await handler.handle_bounces([bounce(await surveyed_at(consent_db, soft), "soft", later)])
    assert not await suppressed(consent_db, soft, later)
    again = later + timedelta(days=3)
    await handler.handle_bounces([bounce(await surveyed_at(consent_db, soft), "soft", again)])
    assert await suppressed(consent_db, soft, again)
    # A bounce for a contact consent no longer knows changes nothing.
    await handler.handle_bounces([bounce("K-forgotten", "hard", NOW)])
    async with consent_db.connect() as connection:
        stored = list(await connection.execute(sa.select(bounced_addresses)))
    assert len(stored) == 2
    assert all("@" not in str(tuple(row)) for row in stored), "a keyed hash, never the address"


async def test_the_release_suppresses_an_email_that_bounced_after_it_was_planned(
    consent_db: AsyncEngine,
) -> None:
    # Planned with an hour's delay, on a weekday at noon Helsinki time (the send window is
    # open two hours later); the address bounces (another survey's) before then.
    planned_at = NOW
    delayed = ConsentSettings(
        **(
            SETTINGS.model_dump(include=set(SETTINGS.model_fields_set))
            | {"release_delay_minutes": 60}
        )
    )
    service = ConsentService(consent_db, delayed, Clock(planned_at))
    address = "myohemmin@example.fi"
    contact = ContactClosed(
        contact_id="K-late",
        customer_id="C-late",
        contact_channel="phone",
        language="fi",
        unit="Kotka",
        closed_at=planned_at,
        email=address,
    )
    await service.handle_contacts_closed([contact])
    await Bounces(Core(consent_db, SETTINGS, Clock(planned_at))).handle_bounces(
        [bounce(await surveyed_at(consent_db, address), "hard", planned_at)]
    )
    later = ConsentService(consent_db, delayed, Clock(planned_at + timedelta(hours=2)))
    assert await later.release_due() == 1
    async with consent_db.connect() as connection:
        outcome = await connection.scalar(
            sa.select(decisions.c.outcome).where(decisions.c.contact_id == "K-late")
        )
    assert outcome == "undeliverable_address"


async def test_access_reports_and_erasure_removes_the_entry_and_purge_forgets_old_ones(
    consent_db: AsyncEngine,
) -> None:
    service = ConsentService(consent_db, SETTINGS, Clock())
    handler = Bounces(Core(consent_db, SETTINGS, Clock()))
    address = "poistettava@example.fi"
    await handler.handle_bounces(
        [bounce(await surveyed_at(consent_db, address, "C-erase"), "hard", datetime.now(UTC))]
    )
    old = "vanha@example.fi"
    await handler.handle_bounces(
        [bounce(await surveyed_at(consent_db, old), "soft", NOW - timedelta(days=100))]
    )
    async with consent_db.connect() as connection:
        register = service.register(connection)
        held = await privacy._held_by_consent(
            connection, register, privacy.Person(customer_id="C-erase")
        )
    assert len(held["bounced_addresses"]) == 1, "found by the address it was surveyed at"
    # Named by customer id only: the address consent surveyed them at is found and erased.
    await service.file_privacy_request(
        "erasure", privacy.Person(customer_id="C-erase"), reason="art. 17", actor="officer:a"
    )
    assert not await suppressed(consent_db, address, datetime.now(UTC))
    counts = await service.purge()
    assert counts["bounced_addresses"] == 1  # the old soft bounce, past its period
    async with consent_db.connect() as connection:
        left = await connection.scalar(sa.select(sa.func.count()).select_from(bounced_addresses))
    assert left == 0
