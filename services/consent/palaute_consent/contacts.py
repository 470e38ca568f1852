"""What happens to a ContactClosed event: decided at once only when it cannot be surveyed
(opted out, no usable address, stale, a duplicate); otherwise it becomes a plan with a
release time (delay, send window in the recipient's time, public holidays)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import structlog

from palaute_consent.bounces import BouncedAddresses
from palaute_consent.core import Core
from palaute_consent.plans import Decision, PlanRow, Plans
from palaute_consent.register import Identifier, identifiers
from palaute_consent.release import first_release, is_stale
from palaute_consent.releasing import RELEASE_BATCH, Releasing, count_suppressed
from palaute_consent.rules import Reachable, Suppress, choose_channel, reachable
from palaute_consent.tables import inbox
from palaute_runtime.keys import Keyring
from palaute_runtime.metrics import DECISIONS
from palaute_runtime.outbox import Inbox
from palaute_runtime.unit_of_work import uow
from palaute_schemas import SURVEY_SUPPRESSED, ContactClosed, SurveySuppressed
from palaute_schemas.send_window import NoSendWindow, recipient_of

log = structlog.get_logger("palaute.consent")


class Contacts:
    """Plans a release for each closed contact that may be surveyed."""

    def __init__(self, core: Core, releasing: Releasing) -> None:
        self.core = core
        self.releasing = releasing
        self._inbox = Inbox(inbox, "consent.contact-closed", core.clock)

    async def handle_contacts_closed(self, contacts: Sequence[ContactClosed]) -> None:
        """Plan a release for each contact that may be surveyed; suppress the others now.

        One transaction, one register lookup and one insert per table for the whole batch.
        """
        core = self.core
        now = core.clock.now()
        async with uow(core.engine, core.outbox, self._inbox, contacts) as work:
            connection, fresh = work.connection, work.fresh
            repository = Plans(connection)
            decided = await repository.decided_among({c.contact_id for c in fresh})
            suppressed: list[SurveySuppressed] = []
            to_decide: list[ContactClosed] = []
            for contact in fresh:
                if contact.contact_id in decided:  # a contact published twice: once
                    suppressed.append(
                        SurveySuppressed(contact_id=contact.contact_id, reason="duplicate_contact")
                    )
                else:
                    decided.add(contact.contact_id)
                    to_decide.append(contact)
            who = {c.contact_id: reachable(c, core.settings.default_region) for c in to_decide}
            listed = await core.register(connection).listed(
                key
                for c in to_decide
                for key in identifiers(
                    c.customer_id, who[c.contact_id].phone, who[c.contact_id].email
                )
            )
            bounced = await BouncedAddresses(
                connection, Keyring.parse(core.settings.register_audit_key)
            ).suppressed((who[c.contact_id].email for c in to_decide), now)
            new_plans, outcomes = self._decide(to_decide, who, listed, bounced, now, suppressed)
            await repository.decide(outcomes)
            await repository.add(new_plans)
            await core.outbox.add_all(connection, SURVEY_SUPPRESSED, suppressed)
            # Plans already due (no delay, an open window) are released in this transaction:
            # the same decision the release loop would take, one commit sooner.
            if any(plan["release_at"] <= now for plan in new_plans):
                await self.releasing.release(connection, now, RELEASE_BATCH)
        DECISIONS.labels(outcome="planned", reason="").inc(len(new_plans))
        count_suppressed(suppressed)
        if any(plan["release_at"] > now for plan in new_plans):
            core.planned.set()  # the release loop may need to wake sooner
        log.info(
            "contacts_closed_handled",
            contacts=len(contacts),
            redelivered=len(contacts) - len(fresh),
            planned=len(new_plans),
            suppressed=len(suppressed),
        )

    def _decide(
        self,
        contacts: Sequence[ContactClosed],
        who: dict[str, Reachable],
        listed: set[Identifier],
        bounced: set[str],
        now: datetime,
        suppressed: list[SurveySuppressed],
    ) -> tuple[list[PlanRow], list[Decision]]:
        """A plan or a suppression (added to `suppressed`) for each contact, and the
        decision recorded for each."""
        new_plans: list[PlanRow] = []
        outcomes: list[Decision] = []
        for contact in contacts:
            outcome = self._plan(contact, who[contact.contact_id], listed, bounced, now)
            if isinstance(outcome, Suppress):
                suppressed.append(outcome.event(contact, self._contact_day(contact)))
            else:
                new_plans.append(outcome)
            outcomes.append(
                Decision(
                    contact_id=contact.contact_id,
                    customer_id=contact.customer_id,
                    outcome=outcome.reason if isinstance(outcome, Suppress) else "planned",
                    decided_at=now,
                )
            )
        return new_plans, outcomes

    def _contact_day(self, contact: ContactClosed) -> date:
        """The day the contact was closed where its unit serves (the figures' day)."""
        rules = self.core.rules[self.core.programme(contact.unit).name]
        return rules.sending.local_day(contact.closed_at, contact.unit)

    def _plan(
        self,
        contact: ContactClosed,
        reach: Reachable,
        listed: set[Identifier],
        bounced: set[str],
        now: datetime,
    ) -> Suppress | PlanRow:
        """A plan row for one contact, or why it is not surveyed: in its unit's programme,
        with that programme's rules, if it falls in the programme's sample."""
        programme = self.core.programme(contact.unit)
        rules = self.core.rules[programme.name]
        if any(key in listed for key in identifiers(contact.customer_id, reach.phone, reach.email)):
            return Suppress("opted_out")
        choice = choose_channel(reach, undeliverable_email=reach.email in bounced)
        if isinstance(choice, Suppress):
            return choice
        if not programme.sampled(contact.contact_id):
            return Suppress("not_sampled", programme.name, choice.channel)
        phone = reach.phone if choice.channel == "sms" else None
        recipient = recipient_of(phone, contact.unit, rules.sending)
        try:
            release_at = first_release(contact.closed_at, now, recipient, rules)
        except NoSendWindow:
            return Suppress("no_send_window")
        if is_stale(contact.closed_at, release_at, rules):
            return Suppress("stale")
        return PlanRow(
            contact_id=contact.contact_id,
            customer_id=contact.customer_id,
            phone=reach.phone,
            email=reach.email,
            channel=choice.channel,
            address=choice.address,
            # A programme's surveys may be anonymous whatever the event says; an event can
            # only make a survey more anonymous.
            anonymous=contact.anonymous or programme.anonymous,
            language=programme.language_for(contact.language),
            contact_channel=contact.contact_channel,
            unit=contact.unit,
            contact_day=rules.sending.local_day(contact.closed_at, contact.unit),
            closed_at=contact.closed_at,
            release_at=release_at,
        )
