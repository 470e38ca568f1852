"""Delivery: pending invitations handed to the partner once, at the contracted rate, with
the invitation id as idempotency key; transient failures retried with backoff until the
send-by time, the circuit breaker in front of an ailing partner, every outcome recorded
in one transaction per round (never while the partner is being called)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from palaute_dispatcher.core import Core
from palaute_dispatcher.deletion_jobs import Deletions
from palaute_dispatcher.deletions import PartnerDeletions
from palaute_dispatcher.failover import Lane, Weights
from palaute_dispatcher.flow import CircuitBreaker, TokenBucket
from palaute_dispatcher.messages import delivery_of, failure_of, sent_message
from palaute_dispatcher.outgoing import outgoing_for
from palaute_dispatcher.partner import Outgoing, Partner, PartnerError
from palaute_dispatcher.receipts import apply_held_receipts
from palaute_dispatcher.repository import Invitations
from palaute_dispatcher.settings import DispatcherSettings
from palaute_dispatcher.tokens import token_to_send
from palaute_runtime.database import Row, as_utc
from palaute_runtime.health import Health
from palaute_runtime.messaging import wait_out_faults
from palaute_runtime.metrics import (
    INVITATIONS,
    OLDEST_WAITING,
    PARTNER_ERRORS,
    PARTNER_SECONDS,
)
from palaute_runtime.unit_of_work import UnitOfWork, uow
from palaute_schemas import (
    DELIVERY_STATUS,
    INVITATION_FAILED,
    INVITATION_SENT,
    REMINDER_SENT,
    FailureReason,
    Message,
    ReminderSent,
)
from palaute_schemas.send_window import NoSendWindow, closed_until, recipient_of

log = structlog.get_logger("palaute.dispatcher")


SLOW_SAMPLE = 10  # SMS a provider took in the window before its reports can count as slow
SLOW_SHARE = 0.3  # the share of them reported late (or not yet) that makes it slow


@dataclass(frozen=True)
class Attempt:
    """What one partner call did to one claimed invitation."""

    invitation: Mapping[str, Any]
    token_hashes: list[str]
    partner_id: str | None = None  # set when the partner took the message
    # When it was handed over: the earliest the partner (and so the recipient) had it, and
    # so its sent time (a reply can come before the round is recorded, never before this).
    handed_at: datetime | None = None
    error: str = ""
    transient: bool = False
    retry_after: float | None = None
    skipped: bool = False  # not attempted: the partner's circuit opened meanwhile
    lane: str = ""  # the provider (or relay) it went to
    in_doubt: bool = False  # the provider may have taken it: its retry goes there only
    # Not attempted: the recipient's send window is closed; due again when it opens.
    deferred_until: datetime | None = None
    reason: FailureReason = "rejected"  # why, when it fails for good


class Delivery:
    """Hands due invitations to the partner and records what it said."""

    def __init__(
        self,
        core: Core,
        partners: Mapping[str, Partner | Mapping[str, Partner]],
        deletions: PartnerDeletions | None,
        health: Health | None = None,
    ) -> None:
        self.core = core
        self.deletions = deletions
        self.health = health
        settings = core.settings
        shared = settings.send_window_rules()
        self.sending = {p.name: p.send_window_rules(shared) for p in settings.programmes.all}
        self._waiting_for_turn: list[float] = []  # channels the rate held back last round
        # Each channel's ways out: the SMS providers (one or several), the email relay.
        self.lanes: dict[str, list[Lane]] = {
            channel: [
                Lane(
                    name,
                    partner,
                    TokenBucket(settings.rate_of(channel, name)),
                    CircuitBreaker(
                        channel if name in ("smtp", "sandbox") else f"{channel}:{name}",
                        failures_to_open=settings.breaker_failures,
                        first_cool_down=settings.breaker_cool_down_seconds,
                        longest_cool_down=settings.breaker_longest_cool_down_seconds,
                    ),
                )
                for name, partner in _named(channel, partners.get(channel), settings)
            ]
            for channel in ("sms", "email")
        }
        sms = [lane.name for lane in self.lanes["sms"]]
        self.weights = Weights(
            {name: settings.sms_providers.get(name, 1) for name in sms},  # type: ignore[call-overload]
            cool_down=settings.sms_failover_cool_down_seconds,
            quiet=settings.sms_failover_quiet_seconds,
        )

    def set_rate_share(self, fraction: float) -> None:
        """This process sends this share of every contracted rate (the replicas' split)."""
        for lanes in self.lanes.values():
            for lane in lanes:
                lane.bucket.set_share(fraction)

    async def deliver_due(self, limit: int | None = None) -> int:
        """Give up the invitations past their send-by time, claim the due ones whose
        channel's circuit lets them go, call the partner for each at the contracted rate,
        and record the outcomes in one transaction; returns how many were handled."""
        started = time.monotonic()
        expired = await self._expire_overdue()
        self.weights.tend()
        claimed: list[tuple[Mapping[str, Any], str | None, Lane]] = []
        self._waiting_for_turn = []
        batch = limit or self.core.settings.delivery_batch_size
        for channel, lanes in self.lanes.items():
            room: dict[str, int] = {}
            for lane in lanes:
                wanted = lane.breaker.capacity(batch)
                room[lane.name] = lane.bucket.take(wanted)
                if wanted and not room[lane.name]:
                    turn = lane.bucket.seconds_until_turn(lane.bucket.worthwhile(wanted))
                    self._waiting_for_turn.append(turn)
            if not any(room.values()):
                continue
            mine = await self.claim_due(channel, room)
            for lane in lanes:
                lane.bucket.give_back(room[lane.name] - sum(m[2] is lane for m in mine))
            claimed += mine
        if not claimed:
            return expired
        gate = asyncio.Semaphore(self.core.settings.delivery_concurrency)

        async def attempt(invitation: Mapping[str, Any], token: str | None, lane: Lane) -> Attempt:
            async with gate:
                return await self.attempt(invitation, token, lane)

        attempts = await asyncio.gather(*(attempt(*claim) for claim in claimed))
        # The partner has spoken: keep what it said even through a database outage, rather
        # than let the claims expire and ask it again.
        await wait_out_faults(lambda: self.record(attempts), health=self.health, part="delivery")
        for lanes in self.lanes.values():  # the next round may send what this one took
            for lane in lanes:
                lane.bucket.round_took(time.monotonic() - started)
        return expired + len(attempts)

    async def check_report_delays(self) -> list[str]:
        """Lower the share of each SMS provider whose delivery reports come slowly: of the
        SMS it took in the window, up to the slowness threshold ago (at least SLOW_SAMPLE),
        SLOW_SHARE or more reported later than the threshold or not yet. Returns them."""
        settings, now = self.core.settings, self.core.clock.now()
        late_after = timedelta(seconds=settings.sms_slow_report_seconds)
        async with self.core.engine.connect() as connection:
            rows = await Invitations(connection).report_delays(
                sent_after=now - timedelta(seconds=settings.sms_slow_window_seconds),
                sent_before=now - late_after,
            )
        counts: dict[str, list[int]] = {}
        for provider, sent_at, reported_at in rows:
            seen = counts.setdefault(provider, [0, 0])
            seen[0] += 1
            seen[1] += reported_at is None or reported_at - sent_at > late_after
        slow = [
            provider
            for provider, (taken, late) in counts.items()
            if provider in self.weights.shares
            and taken >= SLOW_SAMPLE
            and late / taken >= SLOW_SHARE
        ]
        return [p for p in slow if self.weights.lower(p, "slow_reports")]

    async def measure_waiting(self) -> dict[str, float]:
        """Export how long the oldest invitation due (or retrying) has waited, per channel:
        the alert on invitations not handed over reads it."""
        now = self.core.clock.now()
        async with self.core.engine.connect() as connection:
            oldest = await Invitations(connection).oldest_waiting(now)
        waited = {
            channel: max(0.0, (now - oldest[channel]).total_seconds()) if channel in oldest else 0.0
            for channel in ("sms", "email")
        }
        for channel, seconds in waited.items():
            OLDEST_WAITING.labels(channel=channel).set(seconds)
        return waited

    async def _expire_overdue(self) -> int:
        """An invitation not sent by its send-by time never is: expired, and said so."""
        now = self.core.clock.now()
        async with uow(self.core.engine, self.core.outbox) as work:
            rows = await Invitations(work.connection).expire_overdue(now)
            await work.publish_all(
                INVITATION_FAILED,
                [
                    failure_of(dict(row._mapping), "expired", "not sent before its send-by time")
                    for row in rows
                    if row.reminder_of is None  # a reminder not sent is no survey lost
                ],
            )
        if rows:
            for row in rows:
                INVITATIONS.labels(channel=row.channel, status="expired").inc()
            log.warning("invitations_expired", count=len(rows))
        return len(rows)

    async def claim_due(
        self, channel: str, room: Mapping[str, int]
    ) -> list[tuple[Mapping[str, Any], str | None, Lane]]:
        """Pending-before-call: claim due invitations of one channel, as many as its lanes
        have room for, each with the lane it goes to, and store each new token's hash before
        the partner sees anything. Replicas skip each other's rows."""
        settings, now = self.core.settings, self.core.clock.now()
        until = now + timedelta(seconds=settings.claim_seconds)
        lanes = {lane.name: lane for lane in self.lanes[channel]}
        async with self.core.engine.begin() as connection:
            repository = Invitations(connection)
            ways: list[tuple[Row, Lane]] = []
            if len(lanes) == 1:
                (lane,) = lanes.values()
                ways += [
                    (row, lane)
                    for row in await repository.claim_due(channel, room[lane.name], now, until)
                ]
            else:
                ways += await self._claim_spread(repository, channel, room, lanes, now, until)
            claimed: list[tuple[Mapping[str, Any], str | None, Lane]] = []
            new_tokens: dict[uuid.UUID, tuple[list[str], str]] = {}
            for row, lane in ways:
                invitation = dict(row._mapping)
                token: str | None = None
                if invitation["channel"] == "email":
                    token, digest, sealed = token_to_send(
                        settings.token_secret, invitation["token_sealed"]
                    )
                    if digest is not None and sealed is not None:
                        invitation["token_hashes"] = [*invitation["token_hashes"], digest]
                        new_tokens[invitation["id"]] = (invitation["token_hashes"], sealed)
                claimed.append((invitation, token, lane))
            await repository.store_tokens(new_tokens)
        return claimed

    async def _claim_spread(
        self,
        repository: Invitations,
        channel: str,
        room: Mapping[str, int],
        lanes: Mapping[str, Lane],
        now: datetime,
        until: datetime,
    ) -> list[tuple[Row, Lane]]:
        """Several providers: first what each may already have (pinned to it: in doubt),
        then the rest spread by weight over those whose circuit is closed, and one probe for
        each whose circuit is half-open."""
        ways: list[tuple[Row, Lane]] = []
        left = dict(room)
        for name, lane in lanes.items():
            if left[name]:
                pinned = await repository.claim_due(channel, left[name], now, until, pinned_to=name)
                ways += [(row, lane) for row in pinned]
                left[name] -= len(pinned)
        # A provider out of turns this round still takes its share of the spread (the others
        # wait for their turns rather than send its share); one whose circuit is open, or
        # that asked us to wait, is left out.
        spread = {
            n: r
            for n, r in left.items()
            if lanes[n].breaker.state == "closed" and not lanes[n].bucket.paused
        }
        probes = [n for n, r in left.items() if r and lanes[n].breaker.state == "half_open"]
        wanted = self.weights.capacity(spread) + len(probes)
        if not wanted:
            return ways
        rows = await repository.claim_due(
            channel, wanted, now, until, pinned_to=None, lanes=list(lanes)
        )
        random.shuffle(rows)
        rest = max(0, len(rows) - len(probes))
        given = dict.fromkeys(probes, 1) | self.weights.spread(rest, spread)
        for name, count in given.items():
            ways += [(row, lanes[name]) for row in rows[:count]]
            rows = rows[count:]
        # More rows than room (a probe lane with nothing to probe): let go at once.
        await repository.let_go({row.id: now for row in rows})
        return ways

    async def attempt(
        self, invitation: Mapping[str, Any], token: str | None, lane: Lane
    ) -> Attempt:
        """Render, check and hand one invitation to the partner, inside the recipient's
        send window only (a retry, a backlog after an outage or a requeue included)."""
        hashes = list(invitation["token_hashes"])
        opens = self._window_closed_until(invitation)
        if opens is not None:
            return Attempt(invitation, hashes, deferred_until=opens)
        outgoing = outgoing_for(invitation, token, self.core.settings, self.core.clock.now())
        if isinstance(outgoing, str):
            # Settings feed the text (organization name, origin): never send, never retry.
            return Attempt(invitation, hashes, error=outgoing, reason="content_policy")
        return await self._hand_over(invitation, hashes, outgoing, lane)

    def _window_closed_until(self, invitation: Mapping[str, Any]) -> datetime | None:
        """None while the recipient's send window is open now; else when it next opens (its
        send-by when it never does: then it expires)."""
        phone = invitation["address"] if invitation["channel"] == "sms" else None
        programme = self.core.settings.programmes.of(invitation["programme"], invitation["unit"])
        sending = self.sending[programme.name]
        recipient = recipient_of(phone, invitation["unit"], sending)
        try:
            return closed_until(self.core.clock.now(), recipient, sending)
        except NoSendWindow:
            return as_utc(invitation["send_by"])

    async def _hand_over(
        self, invitation: Mapping[str, Any], hashes: list[str], outgoing: Outgoing, lane: Lane
    ) -> Attempt:
        """Call the lane's partner through its breaker and bucket."""
        channel = invitation["channel"]
        if not lane.breaker.allows():  # the circuit opened while this one waited for a slot
            return Attempt(invitation, hashes, skipped=True, lane=lane.name)
        handed_at = self.core.clock.now()
        try:
            with PARTNER_SECONDS.labels(channel=channel).time():
                partner_id = await lane.partner.send(outgoing)
        except PartnerError as exc:
            kind = "transient" if exc.transient else "permanent"
            PARTNER_ERRORS.labels(channel=channel, kind=kind).inc()
            if exc.transient:
                lane.breaker.failure()
                if not exc.throttled and channel == "sms":
                    self.weights.lower(lane.name, "errors")
            if exc.throttled or exc.retry_after:
                lane.bucket.slow_down(exc.retry_after)
            return Attempt(
                invitation,
                hashes,
                error=str(exc),
                transient=exc.transient,
                retry_after=exc.retry_after,
                lane=lane.name,
                in_doubt=exc.in_doubt,
            )
        except Exception as exc:
            # An adapter bug must not lose the batch's other outcomes; retried after backoff,
            # with that provider only (it may have sent it).
            PARTNER_ERRORS.labels(channel=channel, kind="adapter").inc()
            lane.breaker.failure()
            log.error(
                "delivery_attempt_failed",
                invitation_id=str(invitation["id"]),
                error=type(exc).__name__,
            )
            return Attempt(
                invitation,
                hashes,
                error=type(exc).__name__,
                transient=True,
                lane=lane.name,
                in_doubt=True,
            )
        lane.breaker.success()
        lane.bucket.succeeded()
        return Attempt(
            invitation, hashes, partner_id=partner_id, handed_at=handed_at, lane=lane.name
        )

    async def record(self, attempts: Sequence[Attempt]) -> None:
        """Store every outcome of one round, and queue InvitationSent for the sent ones."""
        now = self.core.clock.now()
        sent = [a for a in attempts if a.partner_id is not None]
        # Never attempted: the circuit opened meanwhile, or the recipient's window is shut.
        untried = [a for a in attempts if a.skipped or a.deferred_until is not None]
        failed = [
            a
            for a in attempts
            if a.partner_id is None and not a.skipped and a.deferred_until is None
        ]
        async with uow(self.core.engine, self.core.outbox) as work:
            # An erasure that came during the call took the row: nothing of it is recorded
            # or announced, and the partner is told again to delete what it just got.
            repository = Invitations(work.connection)
            kept = await repository.existing([a.invitation["id"] for a in sent])
            erased = [a for a in sent if a.invitation["id"] not in kept]
            sent = [a for a in sent if a.invitation["id"] in kept]
            await self._record_sent(work, sent, now)
            await self._record_failed(work, failed, now)
            # Never attempted: the claim is let go, due again now (the circuit decides) or
            # when the recipient's window opens; attempts untouched.
            await repository.let_go({a.invitation["id"]: a.deferred_until or now for a in untried})
        if waiting := sum(a.deferred_until is not None for a in untried):
            log.info("invitations_wait_for_window", count=waiting)
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

    async def _record_sent(
        self, work: UnitOfWork[Message], sent: list[Attempt], now: datetime
    ) -> None:
        if not sent:
            return
        await Invitations(work.connection).sent(
            {a.invitation["id"]: (a.partner_id, a.handed_at or now, a.lane) for a in sent}
        )
        # The provider may have reported on them already (it calls once, maybe first).
        await apply_held_receipts(work, [a.partner_id for a in sent if a.partner_id], now)
        # A reminder is no invitation of its own to the collector and BI: its link's token
        # is announced for the invitation it reminds of.
        pepper = self.core.settings.peppers.current
        await work.publish_all(
            INVITATION_SENT,
            [
                sent_message(a.invitation, a.token_hashes, pepper, a.handed_at or now)
                for a in sent
                if a.invitation["reminder_of"] is None
            ],
        )
        await work.publish_all(
            REMINDER_SENT,
            [
                ReminderSent(invitation_id=a.invitation["reminder_of"], token_hashes=a.token_hashes)
                for a in sent
                if a.invitation["reminder_of"] is not None and a.token_hashes
            ],
        )

    async def _record_failed(
        self, work: UnitOfWork[Message], failed: list[Attempt], now: datetime
    ) -> None:
        if not failed:
            return
        # A withdrawal that came during the call stands: not retried, not failed.
        repository = Invitations(work.connection)
        await repository.failed([self._failure_row(a, now) for a in failed])
        await repository.drop_sealed_tokens([a.invitation["id"] for a in failed if not a.transient])
        # A reminder given up is no survey lost: only invitations are announced.
        lost = [a for a in failed if not a.transient and a.invitation["reminder_of"] is None]
        await work.publish_all(
            INVITATION_FAILED,
            [failure_of(a.invitation, a.reason, a.error, attempted=True) for a in lost],
        )
        # An email the relay refused for good is undeliverable, as a receipt says.
        await work.publish_all(
            DELIVERY_STATUS,
            [
                delivery_of(a.invitation, "undelivered", a.error, now)
                for a in lost
                if a.invitation["channel"] == "email" and a.reason == "rejected"
            ],
        )

    async def _erase_at_partner_again(self, addresses: list[str]) -> None:
        """A message the partner took while its person was being erased: leave a job to
        delete it there."""
        log.warning("erased_during_delivery", count=len(addresses))
        if self.deletions is None:
            return
        async with self.core.engine.begin() as connection:
            await Deletions(connection).add(self.core.clock.now(), addresses, None, None)
        self.deletions.due.set()

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
            # A hand-over in doubt pins its retry to that provider; else the pin stays.
            "b_provider": attempt.lane if attempt.in_doubt else attempt.invitation.get("provider"),
        }

    async def run_delivery(self, poll_seconds: float = 0.5) -> None:
        """Deliver until cancelled: again at once while rounds find work, at the next free
        turn when the rate held a round back, else when a request arrives or every poll
        interval (an open circuit is probed within one interval of its cool-down's end)."""
        while True:
            self.core.due.clear()
            try:
                done = await self.deliver_due()
            except Exception as exc:
                log.error("loop_step_failed", loop="delivery", error=type(exc).__name__)
                done = 0
            if done:
                continue
            wait = min([poll_seconds, *self._waiting_for_turn])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.core.due.wait(), max(0.001, wait))


def _named(
    channel: str, partner: Partner | Mapping[str, Partner] | None, settings: DispatcherSettings
) -> list[tuple[str, Partner]]:
    """A channel's partners by name: the providers given by name, or the one partner named
    after the channel's single provider (sms) or the relay (email)."""
    if partner is None:
        return []
    if isinstance(partner, Mapping):
        return list(partner.items())
    return [(next(iter(settings.sms_providers)) if channel == "sms" else "smtp", partner)]
