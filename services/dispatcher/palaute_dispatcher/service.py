"""What happens to a SurveyRequested event: a pending invitation, then one delivery.

The consumer only records the invitation as pending; the delivery loop hands pending
invitations to the partner with the invitation id as idempotency key, so a partner outage
or a restart delays an invitation but never drops or doubles it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_dispatcher.content_policy import ContentPolicyViolation, enforce
from palaute_dispatcher.deletions import PartnerDeletions
from palaute_dispatcher.deletions import completed as erasure_completed
from palaute_dispatcher.deletions import schedule as schedule_deletion
from palaute_dispatcher.flow import CircuitBreaker, TokenBucket
from palaute_dispatcher.partner import (
    DataProcessor,
    HttpSmsPartner,
    Outgoing,
    Partner,
    PartnerError,
    SmtpEmailPartner,
)
from palaute_dispatcher.settings import DispatcherSettings
from palaute_dispatcher.sms import Segments, segments
from palaute_dispatcher.tables import MIGRATIONS, inbox, invitations, outbox, withdrawals
from palaute_dispatcher.templates import LANGUAGES, render, survey_url, unsubscribe_url
from palaute_dispatcher.tokens import invitation_token
from palaute_runtime.clock import Clock
from palaute_runtime.database import as_utc, create_engine, insert_ignoring_conflicts
from palaute_runtime.health import Health
from palaute_runtime.messaging import (
    Handler,
    Inbox,
    Outbox,
    OutboxRelay,
    consume,
    create_broker,
    wait_out_faults,
)
from palaute_runtime.metrics import INVITATIONS, PARTNER_ERRORS, PARTNER_SECONDS
from palaute_runtime.privacy import table_rows
from palaute_runtime.retention import periodic, purge_inbox, report
from palaute_runtime.sealed import seal
from palaute_runtime.service import ServiceRuntime
from palaute_runtime.unit_of_work import uow
from palaute_schemas import (
    ACCESS_REPORTED,
    ACCESS_REQUESTED,
    DELIVERY_STATUS,
    ERASURE_COMPLETED,
    ERASURE_REQUESTED,
    INVITATION_ANSWERED,
    INVITATION_FAILED,
    INVITATION_SENT,
    SURVEY_REMINDER_DUE,
    SURVEY_REQUESTED,
    SURVEY_WITHDRAWN,
    AccessReported,
    AccessRequested,
    DeliveryStatus,
    DeliveryStatusChanged,
    ErasureRequested,
    FailureReason,
    InvitationAnswered,
    InvitationFailed,
    InvitationSent,
    Language,
    SurveyReminderDue,
    SurveyRequested,
    SurveyWithdrawn,
)
from palaute_schemas.identifiers import recipient_ref

log = structlog.get_logger("palaute.dispatcher")

# SurveyRequested fields the invitation keeps as they are.
_COPIED_FROM_REQUEST = {
    "contact_id",
    "channel",
    "address",
    "language",
    "contact_channel",
    "unit",
    "contact_day",
    "anonymous",
    "customer_id",
}

# A reminder goes only while its survey stays open at least this long after it.
REMINDER_LEAST_OPEN = timedelta(days=1)


@dataclass(frozen=True)
class Attempt:
    """What one partner call did to one claimed invitation."""

    invitation: Mapping[str, Any]
    token_hashes: list[str]
    partner_id: str | None = None  # set when the partner took the message
    error: str = ""
    transient: bool = False
    retry_after: float | None = None
    skipped: bool = False  # not attempted: the partner's circuit opened meanwhile
    reason: FailureReason = "rejected"  # why, when it fails for good


class DispatcherService:
    """Records requested invitations and delivers them through the partner."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: DispatcherSettings,
        partners: dict[str, Partner],
        health: Health | None = None,
        processor: DataProcessor | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.partners = partners
        self.health = health
        self.clock = clock or settings.clock()
        self.outbox = Outbox(outbox)
        # The partner's deletion API, when it has one: worked off after commit.
        self.deletions = (
            PartnerDeletions(engine, self.outbox, processor, settings, self.clock)
            if processor is not None
            else None
        )
        self.due = asyncio.Event()
        self._waiting_for_turn: list[float] = []  # channels the rate held back last round
        rates = {
            "sms": settings.partner_sms_rate_per_second,
            "email": settings.partner_email_rate_per_second,
        }
        self.buckets = {channel: TokenBucket(rate) for channel, rate in rates.items()}
        self.breakers = {
            channel: CircuitBreaker(
                channel,
                failures_to_open=settings.breaker_failures,
                first_cool_down=settings.breaker_cool_down_seconds,
                longest_cool_down=settings.breaker_longest_cool_down_seconds,
            )
            for channel in rates
        }
        self._inbox = Inbox(inbox, "dispatcher.survey-requested")
        self._withdrawals_inbox = Inbox(inbox, "dispatcher.survey-withdrawn")
        self._reminders_inbox = Inbox(inbox, "dispatcher.reminder-due")
        self._answered_inbox = Inbox(inbox, "dispatcher.invitation-answered")
        self._erasure_inbox = Inbox(inbox, "dispatcher.erasure-requested")
        self._access_inbox = Inbox(inbox, "dispatcher.access-requested")

    @staticmethod
    def _of_person(request: ErasureRequested | AccessRequested) -> sa.ColumnElement[bool]:
        """The invitations (and reminders) to this person: by address or customer id."""
        conditions = [
            sa.func.lower(invitations.c.address) == address.lower()
            for address in (request.phone, request.email)
            if address
        ]
        if request.customer_id:
            conditions.append(invitations.c.customer_id == request.customer_id)
        return sa.or_(*conditions)

    async def handle_erasure_requests(self, batch: Sequence[ErasureRequested]) -> None:
        """Delete every invitation and reminder to the person, with its address, and leave
        the partner's deletion of every address they were sent to as a job for after commit
        (its answer completes the erasure); without one, report the counts at once."""
        async with uow(self.engine, self.outbox, self._erasure_inbox, batch) as work:
            for request in work.fresh:
                held = await work.connection.scalars(
                    sa.select(invitations.c.address).where(self._of_person(request))
                )
                addresses = {*held, *(a for a in (request.phone, request.email) if a)}
                gone = await work.connection.execute(
                    invitations.delete().where(self._of_person(request))
                )
                erased = {"invitations": int(gone.rowcount or 0)}
                if addresses and self.deletions is not None:
                    await schedule_deletion(
                        work.connection,
                        self.clock.now(),
                        sorted(addresses),
                        request_id=request.request_id,
                        erased=erased,
                    )
                else:
                    await work.publish(
                        ERASURE_COMPLETED,
                        erasure_completed(request.request_id, erased, partner_deleted=None),
                    )
        if self.deletions is not None:
            self.deletions.due.set()
        log.info("erasure_requests_done", requests=len(work.fresh))

    async def _erase_at_partner_again(self, addresses: list[str]) -> None:
        """A message the partner took while its person was being erased: leave a job to
        delete it there."""
        log.warning("erased_during_delivery", count=len(addresses))
        if self.deletions is None:
            return
        async with self.engine.begin() as connection:
            await schedule_deletion(connection, self.clock.now(), addresses)
        self.deletions.due.set()

    async def handle_access_requests(self, batch: Sequence[AccessRequested]) -> None:
        """Report every invitation and reminder to the person (token hashes left out)."""
        async with self.engine.begin() as connection:
            fresh = await self._access_inbox.new_messages(connection, batch)
            for request in fresh:
                rows = await connection.execute(
                    sa.select(invitations)
                    .where(self._of_person(request))
                    .order_by(invitations.c.created_at)
                )
                await self.outbox.add(
                    connection,
                    ACCESS_REPORTED,
                    AccessReported(
                        request_id=request.request_id,
                        service="dispatcher",
                        held={"invitations": table_rows(rows, leave_out=["token_hashes"])},
                    ),
                )
        self.outbox.committed()
        log.info("access_requests_done", requests=len(fresh))

    async def handle_survey_requests(self, requests: Sequence[SurveyRequested]) -> None:
        """Record one pending invitation per request (a redelivered request adds nothing; a
        request consent already withdrew is recorded as withdrawn)."""
        now = self.clock.now()
        expires_at = now + timedelta(days=self.settings.invitation_valid_days)
        send_by = min(expires_at, now + timedelta(hours=self.settings.max_send_delay_hours))
        async with self.engine.begin() as connection:
            fresh = await self._inbox.new_messages(connection, requests)
            withdrawn = set(
                await connection.scalars(
                    sa.select(withdrawals.c.contact_id).where(
                        withdrawals.c.contact_id.in_({r.contact_id for r in fresh})
                    )
                )
            )
            if fresh:
                await connection.execute(
                    invitations.insert(),
                    [
                        {
                            "id": uuid.uuid4(),
                            "request_event_id": request.event_id,
                            **request.model_dump(include=_COPIED_FROM_REQUEST),
                            # Withdrawn before it came: never sent, so no address is kept.
                            **({"address": ""} if request.contact_id in withdrawn else {}),
                            "status": "withdrawn" if request.contact_id in withdrawn else "pending",
                            "attempts": 0,
                            "next_attempt_at": now,
                            "token_hashes": [],
                            "created_at": now,
                            "expires_at": expires_at,
                            "send_by": send_by,
                        }
                        for request in fresh
                    ],
                )
        if fresh:
            self.due.set()
        log.info("invitations_pending", requests=len(requests), new=len(fresh))

    async def handle_withdrawals(self, batch: Sequence[SurveyWithdrawn]) -> None:
        """Consent took surveys back: an invitation not handed to the partner yet never is."""
        now = self.clock.now()
        async with self.engine.begin() as connection:
            fresh = await self._withdrawals_inbox.new_messages(connection, batch)
            if not fresh:
                return
            contact_ids = {w.contact_id for w in fresh}
            await connection.execute(
                insert_ignoring_conflicts(connection, withdrawals),
                [
                    {"contact_id": w.contact_id, "reason": w.reason, "withdrawn_at": now}
                    for w in fresh
                ],
            )
            stopped = await connection.execute(
                invitations.update()
                .where(
                    invitations.c.contact_id.in_(contact_ids),
                    invitations.c.status == "pending",
                )
                .values(status="withdrawn", last_error="withdrawn: opted out")
            )
        INVITATIONS.labels(channel="any", status="withdrawn").inc(stopped.rowcount)
        log.info("invitations_withdrawn", withdrawals=len(fresh), stopped=stopped.rowcount)

    async def handle_reminders_due(self, batch: Sequence[SurveyReminderDue]) -> None:
        """Consent says a survey's reminder may go now (inside the send window): one pending
        reminder for an invitation that was sent, not answered, not withdrawn, not reported
        undelivered, and whose survey stays open a day longer; any other is let be."""
        now = self.clock.now()
        async with self.engine.begin() as connection:
            fresh = await self._reminders_inbox.new_messages(connection, batch)
            if not fresh:
                return
            due = {reminder.contact_id: reminder for reminder in fresh}
            reminded = sa.select(invitations.c.reminder_of).where(
                invitations.c.reminder_of.is_not(None)
            )
            originals = (
                await connection.execute(
                    sa.select(invitations).where(
                        invitations.c.contact_id.in_(due),
                        invitations.c.reminder_of.is_(None),
                        invitations.c.status == "sent",
                        invitations.c.answered.is_(False),
                        sa.or_(
                            invitations.c.delivery.is_(None),
                            invitations.c.delivery == "delivered",
                        ),
                        invitations.c.expires_at > now + REMINDER_LEAST_OPEN,
                        invitations.c.contact_id.not_in(sa.select(withdrawals.c.contact_id)),
                        invitations.c.id.not_in(reminded),
                    )
                )
            ).all()
            rows = [
                {
                    "id": uuid.uuid4(),
                    "request_event_id": due[original.contact_id].event_id,
                    **{name: getattr(original, name) for name in _COPIED_FROM_REQUEST},
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "token_hashes": original.token_hashes,  # the same survey link
                    "created_at": now,
                    "expires_at": original.expires_at,
                    "send_by": min(
                        due[original.contact_id].send_by,
                        as_utc(original.expires_at) - REMINDER_LEAST_OPEN,
                    ),
                    "reminder_of": original.id,
                }
                for original in originals
            ]
            if rows:
                await connection.execute(insert_ignoring_conflicts(connection, invitations), rows)
        if rows:
            self.due.set()
        log.info("reminders_pending", due=len(fresh), new=len(rows), let_be=len(fresh) - len(rows))

    async def handle_answered(self, batch: Sequence[InvitationAnswered]) -> None:
        """The collector says these invitations were answered: none is reminded, and a
        reminder waiting for its turn is cancelled."""
        async with self.engine.begin() as connection:
            fresh = await self._answered_inbox.new_messages(connection, batch)
            if not fresh:
                return
            ids = {answered.invitation_id for answered in fresh}
            await connection.execute(
                invitations.update().where(invitations.c.id.in_(ids)).values(answered=True)
            )
            cancelled = await connection.execute(
                invitations.update()
                .where(invitations.c.reminder_of.in_(ids), invitations.c.status == "pending")
                .values(status="cancelled", last_error="cancelled: the survey was answered")
            )
        log.info(
            "invitations_answered", answered=len(fresh), reminders_cancelled=cancelled.rowcount
        )

    async def deliver_due(self, limit: int | None = None) -> int:
        """Give up the invitations past their send-by time, claim the due ones whose
        channel's circuit lets them go, call the partner for each at the contracted rate,
        and record the outcomes in one transaction; returns how many were handled."""
        expired = await self._expire_overdue()
        claimed: list[tuple[Mapping[str, Any], str | None]] = []
        self._waiting_for_turn = []
        for channel, breaker in self.breakers.items():
            bucket = self.buckets[channel]
            wanted = breaker.capacity(limit or self.settings.delivery_batch_size)
            turns = bucket.take(wanted)
            if wanted and not turns:
                self._waiting_for_turn.append(bucket.seconds_until_turn())
            if turns:
                mine = await self._claim_due(channel, turns)
                bucket.give_back(turns - len(mine))
                claimed += mine
        if not claimed:
            return expired
        gate = asyncio.Semaphore(self.settings.delivery_concurrency)

        async def attempt(invitation: Mapping[str, Any], token: str | None) -> Attempt:
            async with gate:
                return await self._attempt(invitation, token)

        attempts = await asyncio.gather(*(attempt(row, token) for row, token in claimed))
        # The partner has spoken: keep what it said even through a database outage, rather
        # than let the claims expire and ask it again.
        await wait_out_faults(lambda: self._record(attempts), health=self.health, part="delivery")
        return expired + len(attempts)

    async def _expire_overdue(self) -> int:
        """An invitation not sent by its send-by time never is: expired, and said so."""
        now = self.clock.now()
        async with self.engine.begin() as connection:
            rows = (
                await connection.execute(
                    invitations.update()
                    .where(invitations.c.status == "pending", invitations.c.send_by <= now)
                    .values(status="expired", last_error="not sent before its send-by time")
                    .returning(*invitations.c)
                )
            ).all()
            await self.outbox.add_all(
                connection,
                INVITATION_FAILED,
                [
                    _failure_of(dict(row._mapping), "expired", "not sent before its send-by time")
                    for row in rows
                    if row.reminder_of is None  # a reminder not sent is no survey lost
                ],
            )
        if rows:
            self.outbox.committed()
            for row in rows:
                INVITATIONS.labels(channel=row.channel, status="expired").inc()
            log.warning("invitations_expired", count=len(rows))
        return len(rows)

    async def _claim_due(
        self, channel: str, limit: int
    ) -> list[tuple[Mapping[str, Any], str | None]]:
        """Pending-before-call: claim due invitations of one channel and store each new
        token's hash before the partner sees anything. Replicas skip each other's rows."""
        now = self.clock.now()
        due = (
            sa.select(invitations.c.id)
            .where(
                invitations.c.status == "pending",
                invitations.c.channel == channel,
                invitations.c.next_attempt_at <= now,
            )
            .order_by(invitations.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            # Materialized: PostgreSQL may otherwise run a subquery once per row it checks,
            # and claim more rows than the limit (more sends than the rate allows).
            .cte("due")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        async with self.engine.begin() as connection:
            rows = (
                await connection.execute(
                    invitations.update()
                    .where(invitations.c.id.in_(sa.select(due.c.id)))
                    .where(invitations.c.status == "pending")
                    .values(next_attempt_at=now + timedelta(seconds=self.settings.claim_seconds))
                    .returning(*invitations.c)
                )
            ).all()
            claimed: list[tuple[Mapping[str, Any], str | None]] = []
            new_hashes: list[dict[str, object]] = []
            for row in rows:
                invitation = dict(row._mapping)
                token: str | None = None
                if invitation["channel"] == "email":
                    # The same token on every attempt: its hash is stored once, before the
                    # partner sees anything.
                    token, token_hash = invitation_token(
                        self.settings.token_secret, invitation["reminder_of"] or invitation["id"]
                    )
                    if token_hash not in invitation["token_hashes"]:
                        invitation["token_hashes"] = [*invitation["token_hashes"], token_hash]
                        new_hashes.append(
                            {"b_id": invitation["id"], "b_hashes": invitation["token_hashes"]}
                        )
                claimed.append((invitation, token))
            if new_hashes:
                await connection.execute(
                    invitations.update()
                    .where(invitations.c.id == sa.bindparam("b_id"))
                    .values(token_hashes=sa.bindparam("b_hashes", type_=sa.JSON)),
                    new_hashes,
                )
        return claimed

    async def _attempt(self, invitation: Mapping[str, Any], token: str | None) -> Attempt:
        """Render, check and hand one invitation to the partner."""
        hashes = list(invitation["token_hashes"])
        origin = self.settings.survey_origin
        leave = (
            unsubscribe_url(
                origin,
                seal(
                    self.settings.unsubscribe_key,
                    {"email": invitation["address"], "language": invitation["language"]},
                ),
            )
            if token
            else None
        )
        message = render(
            invitation["channel"],
            invitation["language"],
            organization=self.settings.organization_name,
            survey_url=survey_url(origin, token) if token else None,
            valid_days=_days_left(invitation, self.clock.now()),
            unsubscribe_url=leave,
            reminder=invitation["reminder_of"] is not None,
        )
        try:
            enforce(message, allow_links_to=origin if token else None)
        except ContentPolicyViolation as exc:
            # Settings feed the text (organization name, origin): never send, never retry.
            return Attempt(
                invitation, hashes, error=f"content policy: {exc}", reason="content_policy"
            )
        outgoing = Outgoing(
            address=invitation["address"],
            subject=message.subject,
            text=message.text,
            idempotency_key=str(invitation["id"]),
            html=message.html,
            language=invitation["language"],
            unsubscribe_url=leave or "",
        )
        channel = invitation["channel"]
        breaker, bucket = self.breakers[channel], self.buckets[channel]
        if not breaker.allows():  # the circuit opened while this one waited for a slot
            return Attempt(invitation, hashes, skipped=True)
        try:
            with PARTNER_SECONDS.labels(channel=channel).time():
                partner_id = await self.partners[channel].send(outgoing)
        except PartnerError as exc:
            kind = "transient" if exc.transient else "permanent"
            PARTNER_ERRORS.labels(channel=channel, kind=kind).inc()
            if exc.transient:
                breaker.failure()
            if exc.throttled or exc.retry_after:
                bucket.slow_down(exc.retry_after)
            return Attempt(
                invitation,
                hashes,
                error=str(exc),
                transient=exc.transient,
                retry_after=exc.retry_after,
            )
        except Exception as exc:
            # An adapter bug must not lose the batch's other outcomes; retried after backoff.
            PARTNER_ERRORS.labels(channel=channel, kind="adapter").inc()
            breaker.failure()
            log.error(
                "delivery_attempt_failed",
                invitation_id=str(invitation["id"]),
                error=type(exc).__name__,
            )
            return Attempt(invitation, hashes, error=type(exc).__name__, transient=True)
        breaker.success()
        bucket.succeeded()
        return Attempt(invitation, hashes, partner_id=partner_id)

    async def _record(self, attempts: Sequence[Attempt]) -> None:
        """Store every outcome of one round, and queue InvitationSent for the sent ones."""
        now = self.clock.now()
        sent = [a for a in attempts if a.partner_id is not None]
        skipped = [a for a in attempts if a.skipped]
        failed = [a for a in attempts if a.partner_id is None and not a.skipped]
        given_up = [a for a in failed if not a.transient]
        lost_invitations = [a for a in given_up if a.invitation["reminder_of"] is None]
        async with self.engine.begin() as connection:
            # An erasure that came during the call took the row: nothing of it is recorded
            # or announced, and the partner is told again to delete what it just got.
            kept: set[uuid.UUID] = set()
            if sent:
                kept.update(
                    await connection.scalars(
                        sa.select(invitations.c.id).where(
                            invitations.c.id.in_([a.invitation["id"] for a in sent])
                        )
                    )
                )
            erased = [a for a in sent if a.invitation["id"] not in kept]
            sent = [a for a in sent if a.invitation["id"] in kept]
            # Reminders are no invitations of their own to the collector and BI: unpublished.
            sent_invitations = [a for a in sent if a.invitation["reminder_of"] is None]
            if sent:
                await connection.execute(
                    invitations.update()
                    .where(invitations.c.id == sa.bindparam("b_id"))
                    .values(
                        status="sent",
                        sent_at=now,
                        partner_message_id=sa.bindparam("b_partner_id"),
                        attempts=invitations.c.attempts + 1,
                    ),
                    [{"b_id": a.invitation["id"], "b_partner_id": a.partner_id} for a in sent],
                )
                await self.outbox.add_all(
                    connection, INVITATION_SENT, [self._sent_message(a) for a in sent_invitations]
                )
            if failed:
                await connection.execute(
                    invitations.update()
                    # A withdrawal that came during the call stands: not retried, not failed.
                    .where(
                        invitations.c.id == sa.bindparam("b_id"), invitations.c.status == "pending"
                    )
                    .values(
                        status=sa.bindparam("b_status"),
                        attempts=invitations.c.attempts + 1,
                        last_error=sa.bindparam("b_error"),
                        next_attempt_at=sa.bindparam("b_next"),
                    ),
                    [self._failure_row(a, now) for a in failed],
                )
                await self.outbox.add_all(
                    connection,
                    INVITATION_FAILED,
                    [
                        _failure_of(a.invitation, a.reason, a.error, attempted=True)
                        for a in lost_invitations
                    ],
                )
                # An email the relay refused for good is undeliverable, as a receipt says.
                await self.outbox.add_all(
                    connection,
                    DELIVERY_STATUS,
                    [
                        _delivery_of(a.invitation, "undelivered", a.error, now)
                        for a in lost_invitations
                        if a.invitation["channel"] == "email" and a.reason == "rejected"
                    ],
                )
            if skipped:
                # Never attempted: the claim is let go as it was, attempts untouched.
                await connection.execute(
                    invitations.update()
                    .where(
                        invitations.c.id == sa.bindparam("b_id"), invitations.c.status == "pending"
                    )
                    .values(next_attempt_at=now),
                    [{"b_id": a.invitation["id"]} for a in skipped],
                )
        if sent or given_up:
            self.outbox.committed()
        if erased:
            await self._erase_at_partner_again([a.invitation["address"] for a in erased])
        for attempt in sent:
            reminder_of = attempt.invitation["reminder_of"]
            INVITATIONS.labels(
                channel=attempt.invitation["channel"],
                status="sent" if reminder_of is None else "reminder_sent",
            ).inc()
            log.info(
                "invitation_sent" if reminder_of is None else "reminder_sent",
                invitation_id=str(reminder_of or attempt.invitation["id"]),
                channel=attempt.invitation["channel"],
            )

    def _sent_message(self, attempt: Attempt) -> InvitationSent:
        invitation = attempt.invitation
        channel = invitation["channel"]
        return InvitationSent(
            invitation_id=invitation["id"],
            channel=channel,
            language=invitation["language"],
            contact_channel=invitation["contact_channel"],
            unit=invitation["unit"],
            contact_day=invitation["contact_day"],
            anonymous=invitation["anonymous"],
            customer_id=None if invitation["anonymous"] else invitation["customer_id"],
            token_hashes=attempt.token_hashes,
            recipient_ref=(
                recipient_ref(self.settings.recipient_pepper, invitation["address"])
                if channel == "sms"
                else None
            ),
            expires_at=as_utc(invitation["expires_at"]),
            contact_id=None if invitation["anonymous"] else invitation["contact_id"],
        )

    def _failure_row(self, attempt: Attempt, now: datetime) -> dict[str, object]:
        """A transient failure waits and is tried again until its send-by time; only a
        refusal for good (or the content policy) gives up at once."""
        attempts = attempt.invitation["attempts"] + 1
        give_up = not attempt.transient
        # Exponential backoff with jitter, capped at five minutes; Retry-After is a floor.
        ceiling = min(300.0, 2.0 ** min(attempts, 12))
        delay = max(random.uniform(ceiling / 2, ceiling), attempt.retry_after or 0.0)
        log.warning(
            "invitation_not_delivered",
            invitation_id=str(attempt.invitation["id"]),
            attempts=attempts,
            error=attempt.error,
            gave_up=give_up,
            retry_in=None if give_up else round(delay, 1),
        )
        INVITATIONS.labels(
            channel=attempt.invitation["channel"], status="failed" if give_up else "retrying"
        ).inc()
        return {
            "b_id": attempt.invitation["id"],
            "b_status": "failed" if give_up else "pending",
            "b_error": attempt.error[:500],
            "b_next": now + timedelta(seconds=delay),
        }

    async def record_receipt(
        self, partner_message_id: str, status: DeliveryStatus, reason: str
    ) -> Literal["recorded", "unchanged", "unknown"]:
        """The partner's delivery receipt for a message it took. The status moves forward
        once, from sent; a late or replayed receipt changes nothing."""
        now = self.clock.now()
        async with self.engine.begin() as connection:
            row = (
                await connection.execute(
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
            if row is None:
                known = await connection.scalar(
                    sa.select(sa.func.count())
                    .select_from(invitations)
                    .where(invitations.c.partner_message_id == partner_message_id)
                )
                return "unchanged" if known else "unknown"
            if row.reminder_of is None:  # a reminder's receipt is kept, not published
                await self.outbox.add(
                    connection,
                    DELIVERY_STATUS,
                    _delivery_of(dict(row._mapping), status, reason, now),
                )
        self.outbox.committed()
        INVITATIONS.labels(channel=row.channel, status=status).inc()
        return "recorded"

    async def purge(self) -> dict[str, int]:
        """Forget what is no longer needed: invitations (with their addresses) and reminders
        PALAUTE_KEEP_ADDRESSES_DAYS after their survey closed, withdrawals as old, consumed
        message ids. Logs the counts."""
        cutoff = self.clock.now() - timedelta(days=self.settings.keep_addresses_days)
        oldest_survey = cutoff - timedelta(days=self.settings.invitation_valid_days)
        async with self.engine.begin() as connection:
            gone = await connection.execute(
                invitations.delete().where(
                    invitations.c.expires_at < cutoff, invitations.c.status != "pending"
                )
            )
            forgotten = await connection.execute(
                withdrawals.delete().where(withdrawals.c.withdrawn_at < oldest_survey)
            )
            counts = {
                "invitations": int(gone.rowcount or 0),
                "withdrawals": int(forgotten.rowcount or 0),
                "inbox": await purge_inbox(connection, inbox, self.clock.now()),
            }
        report("dispatcher", counts)
        return counts

    async def run_delivery(self, poll_seconds: float = 0.5) -> None:
        """Deliver until cancelled: again at once while rounds find work, at the next free
        turn when the rate held a round back, else when a request arrives or every poll
        interval (an open circuit is probed within one interval of its cool-down's end)."""
        while True:
            self.due.clear()
            try:
                done = await self.deliver_due()
            except Exception as exc:
                log.error("loop_step_failed", loop="delivery", error=type(exc).__name__)
                done = 0
            if done:
                continue
            wait = min([poll_seconds, *self._waiting_for_turn])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.due.wait(), max(0.001, wait))


async def requeue(
    engine: AsyncEngine,
    settings: DispatcherSettings,
    since: datetime,
    until: datetime,
    statuses: Sequence[str],
    *,
    dry_run: bool = False,
    clock: Clock | None = None,
) -> tuple[int, int]:
    """Put given-up invitations requested in [since, until) back in the queue, with a new
    send-by time; returns (requeued, left because their survey has closed). A running
    dispatcher picks them up within its poll interval."""
    now = (clock or settings.clock()).now()
    chosen = sa.and_(
        invitations.c.reminder_of.is_(None),  # a reminder's moment has passed with its window
        invitations.c.status.in_(statuses),
        invitations.c.created_at >= since,
        invitations.c.created_at < until,
        invitations.c.contact_id.not_in(sa.select(withdrawals.c.contact_id)),
    )
    async with engine.begin() as connection:
        closed = int(
            await connection.scalar(
                sa.select(sa.func.count())
                .select_from(invitations)
                .where(chosen, invitations.c.expires_at <= now)
            )
            or 0
        )
        open_ones = sa.and_(chosen, invitations.c.expires_at > now)
        if dry_run:
            count = await connection.scalar(
                sa.select(sa.func.count()).select_from(invitations).where(open_ones)
            )
            return int(count or 0), closed
        ids = (await connection.scalars(sa.select(invitations.c.id).where(open_ones))).all()
        send_by = now + timedelta(hours=settings.max_send_delay_hours)
        chosen_ids = invitations.c.id.in_(ids)
        await connection.execute(
            invitations.update()
            .where(chosen_ids)
            .values(
                status="pending", attempts=0, next_attempt_at=now, last_error=None, send_by=send_by
            )
        )
        # Never past the survey's close.
        await connection.execute(
            invitations.update()
            .where(chosen_ids, invitations.c.expires_at < send_by)
            .values(send_by=invitations.c.expires_at)
        )
    log.info("invitations_requeued", count=len(ids), left_closed=closed)
    return len(ids), closed


def _days_left(invitation: Mapping[str, Any], now: datetime) -> int:
    """Whole days its survey stays open from now (the text says so)."""
    left = as_utc(invitation["expires_at"]) - now
    return max(1, math.ceil(left / timedelta(days=1)))


def _counted_by(invitation: Mapping[str, Any]) -> dict[str, Any]:
    """What BI counts an invitation by (no address, no customer)."""
    return {
        "invitation_id": invitation["id"],
        "channel": invitation["channel"],
        "language": invitation["language"],
        "contact_channel": invitation["contact_channel"],
        "unit": invitation["unit"],
        "contact_day": invitation["contact_day"],
    }


def _delivery_of(
    invitation: Mapping[str, Any], status: DeliveryStatus, reason: str, at: datetime
) -> DeliveryStatusChanged:
    """The DeliveryStatusChanged event of an invitation."""
    return DeliveryStatusChanged(
        **_counted_by(invitation), status=status, reason=reason[:200], reported_at=at
    )


def _failure_of(
    invitation: Mapping[str, Any], reason: FailureReason, error: str, *, attempted: bool = False
) -> InvitationFailed:
    """The InvitationFailed event of an invitation given up."""
    return InvitationFailed(
        **_counted_by(invitation),
        contact_id=invitation["contact_id"],
        reason=reason,
        attempts=invitation["attempts"] + (1 if attempted else 0),
        error=error[:500],
    )


def report_sms_cost(organization: str) -> dict[Language, Segments]:
    """What the SMS invitation (or its reminder, the dearer of the two) costs in each
    language with this organisation name; a text longer than one segment is said at
    start-up (the partner bills per segment)."""
    costs = {
        language: max(
            (
                segments(
                    render(
                        "sms",
                        language,
                        organization=organization,
                        survey_url=None,
                        valid_days=1,
                        reminder=reminder,
                    ).text
                )
                for reminder in (False, True)
            ),
            key=lambda cost: (cost.count, cost.units),
        )
        for language in LANGUAGES
    }
    for language, cost in costs.items():
        if cost.count > 1:
            log.warning(
                "sms_invitation_longer_than_one_segment",
                language=language,
                segments=cost.count,
                encoding=cost.encoding,
                units=cost.units,
                hint="shorten PALAUTE_ORGANIZATION_NAME (or avoid characters outside GSM-7)",
            )
    return costs


def build(settings: DispatcherSettings) -> tuple[ServiceRuntime, DispatcherService]:
    """Wire the dispatcher: database, partner adapters, consumer, delivery loop, relay."""
    from palaute_dispatcher.web import routes  # the web layer imports this module

    report_sms_cost(settings.organization_name)
    engine = create_engine(settings.database_url)
    clock = settings.clock()
    sms = HttpSmsPartner(settings.partner_sms_url, settings.partner_api_key, settings.sms_sender)
    email = SmtpEmailPartner(
        settings.partner_smtp_host,
        settings.partner_smtp_port,
        settings.email_sender,
        starttls=settings.partner_smtp_starttls,
        username=settings.partner_smtp_username,
        password=settings.partner_smtp_password,
        clock=clock,
    )
    health = Health("dispatcher")
    service = DispatcherService(
        engine, settings, {"sms": sms, "email": email}, health, processor=sms, clock=clock
    )
    broker = create_broker(settings, client_id="palaute-dispatcher")
    consume(
        broker,
        Handler(SURVEY_REQUESTED, service.handle_survey_requests),
        Handler(SURVEY_WITHDRAWN, service.handle_withdrawals),
        Handler(SURVEY_REMINDER_DUE, service.handle_reminders_due),
        Handler(INVITATION_ANSWERED, service.handle_answered),
        Handler(ERASURE_REQUESTED, service.handle_erasure_requests),
        Handler(ACCESS_REQUESTED, service.handle_access_requests),
        group_id="palaute-dispatcher",
        settings=settings,
        health=health,
    )
    relay = OutboxRelay(engine, service.outbox, outbox, settings, "palaute-dispatcher")
    runtime = ServiceRuntime(
        "dispatcher",
        engine=engine,
        migrations=MIGRATIONS,
        broker=broker,
        host=settings.dispatcher_host,
        port=settings.dispatcher_port,
        routes=routes(service),
        health=health,
        loops=[
            relay.run,
            service.run_delivery,
            *([service.deletions.run] if service.deletions is not None else []),
            periodic("purge", settings.purge_interval_seconds, service.purge),
        ],
        closers=[sms.close],
    )
    return runtime, service
