"""The collector as one service: its parts by concern, composed, and the operations the
consumers, the web layer and the background loops call.

- invitations.py: what happens to an InvitationSent and to its delivery status;
- answers.py: answers from the survey page and SMS replies, follow-up requests, STOP and
  unsubscribe;
- publishing.py: the figures, the funnel and the follow-up figures;
- privacy.py: erasure and access requests, retention.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_collector.answers import Answers, OpenSurvey, SmsOutcome, TokenState
from palaute_collector.comments import Comments
from palaute_collector.core import Core
from palaute_collector.invitations import Invitations
from palaute_collector.privacy import PrivacyRequests
from palaute_collector.publishing import Publishing
from palaute_collector.settings import CollectorSettings
from palaute_collector.tables import throttle_misses
from palaute_runtime.clock import Clock
from palaute_runtime.throttle import SharedThrottle

__all__ = ["CollectorService", "OpenSurvey", "SmsOutcome", "TokenState"]


class CollectorService:
    """Records invitations and answers, keeps the figures, queues what is published."""

    def __init__(
        self, engine: AsyncEngine, settings: CollectorSettings, clock: Clock | None = None
    ) -> None:
        core = Core(engine, settings, clock or settings.clock())
        self.engine, self.settings, self.clock, self.outbox = (
            engine,
            settings,
            core.clock,
            core.outbox,
        )
        self.publishing = Publishing(core)
        self.answers = Answers(core, self.publishing)
        self.invitations = Invitations(core, self.publishing, self.answers)
        self.privacy = PrivacyRequests(core)
        self.read_comments = Comments(core).read
        # Unknown survey links one client address asks for within a minute, then a 429:
        # 128-bit tokens cannot be guessed, but nobody gets to try at speed, on any replica.
        self.unknown_links = SharedThrottle(
            engine,
            throttle_misses,
            "unknown_links",
            settings.token_guesses_per_minute,
            window_seconds=60.0,
            key=settings.peppers.current,
            clock=core.clock,
        )
        # Consumers
        self.handle_invitations_sent = self.invitations.handle_invitations_sent
        self.handle_reminders_sent = self.invitations.handle_reminders_sent
        self.handle_suppressions = self.invitations.handle_suppressions
        self.handle_delivery_statuses = self.invitations.handle_delivery_statuses
        self.handle_follow_ups_closed = self.publishing.handle_follow_ups_closed
        self.handle_erasure_requests = self.privacy.handle_erasure_requests
        self.handle_access_requests = self.privacy.handle_access_requests
        # The survey page and the partner's webhook
        self.survey_for_token = self.answers.survey_for_token
        self.mark_opened = self.invitations.mark_opened
        self.answer = self.answers.answer
        self.answer_sms = self.answers.answer_sms
        self.unsubscribe = self.answers.unsubscribe
        # Background loops
        self.publish_figures = self.publishing.publish_figures
        self.publish_funnel = self.publishing.publish_funnel
        self.publish_follow_up_figures = self.publishing.publish_follow_up_figures
        self.purge = self.privacy.purge
