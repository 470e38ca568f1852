"""What the dispatcher is asked to do: a SurveyRequested becomes a pending invitation, a
SurveyWithdrawn stops one not yet handed to the partner, a SurveyReminderDue becomes one
pending reminder, an InvitationAnswered cancels a waiting reminder."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import structlog

from palaute_dispatcher.core import Core
from palaute_dispatcher.repository import Invitations
from palaute_dispatcher.tables import inbox
from palaute_runtime.database import as_utc
from palaute_runtime.metrics import INVITATIONS
from palaute_runtime.outbox import Inbox
from palaute_runtime.unit_of_work import uow
from palaute_schemas import InvitationAnswered, SurveyReminderDue, SurveyRequested, SurveyWithdrawn

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
    "programme",
}
# A reminder goes only while its survey stays open at least this long after it.
REMINDER_LEAST_OPEN = timedelta(days=1)


class InvitationRequests:
    """Records what consent and the collector ask of the dispatcher."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._inbox = Inbox(inbox, "dispatcher.survey-requested", core.clock)
        self._withdrawals_inbox = Inbox(inbox, "dispatcher.survey-withdrawn", core.clock)
        self._reminders_inbox = Inbox(inbox, "dispatcher.reminder-due", core.clock)
        self._answered_inbox = Inbox(inbox, "dispatcher.invitation-answered", core.clock)

    async def handle_survey_requests(self, requests: Sequence[SurveyRequested]) -> None:
        """Record one pending invitation per request (a redelivered request adds nothing; a
        request consent already withdrew is recorded as withdrawn)."""
        now = self.core.clock.now()
        expires_at = now + timedelta(days=self.core.settings.invitation_valid_days)
        send_by = min(expires_at, now + timedelta(hours=self.core.settings.max_send_delay_hours))
        async with uow(self.core.engine, self.core.outbox, self._inbox, requests) as work:
            connection, fresh = work.connection, work.fresh
            repository = Invitations(connection)
            withdrawn = await repository.withdrawn_among({r.contact_id for r in fresh})
            await repository.add(
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
                ]
            )
        if fresh:
            self.core.due.set()
        log.info("invitations_pending", requests=len(requests), new=len(fresh))

    async def handle_withdrawals(self, batch: Sequence[SurveyWithdrawn]) -> None:
        """Consent took surveys back: an invitation not handed to the partner yet never is."""
        now = self.core.clock.now()
        async with uow(self.core.engine, self.core.outbox, self._withdrawals_inbox, batch) as work:
            connection, fresh = work.connection, work.fresh
            if not fresh:
                return
            stopped = await Invitations(connection).withdraw(
                [
                    {"contact_id": w.contact_id, "reason": w.reason, "withdrawn_at": now}
                    for w in fresh
                ]
            )
        INVITATIONS.labels(channel="any", status="withdrawn").inc(stopped)
        log.info("invitations_withdrawn", withdrawals=len(fresh), stopped=stopped)

    async def handle_reminders_due(self, batch: Sequence[SurveyReminderDue]) -> None:
        """Consent says a survey's reminder may go now (inside the send window): one pending
        reminder for an invitation that was sent, not answered, not withdrawn, not reported
        undelivered, and whose survey stays open a day longer; any other is let be."""
        now = self.core.clock.now()
        async with uow(self.core.engine, self.core.outbox, self._reminders_inbox, batch) as work:
            connection, fresh = work.connection, work.fresh
            if not fresh:
                return
            due = {reminder.contact_id: reminder for reminder in fresh}
            originals = await Invitations(connection).to_remind(due, now + REMINDER_LEAST_OPEN)
            rows = [
                {
                    "id": uuid.uuid4(),
                    "request_event_id": due[original.contact_id].event_id,
                    **{name: getattr(original, name) for name in _COPIED_FROM_REQUEST},
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "token_hashes": [],  # its link gets a token of its own when claimed
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
            await Invitations(connection).add(rows, ignore_known=True)
        if rows:
            self.core.due.set()
        log.info("reminders_pending", due=len(fresh), new=len(rows), let_be=len(fresh) - len(rows))

    async def handle_answered(self, batch: Sequence[InvitationAnswered]) -> None:
        """The collector says these invitations were answered: none is reminded, and a
        reminder waiting for its turn is cancelled."""
        async with uow(self.core.engine, self.core.outbox, self._answered_inbox, batch) as work:
            connection, fresh = work.connection, work.fresh
            if not fresh:
                return
            cancelled = await Invitations(connection).answered(
                {answered.invitation_id for answered in fresh}
            )
        log.info("invitations_answered", answered=len(fresh), reminders_cancelled=cancelled)
