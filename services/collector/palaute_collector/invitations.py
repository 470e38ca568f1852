"""What happens to an invitation the dispatcher sent: remembered with its token hashes (or the
SMS number's pseudonym) so that it can be answered, and counted in the funnel as the partner
reports its delivery and the page is opened."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_collector.answers import Answers
from palaute_collector.core import Core
from palaute_collector.invitation_store import InvitationStore
from palaute_collector.publishing import Publishing
from palaute_collector.tables import inbox
from palaute_runtime.outbox import Inbox
from palaute_runtime.unit_of_work import uow
from palaute_schemas import DeliveryStatusChanged, InvitationSent, ReminderSent, SurveySuppressed

log = structlog.get_logger("palaute.collector")

# InvitationSent fields the collector keeps as they are.
_COPIED_FROM_INVITATION = {
    "channel",
    "language",
    "contact_channel",
    "unit",
    "contact_day",
    "anonymous",
    "recipient_ref",
    "expires_at",
    "contact_id",
    "programme",
}


class Invitations:
    """Records invitations and what became of them."""

    def __init__(self, core: Core, publishing: Publishing, answers: Answers) -> None:
        self.core = core
        self.publishing = publishing
        self.answers = answers
        self._inbox = Inbox(inbox, "collector.invitation-sent", core.clock)
        self._delivery_inbox = Inbox(inbox, "collector.delivery-status", core.clock)
        self._reminder_inbox = Inbox(inbox, "collector.reminder-sent", core.clock)
        self._suppressed_inbox = Inbox(inbox, "collector.survey-suppressed", core.clock)

    async def handle_invitations_sent(self, batch: Sequence[InvitationSent]) -> None:
        """Remember invitations so that their tokens or SMS replies can be answered."""
        async with uow(self.core.engine, self.core.outbox, self._inbox, batch) as work:
            fresh = await self._not_erased(work.connection, work.fresh)
            if fresh:
                await self._record(work.connection, fresh)
        log.info("invitations_recorded", invitations=len(batch), new=len(fresh))

    async def handle_reminders_sent(self, batch: Sequence[ReminderSent]) -> None:
        """A reminder's link has a token of its own: it answers the invitation reminded of."""
        async with uow(self.core.engine, self.core.outbox, self._reminder_inbox, batch) as work:
            tokens: dict[uuid.UUID, list[str]] = {}
            for sent in work.fresh:
                tokens.setdefault(sent.invitation_id, []).extend(sent.token_hashes)
            added = await InvitationStore(work.connection).add_tokens(tokens)
        log.info("reminder_tokens_recorded", reminders=len(batch), tokens=added)

    async def _record(self, connection: AsyncConnection, fresh: list[InvitationSent]) -> None:
        await InvitationStore(connection).add(
            [
                {
                    "id": sent.invitation_id,
                    "customer_id": None if sent.anonymous else sent.customer_id,
                    "sent_at": sent.occurred_at,
                    **sent.model_dump(include=_COPIED_FROM_INVITATION),
                }
                for sent in fresh
            ],
            [
                {"token_hash": token_hash, "invitation_id": sent.invitation_id}
                for sent in fresh
                for token_hash in sent.token_hashes
            ],
        )
        await self.answers.apply_held_replies(connection, fresh)
        sent = Counter((one.contact_day, one.channel, one.programme) for one in fresh)
        for cell, count in sent.items():
            await self.publishing.count_in_funnel(connection, cell, sent=count)

    async def _not_erased(
        self, connection: AsyncConnection, batch: Sequence[InvitationSent]
    ) -> list[InvitationSent]:
        """The invitations whose person was not erased while they were on their way."""
        wanted = {
            p: sent
            for sent in batch
            for p in self.core.pseudonyms(
                sent.customer_id, [sent.recipient_ref] if sent.recipient_ref else []
            )
        }
        if not wanted:
            return list(batch)
        erased = await InvitationStore(connection).erased_among(list(wanted))
        dropped = {id(wanted[p]) for p in erased}
        if dropped:
            log.info("invitations_of_erased_people_dropped", count=len(dropped))
        return [sent for sent in batch if id(sent) not in dropped]

    async def handle_delivery_statuses(self, batch: Sequence[DeliveryStatusChanged]) -> None:
        """The partner's receipts, as the dispatcher published them: counted in the funnel."""
        async with uow(self.core.engine, self.core.outbox, self._delivery_inbox, batch) as work:
            outcomes = Counter(
                ((one.contact_day, one.channel, one.programme), one.status == "delivered")
                for one in work.fresh
            )
            for (cell, delivered), count in outcomes.items():
                if delivered:
                    await self.publishing.count_in_funnel(work.connection, cell, delivered=count)
                else:
                    await self.publishing.count_in_funnel(work.connection, cell, undelivered=count)
        log.info("delivery_statuses_counted", statuses=len(batch), new=len(work.fresh))

    async def mark_opened(self, invitation_id: uuid.UUID) -> None:
        """The survey page was shown for an invitation: counted once in the funnel."""
        async with uow(self.core.engine, self.core.outbox) as work:
            row = await InvitationStore(work.connection).opened(invitation_id)
            if row is not None:
                await self.publishing.count_in_funnel(
                    work.connection, (row.contact_day, row.channel, row.programme), opened=1
                )

    async def handle_suppressions(self, batch: Sequence[SurveySuppressed]) -> None:
        """Consent's suppressions: those left out of their programme's sample are counted
        in the funnel (the rest are not surveys of any cell)."""
        async with uow(self.core.engine, self.core.outbox, self._suppressed_inbox, batch) as work:
            left_out = Counter(
                (one.contact_day, one.channel, one.programme or "default")
                for one in work.fresh
                if one.reason == "not_sampled"
                and one.contact_day is not None
                and one.channel is not None
            )
            for cell, count in left_out.items():
                await self.publishing.count_in_funnel(work.connection, cell, not_sampled=count)
        log.info("suppressions_counted", suppressions=len(batch), not_sampled=left_out.total())
