"""The dispatcher's invitations repository: every statement on its invitations, reminders
(with their addresses until the purge) and the withdrawals that stop them, inside the
caller's transaction. The partner deletion jobs have theirs in deletion_jobs.py."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_dispatcher.tables import invitations, withdrawals
from palaute_runtime.database import Row, as_utc, insert_ignoring_conflicts, rowcount
from palaute_runtime.privacy import table_rows


class Invitations:
    """Invitations, reminders and withdrawals in one transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    # ---- what is asked -------------------------------------------------------------------

    async def withdrawn_among(self, contact_ids: Collection[str]) -> set[str]:
        """Which of these contacts consent withdrew."""
        return set(
            await self.connection.scalars(
                sa.select(withdrawals.c.contact_id).where(withdrawals.c.contact_id.in_(contact_ids))
            )
        )

    async def add(self, rows: Sequence[Mapping[str, Any]], *, ignore_known: bool = False) -> None:
        """New invitations or reminders (`ignore_known`: a reminder already made stays)."""
        if not rows:
            return
        statement = (
            insert_ignoring_conflicts(self.connection, invitations)
            if ignore_known
            else invitations.insert()
        )
        await self.connection.execute(statement, list(rows))

    async def withdraw(self, withdrawn: Sequence[Mapping[str, Any]]) -> int:
        """Remember the withdrawals (contact_id, reason, withdrawn_at) and stop every pending
        invitation of those contacts; how many were stopped."""
        await self.connection.execute(
            insert_ignoring_conflicts(self.connection, withdrawals), list(withdrawn)
        )
        stopped = await self.connection.execute(
            invitations.update()
            .where(
                invitations.c.contact_id.in_({w["contact_id"] for w in withdrawn}),
                invitations.c.status == "pending",
            )
            .values(status="withdrawn", last_error="withdrawn: opted out", token_sealed=None)
        )
        return rowcount(stopped)

    async def to_remind(self, contact_ids: Collection[str], open_until: datetime) -> list[Row]:
        """The invitations of these contacts that may be reminded: sent, not answered, not
        withdrawn, not reported undelivered, not reminded yet, open past `open_until`."""
        reminded = sa.select(invitations.c.reminder_of).where(
            invitations.c.reminder_of.is_not(None)
        )
        return list(
            (
                await self.connection.execute(
                    sa.select(invitations).where(
                        invitations.c.contact_id.in_(contact_ids),
                        invitations.c.reminder_of.is_(None),
                        invitations.c.status == "sent",
                        invitations.c.answered.is_(False),
                        sa.or_(
                            invitations.c.delivery.is_(None),
                            invitations.c.delivery == "delivered",
                        ),
                        invitations.c.expires_at > open_until,
                        invitations.c.contact_id.not_in(sa.select(withdrawals.c.contact_id)),
                        invitations.c.id.not_in(reminded),
                    )
                )
            ).all()
        )

    async def answered(self, ids: Collection[uuid.UUID]) -> int:
        """Mark invitations answered and cancel their pending reminders; how many were."""
        await self.connection.execute(
            invitations.update().where(invitations.c.id.in_(ids)).values(answered=True)
        )
        cancelled = await self.connection.execute(
            invitations.update()
            .where(invitations.c.reminder_of.in_(ids), invitations.c.status == "pending")
            .values(
                status="cancelled",
                last_error="cancelled: the survey was answered",
                token_sealed=None,
            )
        )
        return rowcount(cancelled)

    # ---- delivery ------------------------------------------------------------------------

    async def expire_overdue(self, now: datetime) -> list[Row]:
        """Pending invitations past their send-by time, now expired."""
        return list(
            (
                await self.connection.execute(
                    invitations.update()
                    .where(invitations.c.status == "pending", invitations.c.send_by <= now)
                    .values(
                        status="expired",
                        last_error="not sent before its send-by time",
                        token_sealed=None,
                    )
                    .returning(*invitations.c)
                )
            ).all()
        )

    async def claim_due(
        self,
        channel: str,
        limit: int,
        now: datetime,
        claim_until: datetime,
        *,
        pinned_to: str | None = None,
        lanes: Sequence[str] = (),
    ) -> list[Row]:
        """Up to `limit` due pending invitations of one channel, earliest first, claimed
        until `claim_until`. Replicas skip each other's rows. With `pinned_to`, only those
        whose last hand-over is in doubt at that provider; with `lanes`, only those free to
        go to any of them (pinned to none, or to a provider no longer in use)."""
        free = sa.or_(invitations.c.provider.is_(None), invitations.c.provider.not_in(lanes))
        due = (
            sa.select(invitations.c.id)
            .where(
                invitations.c.status == "pending",
                invitations.c.channel == channel,
                invitations.c.next_attempt_at <= now,
                *([invitations.c.provider == pinned_to] if pinned_to else []),
                *([free] if lanes else []),
            )
            .order_by(invitations.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            # Materialized: PostgreSQL may otherwise run a subquery once per row it checks,
            # and claim more rows than the limit (more sends than the rate allows).
            .cte("due")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        return list(
            (
                await self.connection.execute(
                    invitations.update()
                    .where(invitations.c.id.in_(sa.select(due.c.id)))
                    .where(invitations.c.status == "pending")
                    .values(next_attempt_at=claim_until)
                    .returning(*invitations.c)
                )
            ).all()
        )

    async def store_tokens(self, tokens: Mapping[uuid.UUID, tuple[list[str], str]]) -> None:
        """New tokens (invitation id -> every hash issued, the live token sealed)."""
        if tokens:
            await self.connection.execute(
                invitations.update()
                .where(invitations.c.id == sa.bindparam("b_id"))
                .values(
                    token_hashes=sa.bindparam("b_hashes", type_=sa.JSON),
                    token_sealed=sa.bindparam("b_sealed"),
                ),
                [
                    {"b_id": key, "b_hashes": hashes, "b_sealed": sealed}
                    for key, (hashes, sealed) in tokens.items()
                ],
            )

    async def drop_sealed_tokens(self, ids: Collection[uuid.UUID]) -> None:
        """These will never be tried again: their tokens' sealed copies go."""
        if ids:
            await self.connection.execute(
                invitations.update().where(invitations.c.id.in_(ids)).values(token_sealed=None)
            )

    async def existing(self, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these invitations are still there (an erasure takes them)."""
        if not ids:
            return set()
        return set(
            await self.connection.scalars(
                sa.select(invitations.c.id).where(invitations.c.id.in_(ids))
            )
        )

    async def sent(self, partner_ids: Mapping[uuid.UUID, tuple[str | None, datetime, str]]) -> None:
        """The partner took these (invitation id -> its message id, when it was handed over,
        and the provider or relay that took it)."""
        if partner_ids:
            await self.connection.execute(
                invitations.update()
                .where(invitations.c.id == sa.bindparam("b_id"))
                .values(
                    status="sent",
                    token_sealed=None,  # the partner has the message: only the hash stays
                    sent_at=sa.bindparam("b_sent_at"),
                    partner_message_id=sa.bindparam("b_partner_id"),
                    provider=sa.bindparam("b_provider"),
                    attempts=invitations.c.attempts + 1,
                ),
                [
                    {"b_id": key, "b_partner_id": pid, "b_sent_at": at, "b_provider": way or None}
                    for key, (pid, at, way) in partner_ids.items()
                ],
            )

    async def failed(self, outcomes: Sequence[Mapping[str, Any]]) -> None:
        """Attempts that failed (b_id, b_status, b_error, b_next, b_provider: the provider a
        retry must ask first, or None): retried or given up. A withdrawal that came during
        the call stands: not retried, not failed."""
        if outcomes:
            await self.connection.execute(
                invitations.update()
                .where(invitations.c.id == sa.bindparam("b_id"), invitations.c.status == "pending")
                .values(
                    status=sa.bindparam("b_status"),
                    attempts=invitations.c.attempts + 1,
                    last_error=sa.bindparam("b_error"),
                    next_attempt_at=sa.bindparam("b_next"),
                    provider=sa.bindparam("b_provider"),
                ),
                [{"b_provider": None, **outcome} for outcome in outcomes],
            )

    async def let_go(self, due_again: Mapping[uuid.UUID, datetime]) -> None:
        """Claims never attempted: due again at the time given (id -> when), attempts
        untouched."""
        rows = [{"b_id": key, "b_at": at} for key, at in due_again.items()]
        if rows:
            await self.connection.execute(
                invitations.update()
                .where(invitations.c.id == sa.bindparam("b_id"), invitations.c.status == "pending")
                .values(next_attempt_at=sa.bindparam("b_at")),
                rows,
            )

    async def receipt(
        self, partner_message_id: str, status: str, reason: str, now: datetime
    ) -> Row | bool:
        """Record a delivery receipt once, from sent: the invitation it moved forward; else
        True when the message is ours (a late or replayed receipt) and False when not."""
        row = (
            await self.connection.execute(
                invitations.update()
                .where(
                    invitations.c.partner_message_id == partner_message_id,
                    invitations.c.status == "sent",
                    invitations.c.delivery.is_(None),
                )
                .values(delivery=status, delivery_reason=reason[:200], delivery_reported_at=now)
                .returning(*invitations.c)
            )
        ).first()
        if row is not None:
            return row
        known = await self.connection.scalar(
            sa.select(sa.func.count())
            .select_from(invitations)
            .where(invitations.c.partner_message_id == partner_message_id)
        )
        return bool(known)

    async def awaiting_report(
        self, *, sent_before: datetime, sent_after: datetime, limit: int, provider: str
    ) -> list[str]:
        """The provider ids of SMS sent by that provider (or before providers were recorded)
        in that span that have no delivery report yet, oldest first."""
        return list(
            await self.connection.scalars(
                sa.select(invitations.c.partner_message_id)
                .where(
                    invitations.c.channel == "sms",
                    invitations.c.status == "sent",
                    invitations.c.delivery.is_(None),
                    invitations.c.partner_message_id.is_not(None),
                    sa.or_(invitations.c.provider == provider, invitations.c.provider.is_(None)),
                    invitations.c.sent_at < sent_before,
                    invitations.c.sent_at > sent_after,
                )
                .order_by(invitations.c.sent_at)
                .limit(limit)
            )
        )

    async def bounced(self, invitation_id: uuid.UUID, reason: str, now: datetime) -> Row | None:
        """An email the mail system bounced: undelivered, once, from sent (a second DSN for
        it, or a DSN read again, changes nothing: None)."""
        return (
            await self.connection.execute(
                invitations.update()
                .where(
                    invitations.c.id == invitation_id,
                    invitations.c.channel == "email",
                    invitations.c.status == "sent",
                    invitations.c.delivery.is_(None),
                )
                .values(
                    delivery="undelivered", delivery_reason=reason[:200], delivery_reported_at=now
                )
                .returning(*invitations.c)
            )
        ).first()

    # ---- the operator's requeue ----------------------------------------------------------

    async def requeue(
        self,
        since: datetime,
        until: datetime,
        statuses: Sequence[str],
        now: datetime,
        send_by: datetime,
        *,
        dry_run: bool,
    ) -> tuple[int, int]:
        """Put given-up invitations requested in [since, until) back in the queue, send-by
        never past the survey's close; (requeued or, dry, would be; left as closed)."""
        chosen = sa.and_(
            invitations.c.reminder_of.is_(None),  # a reminder's moment has passed
            invitations.c.status.in_(statuses),
            invitations.c.created_at >= since,
            invitations.c.created_at < until,
            invitations.c.contact_id.not_in(sa.select(withdrawals.c.contact_id)),
        )
        count = sa.select(sa.func.count()).select_from(invitations)
        closed = int(
            await self.connection.scalar(count.where(chosen, invitations.c.expires_at <= now)) or 0
        )
        open_ones = sa.and_(chosen, invitations.c.expires_at > now)
        if dry_run:
            return int(await self.connection.scalar(count.where(open_ones)) or 0), closed
        ids = (await self.connection.scalars(sa.select(invitations.c.id).where(open_ones))).all()
        chosen_ids = invitations.c.id.in_(ids)
        await self.connection.execute(
            invitations.update()
            .where(chosen_ids)
            .values(
                status="pending", attempts=0, next_attempt_at=now, last_error=None, send_by=send_by
            )
        )
        await self.connection.execute(
            invitations.update()
            .where(chosen_ids, invitations.c.expires_at < send_by)
            .values(send_by=invitations.c.expires_at)
        )
        return len(ids), closed

    # ---- the person's rights and retention -----------------------------------------------

    @staticmethod
    def _of_person(
        customer_id: str | None, addresses: Iterable[str | None]
    ) -> sa.ColumnElement[bool]:
        """The invitations (and reminders) to a person: by address or customer id."""
        conditions = [
            sa.func.lower(invitations.c.address) == address.lower()
            for address in addresses
            if address
        ]
        if customer_id:
            conditions.append(invitations.c.customer_id == customer_id)
        return sa.or_(sa.false(), *conditions)

    async def erase(
        self, customer_id: str | None, addresses: Iterable[str | None]
    ) -> tuple[set[str], int]:
        """Delete every invitation and reminder to the person: (every address they were
        sent to, how many rows went)."""
        person = self._of_person(customer_id, list(addresses))
        held = set(await self.connection.scalars(sa.select(invitations.c.address).where(person)))
        gone = await self.connection.execute(invitations.delete().where(person))
        return {address for address in held if address}, rowcount(gone)

    async def of_person(
        self, customer_id: str | None, addresses: Iterable[str | None]
    ) -> list[dict[str, Any]]:
        """Every invitation and reminder to the person, oldest first (token hashes left
        out), for an access request."""
        rows = await self.connection.execute(
            sa.select(invitations)
            .where(self._of_person(customer_id, list(addresses)))
            .order_by(invitations.c.created_at)
        )
        return table_rows(rows, leave_out=["token_hashes"])

    async def purge(self, closed_before: datetime, withdrawn_before: datetime) -> dict[str, int]:
        """Forget invitations whose survey closed before `closed_before` (none pending) and
        withdrawals older than `withdrawn_before`."""
        gone = await self.connection.execute(
            invitations.delete().where(
                invitations.c.expires_at < closed_before, invitations.c.status != "pending"
            )
        )
        forgotten = await self.connection.execute(
            withdrawals.delete().where(withdrawals.c.withdrawn_at < withdrawn_before)
        )
        return {"invitations": rowcount(gone), "withdrawals": rowcount(forgotten)}

    async def report_delays(
        self, *, sent_after: datetime, sent_before: datetime
    ) -> list[tuple[str, datetime, datetime | None]]:
        """Each SMS sent in that span: its provider, when it was sent and when its delivery
        was reported (None: not yet)."""
        rows = await self.connection.execute(
            sa.select(
                invitations.c.provider, invitations.c.sent_at, invitations.c.delivery_reported_at
            ).where(
                invitations.c.channel == "sms",
                invitations.c.provider.is_not(None),
                invitations.c.sent_at > sent_after,
                invitations.c.sent_at <= sent_before,
            )
        )
        return [
            (
                row.provider,
                as_utc(row.sent_at),
                as_utc(row.delivery_reported_at) if row.delivery_reported_at else None,
            )
            for row in rows
        ]

    async def oldest_waiting(self, now: datetime) -> dict[str, datetime]:
        """Per channel, when the oldest invitation due now or retrying (not one that only
        waits for its recipient's send window) was made."""
        rows = await self.connection.execute(
            sa.select(invitations.c.channel, sa.func.min(invitations.c.created_at))
            .where(
                invitations.c.status == "pending",
                sa.or_(invitations.c.next_attempt_at <= now, invitations.c.attempts > 0),
            )
            .group_by(invitations.c.channel)
        )
        return {str(channel): as_utc(made) for channel, made in rows if made is not None}
