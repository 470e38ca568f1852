"""The repository of consent's decisions, plans and released surveys: every statement on the
`decisions`, `plans` and `released` tables, inside the caller's transaction.

- a decision: what consent decided of one contact (planned, a suppression reason, the channel
  it was released on), with the customer it was about;
- a plan: a contact that may be surveyed, with its release time (and its addresses until then);
- a released survey: remembered for the frequency cap, withdrawals and its reminder.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, TypedDict

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_consent.register import EntryKind, Identifier, identifiers
from palaute_consent.tables import decisions, plans, released
from palaute_runtime.database import Row, as_utc, rowcount

# Where each kind of register identifier stands in the released table.
_RELEASED_BY_KIND = {
    "customer_id": released.c.customer_id,
    "phone": released.c.phone,
    "email": released.c.email,
}


class PlanRow(TypedDict):
    """One row of the plans table."""

    contact_id: str
    customer_id: str
    phone: str | None
    email: str | None
    channel: str
    address: str
    anonymous: bool
    language: str
    contact_channel: str
    unit: str
    contact_day: Any  # a date
    closed_at: datetime
    release_at: datetime


class Decision(TypedDict):
    """One row of the decisions table."""

    contact_id: str
    customer_id: str
    outcome: str
    decided_at: datetime


class Released(TypedDict):
    """One row of the released table."""

    contact_id: str
    customer_id: str
    phone: str | None
    email: str | None
    released_at: datetime
    channel: str
    unit: str
    remind_at: datetime | None


class Plans:
    """Decisions, plans and released surveys in one transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    # ---- decisions -----------------------------------------------------------------------

    async def decided_among(self, contact_ids: Collection[str]) -> set[str]:
        """Which of these contacts were decided before."""
        return set(
            await self.connection.scalars(
                sa.select(decisions.c.contact_id).where(decisions.c.contact_id.in_(contact_ids))
            )
        )

    async def decide(self, rows: Sequence[Decision]) -> None:
        if rows:
            await self.connection.execute(decisions.insert(), list(rows))

    async def set_outcomes(self, outcomes: dict[str, str], now: datetime) -> None:
        """Record what became of released or suppressed plans (contact id -> outcome)."""
        if outcomes:
            await self.connection.execute(
                decisions.update()
                .where(decisions.c.contact_id == sa.bindparam("b_id"))
                .values(outcome=sa.bindparam("b_outcome"), decided_at=now),
                [{"b_id": key, "b_outcome": value} for key, value in outcomes.items()],
            )

    async def decisions_of(self, customer_id: str, limit: int = 100) -> list[dict[str, str]]:
        """The newest decisions about one customer, for the officer."""
        rows = await self.connection.execute(
            sa.select(decisions)
            .where(decisions.c.customer_id == customer_id)
            .order_by(decisions.c.decided_at.desc())
            .limit(limit)
        )
        return [
            {
                "contact_id": r.contact_id,
                "outcome": r.outcome,
                "decided_at": as_utc(r.decided_at).isoformat(timespec="seconds"),
            }
            for r in rows
        ]

    async def suppressions_since(self, since: datetime) -> dict[str, int]:
        """Contacts not surveyed since `since`, by reason (the officer's overview)."""
        surveyed = ("planned", "sms", "email")
        rows = await self.connection.execute(
            sa.select(decisions.c.outcome, sa.func.count())
            .where(decisions.c.decided_at >= since, decisions.c.outcome.not_in(surveyed))
            .group_by(decisions.c.outcome)
        )
        return {str(outcome): int(count) for outcome, count in rows}

    async def forget_decisions(self, before: datetime) -> int:
        """Forget decisions made before `before`, except plans still waiting."""
        gone = await self.connection.execute(
            decisions.delete().where(
                decisions.c.decided_at < before, decisions.c.outcome != "planned"
            )
        )
        return rowcount(gone)

    # ---- plans ---------------------------------------------------------------------------

    async def add(self, rows: Sequence[PlanRow]) -> None:
        if rows:
            await self.connection.execute(plans.insert(), list(rows))

    async def claim_due(self, now: datetime, limit: int) -> list[Row]:
        """Delete and return up to `limit` plans due by `now`, earliest first (the caller's
        transaction releases them or rolls the claim back). Deleting first takes SQLite's
        write lock before the register is read, so no opt-out commits in between."""
        claimed = (
            await self.connection.execute(
                plans.delete()
                .where(
                    plans.c.contact_id.in_(_due(plans.c.contact_id, plans.c.release_at, now, limit))
                )
                .returning(*plans.c)
            )
        ).all()
        return sorted(claimed, key=lambda row: (as_utc(row.release_at), row.contact_id))

    async def next_due(self) -> datetime | None:
        """When the earliest waiting plan or reminder is due."""
        times = [
            await self.connection.scalar(sa.select(sa.func.min(plans.c.release_at))),
            await self.connection.scalar(sa.select(sa.func.min(released.c.remind_at))),
        ]
        known = [as_utc(at) for at in times if at is not None]
        return min(known) if known else None

    # ---- released surveys ----------------------------------------------------------------

    async def remember_released(self, rows: Sequence[Released]) -> None:
        if rows:
            await self.connection.execute(released.insert(), list(rows))

    async def forget_released(self, before: datetime) -> None:
        await self.connection.execute(released.delete().where(released.c.released_at < before))

    async def last_released(
        self, keys: Iterable[Identifier], since: datetime
    ) -> dict[Identifier, datetime]:
        """When each of these identifiers was last surveyed, if since `since`."""
        by_kind: dict[str, set[str]] = {}
        for kind, value in keys:
            by_kind.setdefault(kind, set()).add(value)
        if not by_kind:
            return {}
        rows = await self.connection.execute(
            sa.select(
                released.c.customer_id, released.c.phone, released.c.email, released.c.released_at
            ).where(
                released.c.released_at > since,
                sa.or_(
                    *(
                        _RELEASED_BY_KIND[kind].in_(sorted(values))
                        for kind, values in by_kind.items()
                    )
                ),
            )
        )
        last: dict[Identifier, datetime] = {}
        for row in rows:
            at = as_utc(row.released_at)
            for key in identifiers(row.customer_id, row.phone, row.email):
                last[key] = max(at, last.get(key, at))
        return last

    async def released_to(self, kind: EntryKind, key: str, since: datetime) -> list[str]:
        """Contact ids of the surveys released to one identifier since `since`; none of
        them is reminded any more (they are being withdrawn)."""
        column = _RELEASED_BY_KIND[kind]
        contact_ids = list(
            await self.connection.scalars(
                sa.select(released.c.contact_id).where(
                    column == key, released.c.released_at > since
                )
            )
        )
        if contact_ids:
            await self.connection.execute(
                released.update()
                .where(released.c.contact_id.in_(contact_ids))
                .values(remind_at=None)
            )
        return contact_ids

    async def claim_reminders_due(self, now: datetime, limit: int) -> list[Row]:
        """Up to `limit` released surveys whose reminder is due by `now`, each claimed once
        (its reminder time cleared)."""
        due_ids = _due(released.c.contact_id, released.c.remind_at, now, limit)
        return list(
            (
                await self.connection.execute(
                    released.update()
                    .where(released.c.contact_id.in_(due_ids))
                    .values(remind_at=None)
                    .returning(*released.c)
                )
            ).all()
        )

    async def remind_later(self, later: dict[str, datetime]) -> None:
        """Set new reminder times (contact id -> when)."""
        if later:
            await self.connection.execute(
                released.update()
                .where(released.c.contact_id == sa.bindparam("b_id"))
                .values(remind_at=sa.bindparam("b_at")),
                [{"b_id": key, "b_at": at} for key, at in later.items()],
            )


def _due(
    key: sa.Column[str], at: sa.Column[datetime], now: datetime, limit: int
) -> sa.ScalarSelect[str]:
    """Keys of up to `limit` rows due by `now`, earliest first, that no other replica holds
    (SKIP LOCKED on PostgreSQL)."""
    return (
        sa.select(key)
        .where(at <= now)
        .order_by(at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
