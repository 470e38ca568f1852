"""The release loop: each plan is decided again when its time comes, against the register
and the frequency cap as they are then, and only then is the dispatcher asked for an
invitation; reminders are asked for in the same way when theirs is due."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_consent.bounces import BouncedAddresses
from palaute_consent.core import Core
from palaute_consent.plans import Plans, Released
from palaute_consent.register import Identifier, identifiers, serialize_with_opt_outs
from palaute_runtime.database import Row
from palaute_runtime.keys import Keyring
from palaute_runtime.metrics import DECISIONS
from palaute_runtime.programmes import Programme
from palaute_runtime.unit_of_work import uow
from palaute_schemas import (
    SURVEY_REMINDER_DUE,
    SURVEY_REQUESTED,
    SURVEY_SUPPRESSED,
    SurveyReminderDue,
    SurveyRequested,
    SurveySuppressed,
)
from palaute_schemas.send_window import NoSendWindow, next_window, recipient_of

log = structlog.get_logger("palaute.consent")

RELEASE_BATCH = 500
RELEASE_POLL_SECONDS = 30.0  # the longest the release loop sleeps without being woken


class Releasing:
    """Releases due plans and asks for due reminders."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._next_purge = core.clock.now()

    async def release_due(self, limit: int = RELEASE_BATCH) -> int:
        """Decide again every plan whose time has come, and release or suppress it.

        Replicas skip each other's plans (SKIP LOCKED); a plan is deleted in the transaction
        that releases it, so it is never released twice.
        """
        now = self.core.clock.now()
        async with uow(self.core.engine, self.core.outbox) as work:
            released_now = await self.release(work.connection, now, limit)
        return released_now

    async def release(self, connection: AsyncConnection, now: datetime, limit: int) -> int:
        """Release or suppress up to `limit` due plans in the caller's transaction."""
        core = self.core
        await serialize_with_opt_outs(connection, opting_out=False)
        repository = Plans(connection)
        due = await repository.claim_due(now, limit)
        if not due:
            return 0
        keys = [key for row in due for key in identifiers(row.customer_id, row.phone, row.email)]
        listed = await core.register(connection).listed(keys)
        # Each programme caps its own: look as far back as the longest cap among these plans.
        longest = max(core.programme(row.unit).frequency_cap_days for row in due)
        last_released = (
            await repository.last_released(keys, now - timedelta(days=longest)) if longest else {}
        )
        bounced = await BouncedAddresses(
            connection, Keyring.parse(core.settings.register_audit_key)
        ).suppressed((row.email for row in due if row.channel == "email"), now)
        requested, suppressed, outcomes, remembered = self._decide(
            due, listed, last_released, bounced, now
        )
        await repository.set_outcomes(outcomes, now)
        await repository.remember_released(remembered)
        if now >= self._next_purge:  # forgetting old releases is housekeeping: once a minute
            self._next_purge = now + timedelta(minutes=1)
            await repository.forget_released(now - core.settings.remember_released)
        await core.outbox.add_all(connection, SURVEY_REQUESTED, requested)
        await core.outbox.add_all(connection, SURVEY_SUPPRESSED, suppressed)
        log.info(
            "plans_released", due=len(due), requested=len(requested), suppressed=len(suppressed)
        )
        for request in requested:
            DECISIONS.labels(outcome="requested", reason=request.channel).inc()
        count_suppressed(suppressed)
        return len(due)

    def _decide(
        self,
        due: Sequence[Row],
        listed: set[Identifier],
        last_released: dict[Identifier, datetime],
        bounced: set[str],
        now: datetime,
    ) -> tuple[list[SurveyRequested], list[SurveySuppressed], dict[str, str], list[Released]]:
        """What becomes of each claimed plan: released, or suppressed (opted out since, its
        email address bounced since, or capped by a survey released to the same person
        within its programme's cap, in this batch too)."""
        requested: list[SurveyRequested] = []
        suppressed: list[SurveySuppressed] = []
        outcomes: dict[str, str] = {}
        remembered: list[Released] = []
        for row in due:
            own = identifiers(row.customer_id, row.phone, row.email)
            programme = self.core.programme(row.unit)
            cap = timedelta(days=programme.frequency_cap_days)
            if any(key in listed for key in own):
                suppressed.append(SurveySuppressed(contact_id=row.contact_id, reason="opted_out"))
                outcomes[row.contact_id] = "opted_out"
            elif row.channel == "email" and row.email in bounced:
                suppressed.append(
                    SurveySuppressed(contact_id=row.contact_id, reason="undeliverable_address")
                )
                outcomes[row.contact_id] = "undeliverable_address"
            elif cap and any(now - last_released.get(key, now - cap) < cap for key in own):
                suppressed.append(
                    SurveySuppressed(contact_id=row.contact_id, reason="frequency_cap")
                )
                outcomes[row.contact_id] = "frequency_cap"
            else:
                last_released.update(dict.fromkeys(own, now))  # the next plan of the person
                requested.append(request_of(row, programme.name))
                outcomes[row.contact_id] = row.channel
                remembered.append(
                    Released(
                        contact_id=row.contact_id,
                        customer_id=row.customer_id,
                        phone=row.phone,
                        email=row.email,
                        released_at=now,
                        channel=row.channel,
                        unit=row.unit,
                        remind_at=self._reminder_time(row, programme, now),
                    )
                )
        return requested, suppressed, outcomes, remembered

    def _reminder_time(
        self, row: Row, programme: Programme, released_at: datetime
    ) -> datetime | None:
        """When a survey released now gets its reminder: its programme's reminder delay
        later, at the first moment inside the recipient's send window; None when the
        programme sends none."""
        if not programme.reminder_after_days:
            return None
        earliest = released_at + timedelta(days=programme.reminder_after_days)
        sending = self.core.rules[programme.name].sending
        recipient = recipient_of(row.phone if row.channel == "sms" else None, row.unit, sending)
        try:
            opens, _closes = next_window(earliest, recipient, sending)
        except NoSendWindow:
            return None
        return max(opens, earliest)

    async def remind_due(self, limit: int = RELEASE_BATCH) -> int:
        """Ask the dispatcher for each due reminder that may go now: not opted out since,
        and inside the recipient's send window (one whose window has closed meanwhile waits
        for the next). Replicas skip each other's rows; a reminder is asked for once."""
        core = self.core
        now = core.clock.now()
        async with uow(core.engine, core.outbox) as work:
            connection = work.connection
            await serialize_with_opt_outs(connection, opting_out=False)
            repository = Plans(connection)
            rows = await repository.claim_reminders_due(now, limit)
            if not rows:
                return 0
            listed = await core.register(connection).listed(
                key for row in rows for key in identifiers(row.customer_id, row.phone, row.email)
            )
            due: list[SurveyReminderDue] = []
            later: dict[str, datetime] = {}
            for row in rows:
                if any(key in listed for key in identifiers(row.customer_id, row.phone, row.email)):
                    continue
                sending = core.rules_of(row.unit or "").sending
                phone = row.phone if row.channel == "sms" else None
                recipient = recipient_of(phone, row.unit or "", sending)
                try:
                    opens, closes = next_window(now, recipient, sending)
                except NoSendWindow:
                    continue
                if opens > now:  # the window closed while it waited (an outage): the next one
                    later[row.contact_id] = opens
                else:
                    due.append(SurveyReminderDue(contact_id=row.contact_id, send_by=closes))
            await repository.remind_later(later)
            await core.outbox.add_all(connection, SURVEY_REMINDER_DUE, due)
        log.info(
            "reminders_due",
            claimed=len(rows),
            asked=len(due),
            waiting_for_window=len(later),
            dropped=len(rows) - len(due) - len(later),
        )
        return len(rows)

    async def next_release_at(self) -> datetime | None:
        """When the earliest waiting plan or reminder is due."""
        async with self.core.engine.connect() as connection:
            return await Plans(connection).next_due()

    async def run_release(self) -> None:
        """Release due plans and reminders until cancelled: wakes at the next due time, on
        a new plan, or every RELEASE_POLL_SECONDS (another replica may have planned)."""
        planned = self.core.planned
        while True:
            planned.clear()
            try:
                if await self.release_due() or await self.remind_due():
                    continue
                next_at = await self.next_release_at()
            except Exception as exc:
                log.error("loop_step_failed", loop="release", error=type(exc).__name__)
                next_at = None
            wait = RELEASE_POLL_SECONDS
            if next_at is not None:
                wait = min(wait, max(0.0, (next_at - self.core.clock.now()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(planned.wait(), wait)


def count_suppressed(suppressed: Sequence[SurveySuppressed]) -> None:
    for event in suppressed:
        DECISIONS.labels(outcome="suppressed", reason=event.reason).inc()


def request_of(plan: Row, programme: str) -> SurveyRequested:
    """The dispatcher's request for a released plan; an anonymous one has no customer id."""
    return SurveyRequested(
        programme=programme,
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
