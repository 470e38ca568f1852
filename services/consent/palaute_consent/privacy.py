"""Erasure (GDPR art. 17) and access (art. 15) requests: consent's own part, the request to
the other services, and their answers.

Consent files the request, does its own part in the same transaction (erasure: plans,
released surveys and decisions of the person go, their opt-outs are kept as keyed hashes
only, and made if there were none, so that the objection keeps being honoured; access: what
it holds, as JSON) and publishes `ErasureRequested` or `AccessRequested`. The dispatcher and
the collector answer with `ErasureCompleted` (counts) or `AccessReported` (their part); the
request's row shows each service's answer. Only masked identifiers stay in the request row.
"""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_consent import audit
from palaute_consent.bounces import BouncedAddresses
from palaute_consent.register import EntryKind, OptOutRegister, register_key
from palaute_consent.tables import access_parts, decisions, plans, privacy_requests, released
from palaute_runtime.database import as_utc, insert_ignoring_conflicts, rowcount
from palaute_runtime.privacy import table_rows
from palaute_schemas import (
    AccessReported,
    AccessRequested,
    ErasureCompleted,
    ErasureRequested,
    PrivacyService,
)

RequestKind = Literal["erasure", "access"]
SERVICES: tuple[PrivacyService, ...] = ("consent", "dispatcher", "collector")


@dataclass(frozen=True)
class Person:
    """The person of a request, identifiers normalised (at least one)."""

    customer_id: str | None = None
    phone: str | None = None
    email: str | None = None

    def __post_init__(self) -> None:
        if not self.identifiers():
            raise ValueError("a customer id, a phone number or an email names the person")

    def identifiers(self) -> list[tuple[EntryKind, str]]:
        """The identifiers given, with their kind."""
        given: list[tuple[EntryKind, str | None]] = [
            ("customer_id", self.customer_id),
            ("phone", self.phone),
            ("email", self.email),
        ]
        return [(kind, value) for kind, value in given if value]

    def masked(self) -> str:
        """The person as the request row keeps them."""
        return ", ".join(audit.masked(kind, value) for kind, value in self.identifiers())

    def _matches(self, table: sa.Table) -> sa.ColumnElement[bool]:
        conditions: list[sa.ColumnElement[bool]] = []
        if self.customer_id:
            conditions.append(table.c.customer_id == self.customer_id)
        if self.phone and "phone" in table.c:
            conditions.append(table.c.phone == self.phone)
        if self.email and "email" in table.c:
            conditions.append(sa.func.lower(table.c.email) == self.email.lower())
        return sa.or_(sa.false(), *conditions)


async def file_request(
    connection: AsyncConnection,
    register: OptOutRegister,
    kind: RequestKind,
    person: Person,
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> tuple[uuid.UUID, ErasureRequested | AccessRequested]:
    """File a request, do consent's part of it, and return the message for the others.
    `person` as `with_known_customer` completed it."""
    if not reason.strip():
        raise ValueError("a reason is required, and kept with the request")
    request_id = uuid.uuid4()
    own: dict[str, Any]
    if kind == "erasure":
        own = {"erased": await _erase_own(connection, register, person, request_id, reason, actor)}
    else:
        held = await _held_by_consent(connection, register, person)
        await connection.execute(
            access_parts.insert().values(
                request_id=request_id,
                service="consent",
                document=held,
                received_at=now,
            )
        )
        own = {"tables": {name: len(rows) for name, rows in held.items()}}
    await connection.execute(
        privacy_requests.insert().values(
            id=request_id,
            kind=kind,
            filed_at=now,
            actor=actor,
            reason=reason.strip(),
            person=person.masked(),
            services={"consent": own, "dispatcher": None, "collector": None},
        )
    )
    fields = {
        "request_id": request_id,
        "customer_id": person.customer_id,
        "phone": person.phone,
        "email": person.email,
    }
    message = ErasureRequested(**fields) if kind == "erasure" else AccessRequested(**fields)
    return request_id, message


async def with_known_customer(connection: AsyncConnection, person: Person) -> Person:
    """Named by phone or email only: the customer id consent knows for them, when exactly
    one, is added (the collector knows email surveys only by customer id)."""
    if person.customer_id is not None:
        return person
    known: set[str] = set()
    for table in (plans, released):
        known.update(
            await connection.scalars(
                sa.select(table.c.customer_id).where(person._matches(table)).distinct()
            )
        )
    return replace(person, customer_id=known.pop()) if len(known) == 1 else person


async def _erase_own(
    connection: AsyncConnection,
    register: OptOutRegister,
    person: Person,
    request_id: uuid.UUID,
    reason: str,
    actor: str,
) -> dict[str, int]:
    # The addresses the person was surveyed at: their bounce entries go too.
    emails = await _emails_of(connection, person)
    erased = {
        table.name: rowcount(await connection.execute(table.delete().where(person._matches(table))))
        for table in (plans, released, decisions)
    }
    erased["bounced_addresses"] = await BouncedAddresses(
        connection, register.identifier_keys
    ).erase(emails)
    # Access documents about the person (they hold every identifier they were filed with).
    mentioned = sa.or_(
        *(
            sa.cast(access_parts.c.document, sa.Text).contains(value)
            for _, value in person.identifiers()
        )
    )
    erased["access_parts"] = rowcount(
        await connection.execute(access_parts.delete().where(mentioned))
    )
    for kind, value in person.identifiers():
        await register.keep_hashed(
            kind, value, reason=f"erasure request {request_id}: {reason.strip()}", actor=actor
        )
    erased["opt_outs_kept_hashed"] = len(person.identifiers())
    return erased


async def _emails_of(connection: AsyncConnection, person: Person) -> set[str]:
    """The person's email address as given, and every one consent surveyed them at."""
    emails = {person.email} if person.email else set()
    for table in (plans, released):
        emails.update(
            email
            for email in await connection.scalars(
                sa.select(table.c.email).where(person._matches(table), table.c.email.is_not(None))
            )
            if email
        )
    return emails


async def _held_by_consent(
    connection: AsyncConnection, register: OptOutRegister, person: Person
) -> dict[str, list[dict[str, Any]]]:
    held: dict[str, list[dict[str, Any]]] = {
        table.name: table_rows(
            await connection.execute(sa.select(table).where(person._matches(table)))
        )
        for table in (plans, released, decisions)
    }
    held["bounced_addresses"] = await BouncedAddresses(connection, register.identifier_keys).held(
        await _emails_of(connection, person)
    )
    stored = [(kind, register_key(kind, value)) for kind, value in person.identifiers()]
    held["opt_outs"] = [
        {"kind": kind, "value": value} for kind, value in sorted(await register.listed(stored))
    ]
    held["register_audit"] = [
        row
        for kind, value in person.identifiers()
        for row in await register.audit_trail(kind, value)
    ]
    return held


async def record_erasure(connection: AsyncConnection, completed: ErasureCompleted) -> None:
    """A service's answer to an erasure request."""
    await _answer(
        connection,
        completed.request_id,
        completed.service,
        {"erased": completed.erased, "partner_deleted": completed.partner_deleted}
        | ({"partner_reason": completed.partner_reason} if completed.partner_reason else {})
        | ({"processors": completed.processors} if completed.processors else {}),
    )


async def record_access(
    connection: AsyncConnection, reported: AccessReported, *, now: datetime
) -> None:
    """A service's part of an access request's document."""
    await connection.execute(
        insert_ignoring_conflicts(connection, access_parts).values(
            request_id=reported.request_id,
            service=reported.service,
            document=reported.held,
            received_at=now,
        )
    )
    tables = {name: len(rows) for name, rows in reported.held.items()}
    await _answer(connection, reported.request_id, reported.service, {"tables": tables})


async def _answer(
    connection: AsyncConnection, request_id: uuid.UUID, service: str, answer: dict[str, Any]
) -> None:
    current = await connection.scalar(
        sa.select(privacy_requests.c.services).where(privacy_requests.c.id == request_id)
    )
    if current is None:  # not ours, or purged
        return
    await connection.execute(
        privacy_requests.update()
        .where(privacy_requests.c.id == request_id)
        .values(services={**current, service: answer})
    )


async def requests(connection: AsyncConnection, limit: int = 100) -> list[dict[str, Any]]:
    """The newest requests, with each service's answer (None while it has not answered)."""
    rows = await connection.execute(
        sa.select(privacy_requests).order_by(privacy_requests.c.filed_at.desc()).limit(limit)
    )
    return [_request(row) for row in rows]


async def request(connection: AsyncConnection, request_id: uuid.UUID) -> dict[str, Any] | None:
    """One request and its answers."""
    row = (
        await connection.execute(
            sa.select(privacy_requests).where(privacy_requests.c.id == request_id)
        )
    ).first()
    return None if row is None else _request(row)


def _request(row: sa.Row[tuple[object, ...]]) -> dict[str, Any]:
    services = dict(row.services)
    return {
        "request_id": str(row.id),
        "kind": row.kind,
        "filed_at": as_utc(row.filed_at).isoformat(timespec="seconds"),
        "actor": row.actor,
        "reason": row.reason,
        "person": row.person,
        "services": {name: services.get(name) for name in SERVICES},
        "complete": all(services.get(name) is not None for name in SERVICES),
    }


async def access_document(
    connection: AsyncConnection, request_id: uuid.UUID
) -> dict[str, Any] | None:
    """The one JSON document of an access request: each service's part."""
    filed = await request(connection, request_id)
    if filed is None or filed["kind"] != "access":
        return None
    parts = await connection.execute(
        sa.select(access_parts).where(access_parts.c.request_id == request_id)
    )
    return {
        "request_id": filed["request_id"],
        "filed_at": filed["filed_at"],
        "complete": filed["complete"],
        "held_by": {part.service: part.document for part in parts},
    }


async def purge(connection: AsyncConnection, keep_days: int, *, now: datetime) -> int:
    """Delete access documents' parts older than `keep_days`; how many."""
    before = now - timedelta(days=keep_days)
    gone = await connection.execute(
        access_parts.delete().where(access_parts.c.received_at < before)
    )
    return rowcount(gone)


def deadline(filed_at: datetime) -> date:
    """A request's legal deadline: one month from receipt (GDPR art. 12(3)), the same day of
    the next month, or its last day when it has none (31 January -> 28 or 29 February)."""
    day = filed_at.date()
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


async def open_requests(connection: AsyncConnection) -> list[dict[str, Any]]:
    """Every request some service has not answered, oldest first, with its deadline and
    the services still waited for."""
    rows = await connection.execute(
        sa.select(privacy_requests).order_by(privacy_requests.c.filed_at)
    )
    found = []
    for row in rows:
        filed = _request(row)
        if filed["complete"]:
            continue
        filed["deadline"] = deadline(as_utc(row.filed_at)).isoformat()
        filed["waiting_for"] = [
            name for name, answer in filed["services"].items() if answer is None
        ]
        found.append(filed)
    return found
