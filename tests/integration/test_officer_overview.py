"""The officer's landing page at a glance, on SQLite and PostgreSQL: entries by source,
changes and suppressions of the last 30 days, open requests with their legal deadline and
the services not answered, and the audit chain's newest scheduled check."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_consent import privacy
from palaute_consent.service import ConsentService
from palaute_consent.settings import ConsentSettings
from palaute_consent.tables import opt_outs, register_audit
from palaute_runtime.clock import Clock
from palaute_schemas import ContactClosed, ErasureCompleted
from palaute_stack.stack import LOCAL_RELEASE_RULES


def test_a_requests_deadline_is_one_calendar_month_from_receipt() -> None:
    at = datetime(2026, 1, 31, 23, 0, tzinfo=UTC)
    assert privacy.deadline(at) == date(2026, 2, 28)
    assert privacy.deadline(datetime(2028, 1, 30, tzinfo=UTC)) == date(2028, 2, 29)
    assert privacy.deadline(datetime(2026, 12, 15, tzinfo=UTC)) == date(2027, 1, 15)


async def test_the_overview_shows_what_needs_attention(consent_db: AsyncEngine) -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    service = ConsentService(
        consent_db, ConsentSettings(**LOCAL_RELEASE_RULES, clock_start=now), Clock(now)
    )
    await service.add_opt_out(
        "customer_id", "C-glance-1", source="customer_service", reason="asked", actor="anna"
    )
    await service.add_opt_out(
        "email", "glance@example.fi", source="privacy_officer", reason="asked", actor="anna"
    )
    await service.remove_opt_out("email", "glance@example.fi", reason="asked back", actor="anna")
    # Two contacts: one with nothing to survey it by, one of an opted-out customer.
    await service.handle_contacts_closed(
        [
            ContactClosed(
                contact_id=f"K-glance-{n}",
                customer_id=customer,
                contact_channel="phone",
                language="fi",
                unit="Kotka",
                closed_at=now - timedelta(hours=1),
                phone=phone,
            )
            for n, (customer, phone) in enumerate(
                [("C-glance-2", None), ("C-glance-1", "0401112233")]
            )
        ]
    )
    erasure = await service.file_privacy_request(
        "erasure", privacy.Person(customer_id="C-glance-3"), reason="asked", actor="anna"
    )
    await service.handle_erasures_completed(
        [ErasureCompleted(request_id=erasure, service="dispatcher", erased={})]
    )
    verdict = await service.anchor_and_check_audit_chain()
    assert verdict is not None

    overview = await service.workspace.overview()
    # The removed entry is gone; the erasure keeps its person's objection (hashed).
    assert overview["by_source"] == {"customer_service": 1, "privacy_officer": 1}
    assert overview["changes"] == {"add": 3, "remove": 1}
    assert overview["suppressions"] == {"no_channel": 1, "opted_out": 1}
    (mine,) = [r for r in overview["open_requests"] if r["request_id"] == str(erasure)]
    assert mine["deadline"] == "2027-01-03"
    assert mine["waiting_for"] == ["collector"], "consent and the dispatcher answered"
    assert overview["chain"]["holds"] is True
    assert overview["chain"]["checked_at"].startswith("2026-12-03T12:00")

    # A row tampered with: the next scheduled check says where the chain breaks.
    async with consent_db.begin() as connection:
        newest = await connection.scalar(sa.select(sa.func.max(register_audit.c.id)))
        await connection.execute(
            register_audit.update().where(register_audit.c.id == newest).values(reason="edited")
        )
    await service.anchor_and_check_audit_chain()
    chain = (await service.workspace.overview())["chain"]
    assert chain["holds"] is False
    assert chain["broken_at"] == newest


async def test_a_register_edited_outside_the_service_is_found_by_the_scheduled_check(
    consent_db: AsyncEngine,
) -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    service = ConsentService(
        consent_db, ConsentSettings(**LOCAL_RELEASE_RULES, clock_start=now), Clock(now)
    )
    for customer in ("C-kept", "C-deleted"):
        await service.add_opt_out(
            "customer_id", customer, source="customer_service", reason="asked", actor="anna"
        )
    await service.anchor_and_check_audit_chain()
    assert (await service.workspace.overview())["chain"]["holds"] is True
    # Someone with the database deletes an objection and slips another entry in: the chain
    # itself still holds, the register does not match it.
    async with consent_db.begin() as connection:
        await connection.execute(opt_outs.delete().where(opt_outs.c.value == "C-deleted"))
        await connection.execute(
            opt_outs.insert().values(
                kind="customer_id",
                value="C-smuggled",
                source="customer_service",
                reason="",
                created_at=now,
            )
        )
    await service.anchor_and_check_audit_chain()
    chain = (await service.workspace.overview())["chain"]
    assert (chain["holds"], chain["broken_at"]) == (False, 0)
    assert "the register differs from its audit log" in chain["why"]
    assert "no change in the audit log made it" in chain["why"]
    assert "(and 1 more)" in chain["why"]
    async with consent_db.connect() as connection:
        found = await service.register(connection).differences()
    assert any("missing from the register" in line for line in found)
    assert not any("C-smuggled" in line or "C-deleted" in line for line in found), "masked"
