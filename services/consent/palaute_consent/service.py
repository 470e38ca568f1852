"""What happens to a ContactClosed event, and to an opt-out; the composition root.

A closed contact is decided at once only when it cannot be surveyed (opted out, no usable
address, stale, a duplicate); otherwise it becomes a plan with a release time (delay, send
window in the recipient's time, public holidays). The release loop decides each plan again
when its time comes, against the register and the frequency cap as they are then, and only
then asks the dispatcher for an invitation. An opt-out withdraws what was already released.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TypedDict

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from palaute_consent import officers, privacy
from palaute_consent.register import (
    EntryKind,
    Identifier,
    OptOutRegister,
    identifiers,
    register_key,
    serialize_with_opt_outs,
)
from palaute_consent.release import (
    NoSendWindow,
    first_release,
    is_stale,
    next_window,
    recipient_of,
)
from palaute_consent.rules import Reachable, Suppress, choose_channel, reachable
from palaute_consent.settings import ConsentSettings
from palaute_consent.tables import decisions, inbox, outbox, plans, released
from palaute_runtime.clock import Clock
from palaute_runtime.database import as_utc
from palaute_runtime.messaging import Inbox, Outbox
from palaute_runtime.metrics import DECISIONS
from palaute_runtime.retention import purge_inbox, report
from palaute_runtime.unit_of_work import uow
from palaute_schemas import (
    ACCESS_REQUESTED,
    ERASURE_REQUESTED,
    SURVEY_REMINDER_DUE,
    SURVEY_REQUESTED,
    SURVEY_SUPPRESSED,
    SURVEY_WITHDRAWN,
    AccessReported,
    ContactClosed,
    ErasureCompleted,
    ErasureRequested,
    OptOutRequested,
    OptOutSource,
    SurveyReminderDue,
    SurveyRequested,
    SurveySuppressed,
    SurveyWithdrawn,
)

log = structlog.get_logger("palaute.consent")

RELEASE_BATCH = 500
RELEASE_POLL_SECONDS = 30.0  # the longest the release loop sleeps without being woken
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
    contact_day: date
    closed_at: datetime
    release_at: datetime


class ConsentService:
    """The service layer: plain async functions over the consent database."""

    def __init__(self, engine: AsyncEngine, settings: ConsentSettings, clock: Clock) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.rules = settings.release_rules()
        self.outbox = Outbox(outbox)
        self.planned = asyncio.Event()
        self._next_purge = clock.now()
        self._contacts_inbox = Inbox(inbox, "consent.contact-closed", clock)
        self._opt_out_inbox = Inbox(inbox, "consent.opt-out-requested", clock)
        self._erasure_inbox = Inbox(inbox, "consent.erasure-completed", clock)
        self._access_inbox = Inbox(inbox, "consent.access-reported", clock)

    def register(self, connection: AsyncConnection) -> OptOutRegister:
        """The opt-out register inside the caller's transaction, on the service's clock."""
        return OptOutRegister(connection, self.settings.register_audit_key, self.clock)

    async def handle_contacts_closed(self, contacts: Sequence[ContactClosed]) -> None:
        """Plan a release for each contact that may be surveyed; suppress the others now.

        One transaction, one register lookup and one insert per table for the whole batch.
        """
        now = self.clock.now()
        suppressed: list[SurveySuppressed] = []
        new_plans: list[PlanRow] = []
        outcomes: list[dict[str, object]] = []
        async with uow(self.engine, self.outbox, self._contacts_inbox, contacts) as work:
            connection, fresh = work.connection, work.fresh
            decided = set(
                await connection.scalars(
                    sa.select(decisions.c.contact_id).where(
                        decisions.c.contact_id.in_({c.contact_id for c in fresh})
                    )
                )
            )
            to_decide: list[ContactClosed] = []
            for contact in fresh:
                if contact.contact_id in decided:  # a contact published twice: once
                    suppressed.append(
                        SurveySuppressed(contact_id=contact.contact_id, reason="duplicate_contact")
                    )
                else:
                    decided.add(contact.contact_id)
                    to_decide.append(contact)
            who = {c.contact_id: reachable(c, self.settings.default_region) for c in to_decide}
            listed = await OptOutRegister(
                connection, self.settings.register_audit_key, self.clock
            ).listed(
                key
                for c in to_decide
                for key in identifiers(
                    c.customer_id, who[c.contact_id].phone, who[c.contact_id].email
                )
            )
            for contact in to_decide:
                reach = who[contact.contact_id]
                outcome = self._plan(contact, reach, listed, now)
                if isinstance(outcome, Suppress):
                    suppressed.append(
                        SurveySuppressed(contact_id=contact.contact_id, reason=outcome.reason)
                    )
                    outcomes.append(
                        {
                            "contact_id": contact.contact_id,
                            "customer_id": contact.customer_id,
                            "outcome": outcome.reason,
                            "decided_at": now,
                        }
                    )
                else:
                    new_plans.append(outcome)
                    outcomes.append(
                        {
                            "contact_id": contact.contact_id,
                            "customer_id": contact.customer_id,
                            "outcome": "planned",
                            "decided_at": now,
                        }
                    )
            if outcomes:
                await connection.execute(decisions.insert(), outcomes)
            if new_plans:
                await connection.execute(plans.insert(), new_plans)
            await self.outbox.add_all(connection, SURVEY_SUPPRESSED, suppressed)
            # Plans already due (no delay, an open window) are released in this transaction:
            # the same decision the release loop would take, one commit sooner.
            if any(plan["release_at"] <= now for plan in new_plans):
                await self._release(connection, now, RELEASE_BATCH)
        DECISIONS.labels(outcome="planned", reason="").inc(len(new_plans))
        _count_suppressed(suppressed)
        if any(plan["release_at"] > now for plan in new_plans):
            self.planned.set()  # the release loop may need to wake sooner
        log.info(
            "contacts_closed_handled",
            contacts=len(contacts),
            redelivered=len(contacts) - len(fresh),
            planned=len(new_plans),
            suppressed=len(suppressed),
        )

    def _plan(
        self, contact: ContactClosed, reach: Reachable, listed: set[Identifier], now: datetime
    ) -> Suppress | PlanRow:
        """A plan row for one contact, or why it is not surveyed."""
        if any(key in listed for key in identifiers(contact.customer_id, reach.phone, reach.email)):
            return Suppress("opted_out")
        choice = choose_channel(reach)
        if isinstance(choice, Suppress):
            return choice
        recipient = recipient_of(reach.phone if choice.channel == "sms" else None, self.rules)
        try:
            release_at = first_release(contact.closed_at, now, recipient, self.rules)
        except NoSendWindow:
            return Suppress("no_send_window")
        if is_stale(contact.closed_at, release_at, self.rules):
            return Suppress("stale")
        return PlanRow(
            contact_id=contact.contact_id,
            customer_id=contact.customer_id,
            phone=reach.phone,
            email=reach.email,
            channel=choice.channel,
            address=choice.address,
            anonymous=contact.anonymous,
            language=contact.language,
            contact_channel=contact.contact_channel,
            unit=contact.unit,
            contact_day=contact.closed_at.date(),
            closed_at=contact.closed_at,
            release_at=release_at,
        )

    async def release_due(self, limit: int = RELEASE_BATCH) -> int:
        """Decide again every plan whose time has come, and release or suppress it.

        Replicas skip each other's plans (SKIP LOCKED); a plan is deleted in the transaction
        that releases it, so it is never released twice.
        """
        now = self.clock.now()
        async with uow(self.engine, self.outbox) as work:
            released_now = await self._release(work.connection, now, limit)
        return released_now

    async def _release(self, connection: AsyncConnection, now: datetime, limit: int) -> int:
        """Release or suppress up to `limit` due plans in the caller's transaction."""
        cap_since = now - timedelta(days=self.settings.frequency_cap_days)
        await serialize_with_opt_outs(connection, opting_out=False)
        # Claim by deleting, first: on SQLite that takes the write lock before the register
        # is read, so no opt-out commits between the read and the release.
        claimed = (
            await connection.execute(
                plans.delete()
                .where(
                    plans.c.contact_id.in_(_due(plans.c.contact_id, plans.c.release_at, now, limit))
                )
                .returning(*plans.c)
            )
        ).all()
        if not claimed:
            return 0
        due = sorted(claimed, key=lambda row: (as_utc(row.release_at), row.contact_id))
        keys = [key for row in due for key in identifiers(row.customer_id, row.phone, row.email)]
        listed = await OptOutRegister(
            connection, self.settings.register_audit_key, self.clock
        ).listed(keys)
        capped = (
            await self._recently_released(connection, keys, cap_since)
            if self.settings.frequency_cap_days
            else set()
        )
        requested: list[SurveyRequested] = []
        suppressed: list[SurveySuppressed] = []
        outcomes: list[dict[str, object]] = []
        remembered: list[dict[str, object]] = []
        for row in due:
            own = identifiers(row.customer_id, row.phone, row.email)
            if any(key in listed for key in own):
                suppressed.append(SurveySuppressed(contact_id=row.contact_id, reason="opted_out"))
                outcomes.append({"b_id": row.contact_id, "b_outcome": "opted_out"})
            elif any(key in capped for key in own):
                suppressed.append(
                    SurveySuppressed(contact_id=row.contact_id, reason="frequency_cap")
                )
                outcomes.append({"b_id": row.contact_id, "b_outcome": "frequency_cap"})
            else:
                if self.settings.frequency_cap_days:
                    capped.update(own)  # the next plan of the same person in this batch
                requested.append(_request_of(row))
                outcomes.append({"b_id": row.contact_id, "b_outcome": row.channel})
                remembered.append(
                    {
                        "contact_id": row.contact_id,
                        "customer_id": row.customer_id,
                        "phone": row.phone,
                        "email": row.email,
                        "released_at": now,
                        "channel": row.channel,
                        "remind_at": self._reminder_time(row.channel, row.phone, now),
                    }
                )
        await connection.execute(
            decisions.update()
            .where(decisions.c.contact_id == sa.bindparam("b_id"))
            .values(outcome=sa.bindparam("b_outcome"), decided_at=now),
            outcomes,
        )
        if remembered:
            await connection.execute(released.insert(), remembered)
        if now >= self._next_purge:  # forgetting old releases is housekeeping: once a minute
            self._next_purge = now + timedelta(minutes=1)
            await connection.execute(
                released.delete().where(
                    released.c.released_at < now - self.settings.remember_released
                )
            )
        await self.outbox.add_all(connection, SURVEY_REQUESTED, requested)
        await self.outbox.add_all(connection, SURVEY_SUPPRESSED, suppressed)
        log.info(
            "plans_released", due=len(due), requested=len(requested), suppressed=len(suppressed)
        )
        for request in requested:
            DECISIONS.labels(outcome="requested", reason=request.channel).inc()
        _count_suppressed(suppressed)
        return len(due)

    def _reminder_time(
        self, channel: str, phone: str | None, released_at: datetime
    ) -> datetime | None:
        """When a survey released now gets its reminder: the reminder delay later, at the
        first moment inside the recipient's send window; None when reminders are off."""
        if not self.settings.reminder_after_days:
            return None
        earliest = released_at + timedelta(days=self.settings.reminder_after_days)
        recipient = recipient_of(phone if channel == "sms" else None, self.rules)
        try:
            opens, _closes = next_window(earliest, recipient, self.rules)
        except NoSendWindow:
            return None
        return max(opens, earliest)

    async def remind_due(self, limit: int = RELEASE_BATCH) -> int:
        """Ask the dispatcher for each due reminder that may go now: not opted out since,
        and inside the recipient's send window (one whose window has closed meanwhile waits
        for the next). Replicas skip each other's rows; a reminder is asked for once."""
        now = self.clock.now()
        async with uow(self.engine, self.outbox) as work:
            connection = work.connection
            await serialize_with_opt_outs(connection, opting_out=False)
            due_ids = _due(released.c.contact_id, released.c.remind_at, now, limit)
            rows = (
                await connection.execute(
                    released.update()
                    .where(released.c.contact_id.in_(due_ids))
                    .values(remind_at=None)
                    .returning(*released.c)
                )
            ).all()
            if not rows:
                return 0
            listed = await OptOutRegister(
                connection, self.settings.register_audit_key, self.clock
            ).listed(
                key for row in rows for key in identifiers(row.customer_id, row.phone, row.email)
            )
            due: list[SurveyReminderDue] = []
            later: list[dict[str, object]] = []
            for row in rows:
                if any(key in listed for key in identifiers(row.customer_id, row.phone, row.email)):
                    continue
                recipient = recipient_of(row.phone if row.channel == "sms" else None, self.rules)
                try:
                    opens, closes = next_window(now, recipient, self.rules)
                except NoSendWindow:
                    continue
                if opens > now:  # the window closed while it waited (an outage): the next one
                    later.append({"b_id": row.contact_id, "b_at": opens})
                else:
                    due.append(SurveyReminderDue(contact_id=row.contact_id, send_by=closes))
            if later:
                await connection.execute(
                    released.update()
                    .where(released.c.contact_id == sa.bindparam("b_id"))
                    .values(remind_at=sa.bindparam("b_at")),
                    later,
                )
            await self.outbox.add_all(connection, SURVEY_REMINDER_DUE, due)
        log.info(
            "reminders_due",
            claimed=len(rows),
            asked=len(due),
            waiting_for_window=len(later),
            dropped=len(rows) - len(due) - len(later),
        )
        return len(rows)

    async def _recently_released(
        self, connection: AsyncConnection, keys: Sequence[Identifier], since: datetime
    ) -> set[Identifier]:
        """Which of these identifiers were surveyed since `since`."""
        by_kind: dict[str, set[str]] = {}
        for kind, value in keys:
            by_kind.setdefault(kind, set()).add(value)
        if not by_kind:
            return set()
        rows = await connection.execute(
            sa.select(released.c.customer_id, released.c.phone, released.c.email).where(
                released.c.released_at > since,
                sa.or_(
                    *(
                        _RELEASED_BY_KIND[kind].in_(sorted(values))
                        for kind, values in by_kind.items()
                    )
                ),
            )
        )
        return {key for row in rows for key in identifiers(row.customer_id, row.phone, row.email)}

    async def next_release_at(self) -> datetime | None:
        """When the earliest waiting plan or reminder is due."""
        async with self.engine.connect() as connection:
            times = [
                await connection.scalar(sa.select(sa.func.min(plans.c.release_at))),
                await connection.scalar(sa.select(sa.func.min(released.c.remind_at))),
            ]
        known = [as_utc(at) for at in times if at is not None]
        return min(known) if known else None

    async def run_release(self) -> None:
        """Release due plans and reminders until cancelled: wakes at the next due time, on
        a new plan, or every RELEASE_POLL_SECONDS (another replica may have planned)."""
        while True:
            self.planned.clear()
            try:
                if await self.release_due() or await self.remind_due():
                    continue
                next_at = await self.next_release_at()
            except Exception as exc:
                log.error("loop_step_failed", loop="release", error=type(exc).__name__)
                next_at = None
            wait = RELEASE_POLL_SECONDS
            if next_at is not None:
                wait = min(wait, max(0.0, (next_at - self.clock.now()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.planned.wait(), wait)

    async def purge(self) -> dict[str, int]:
        """Forget decisions older than a replayed contact could still be surveyed (it is
        stale then) and consumed message ids. Logs the counts."""
        now = self.clock.now()
        cutoff = now - timedelta(days=self.settings.max_contact_age_days + 7)
        async with self.engine.begin() as connection:
            gone = await connection.execute(
                decisions.delete().where(
                    decisions.c.decided_at < cutoff, decisions.c.outcome != "planned"
                )
            )
            counts = {
                "decisions": int(gone.rowcount or 0),
                "officer_sessions": await officers.purge_sessions(connection, now=now),
                "access_parts": await privacy.purge(
                    connection, self.settings.keep_access_reports_days, now=now
                ),
                "inbox": await purge_inbox(connection, inbox, now),
            }
        report("consent", counts)
        return counts

    async def file_privacy_request(
        self, kind: privacy.RequestKind, person: privacy.Person, *, reason: str, actor: str
    ) -> uuid.UUID:
        """File an erasure or access request: consent's part now, the others' by message."""
        async with uow(self.engine, self.outbox) as work:
            connection = work.connection
            await serialize_with_opt_outs(connection, opting_out=True)
            register = self.register(connection)
            person = await privacy.with_known_customer(connection, person)
            if kind == "erasure":
                # First as an opt-out: surveys released to the person are withdrawn (one may
                # still be on its way to the dispatcher); the entries are then kept hashed.
                for entry_kind, value in person.identifiers():
                    await self.register_opt_out(
                        connection,
                        entry_kind,
                        value,
                        source="privacy_officer",
                        reason=f"erasure request: {reason.strip()}",
                        actor=actor,
                    )
            request_id, message = await privacy.file_request(
                connection, register, kind, person, reason=reason, actor=actor, now=self.clock.now()
            )
            if isinstance(message, ErasureRequested):
                await self.outbox.add(connection, ERASURE_REQUESTED, message)
            else:
                await self.outbox.add(connection, ACCESS_REQUESTED, message)
        log.info("privacy_request_filed", kind=kind, actor=actor)
        return request_id

    async def handle_erasures_completed(self, batch: Sequence[ErasureCompleted]) -> None:
        """The other services' answers to erasure requests."""
        async with uow(self.engine, self.outbox, self._erasure_inbox, batch) as work:
            connection = work.connection
            for completed in work.fresh:
                await privacy.record_erasure(connection, completed)
        log.info("erasure_answers_recorded", answers=len(batch))

    async def handle_access_reports(self, batch: Sequence[AccessReported]) -> None:
        """The other services' parts of access documents."""
        async with uow(self.engine, self.outbox, self._access_inbox, batch) as work:
            connection = work.connection
            for reported in work.fresh:
                await privacy.record_access(connection, reported, now=self.clock.now())
        log.info("access_parts_recorded", parts=len(batch))

    async def handle_opt_out_requests(self, requests: Sequence[OptOutRequested]) -> None:
        """Put every identifier of each opt-out request into the register, and withdraw
        the surveys already released to any of them."""
        async with uow(self.engine, self.outbox, self._opt_out_inbox, requests) as work:
            connection, fresh = work.connection, work.fresh
            withdrawn = 0
            for request in fresh:
                given: list[tuple[EntryKind, str | None]] = [
                    ("customer_id", request.customer_id),
                    ("phone", request.phone),
                    ("email", request.email),
                ]
                for kind, value in given:
                    if value is not None:
                        withdrawn += await self.register_opt_out(
                            connection,
                            kind,
                            value,
                            source=request.source,
                            reason=request.reason,
                            actor=request.source,
                        )
        for request in fresh:
            log.info("opt_out_registered", event_id=str(request.event_id), source=request.source)
        if withdrawn:
            log.info("surveys_withdrawn", count=withdrawn)

    async def add_opt_out(
        self, kind: EntryKind, value: str, *, source: OptOutSource, reason: str, actor: str
    ) -> int:
        """Put one identifier in the register (audited) and withdraw what was released to
        it; how many surveys were withdrawn."""
        async with uow(self.engine, self.outbox) as work:
            return await self.register_opt_out(
                work.connection, kind, value, source=source, reason=reason, actor=actor
            )

    async def remove_opt_out(self, kind: EntryKind, value: str, *, reason: str, actor: str) -> bool:
        """Lift an opt-out (audited); False when there was none."""
        async with uow(self.engine, self.outbox) as work:
            return await self.register(work.connection).remove(
                kind, value, reason=reason, actor=actor
            )

    async def register_opt_out(
        self,
        connection: AsyncConnection,
        kind: EntryKind,
        value: str,
        *,
        source: OptOutSource,
        reason: str,
        actor: str,
    ) -> int:
        """Add one register entry (audited) and withdraw the surveys released to it that may
        not be sent yet; returns how many were withdrawn. Runs in the caller's transaction."""
        await serialize_with_opt_outs(connection, opting_out=True)
        await self.register(connection).add(kind, value, source=source, reason=reason, actor=actor)
        since = self.clock.now() - timedelta(days=self.settings.withdraw_within_days)
        column = _RELEASED_BY_KIND[kind]
        contact_ids = list(
            await connection.scalars(
                sa.select(released.c.contact_id).where(
                    column == register_key(kind, value), released.c.released_at > since
                )
            )
        )
        if contact_ids:  # nor is any of them reminded
            await connection.execute(
                released.update()
                .where(released.c.contact_id.in_(contact_ids))
                .values(remind_at=None)
            )
        await self.outbox.add_all(
            connection,
            SURVEY_WITHDRAWN,
            [
                SurveyWithdrawn(contact_id=contact_id, reason="opted_out")
                for contact_id in contact_ids
            ],
        )
        return len(contact_ids)


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


def _count_suppressed(suppressed: Sequence[SurveySuppressed]) -> None:
    for event in suppressed:
        DECISIONS.labels(outcome="suppressed", reason=event.reason).inc()


def _request_of(plan: sa.Row[tuple[object, ...]]) -> SurveyRequested:
    """The dispatcher's request for a released plan; an anonymous one has no customer id."""
    return SurveyRequested(
        contact_id=plan.contact_id,
        customer_id=None if plan.anonymous else plan.customer_id,
        channel=plan.channel,
        address=plan.address,
        language=plan.language,
        contact_channel=plan.contact_channel,
        unit=plan.unit,
        contact_day=plan.contact_day,
        anonymous=plan.anonymous,
    )
