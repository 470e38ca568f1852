"""The dispatcher as one service: its parts by concern, composed, and the operations the
consumers, the web layer and the background loops call.

- requests.py: SurveyRequested, SurveyWithdrawn, SurveyReminderDue, InvitationAnswered;
- delivery.py: claiming due invitations, the partner call, recording its outcome;
- receipts.py: the partner's delivery receipts; bounces.py: the bounce mailbox's DSNs;
- privacy.py and deletions.py: erasure (the partner's deletion as a job), access, retention.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_dispatcher.bounces import BounceMailbox, Bounces, Verp
from palaute_dispatcher.core import Core
from palaute_dispatcher.deletions import PartnerDeletions
from palaute_dispatcher.delivery import Attempt, Delivery
from palaute_dispatcher.missing_reports import MissingReports, StatusSource
from palaute_dispatcher.partner import DataProcessor, Partner
from palaute_dispatcher.privacy import PrivacyRequests
from palaute_dispatcher.processors import Processors
from palaute_dispatcher.receipts import Receipts
from palaute_dispatcher.requests import InvitationRequests
from palaute_dispatcher.settings import DispatcherSettings
from palaute_runtime.clock import Clock
from palaute_runtime.health import Health
from palaute_runtime.keys import Keyring

__all__ = ["Attempt", "DispatcherService"]


class DispatcherService:
    """Records requested invitations and delivers them through the partner."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: DispatcherSettings,
        partners: Mapping[str, Partner | Mapping[str, Partner]],
        health: Health | None = None,
        processor: DataProcessor | Processors | None = None,
        clock: Clock | None = None,
        bounce_mailbox: BounceMailbox | None = None,
        report_source: StatusSource | None = None,
    ) -> None:
        core = Core(engine, settings, clock or settings.clock())
        self.engine, self.settings, self.clock, self.outbox = (
            engine,
            settings,
            core.clock,
            core.outbox,
        )
        self.partners = partners
        # Nobody to ask: the erasure still says who was not asked, and why.
        not_asked = processor if isinstance(processor, Processors) else None
        # The processors' deletion APIs, when there are any: worked off after commit.
        asks = not isinstance(processor, Processors) or bool(processor.asked)
        self.deletions = (
            PartnerDeletions(engine, core.outbox, processor, settings, core.clock)
            if processor is not None and asks
            else None
        )
        self.requests = InvitationRequests(core)
        self.delivery = Delivery(core, partners, self.deletions, health)
        self.receipts = Receipts(core)
        # The provider asked for the delivery reports it did not send, when it can be.
        self.missing_reports = (
            MissingReports(core, report_source, self.receipts) if report_source else None
        )
        # The bounce mailbox, when one is read.
        self.bounces = (
            Bounces(
                core,
                Verp(settings.bounce_address, Keyring.parse(settings.bounce_secret)),
                bounce_mailbox,
            )
            if bounce_mailbox is not None
            else None
        )
        self.privacy = PrivacyRequests(core, self.deletions, not_asked)
        # Consumers
        self.handle_survey_requests = self.requests.handle_survey_requests
        self.handle_withdrawals = self.requests.handle_withdrawals
        self.handle_reminders_due = self.requests.handle_reminders_due
        self.handle_answered = self.requests.handle_answered
        self.handle_erasure_requests = self.privacy.handle_erasure_requests
        self.handle_access_requests = self.privacy.handle_access_requests
        # The partner's webhook
        self.record_receipt = self.receipts.record_receipt
        # Background loops
        self.deliver_due = self.delivery.deliver_due
        self.run_delivery = self.delivery.run_delivery
        self.purge = self.privacy.purge
