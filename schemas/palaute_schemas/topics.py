"""Topic names, the model each carries and the key each message is published under."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from palaute_schemas.messages import (
    AccessReported,
    AccessRequested,
    AuditAnchored,
    ContactClosed,
    DeliveryStatusChanged,
    EmailBounced,
    ErasureCompleted,
    ErasureRequested,
    FiguresPublished,
    FollowUpClosed,
    FollowUpFigures,
    FollowUpRequested,
    FunnelPublished,
    InvitationAnswered,
    InvitationFailed,
    InvitationSent,
    Message,
    OptOutRequested,
    ReminderSent,
    SurveyReminderDue,
    SurveyRequested,
    SurveySuppressed,
    SurveyWithdrawn,
)

M = TypeVar("M", bound=Message)

# A dead letter waits this long for an operator to look at it and replay or drop it.
DEAD_LETTER_RETENTION_DAYS = 30
# The longest a record with a person's address stays on a topic or its dead letters, unless
# the installation sets PALAUTE_PERSONAL_DATA_RETENTION_DAYS.
PERSONAL_DATA_DAYS = 3


@dataclass(frozen=True)
class Topic(Generic[M]):
    """A Kafka topic, the one model it carries, and how a message picks its key."""

    name: str
    model: type[M]
    key: Callable[[M], str]
    partitions: int = 4
    # How long the broker keeps a record; None with `compacted` keeps the newest per key.
    retention_days: int | None = 7
    compacted: bool = False
    # Carries a person's address (phone or email): kept no longer than the installation's
    # bound for personal data on Kafka (PALAUTE_PERSONAL_DATA_RETENTION_DAYS), its dead
    # letters too.
    addresses: bool = False

    @property
    def dead_letter(self) -> str:
        """The topic that receives this topic's messages that could not be handled."""
        return dead_letter_topic(self.name)

    def broker_config(self, personal_data_days: int = PERSONAL_DATA_DAYS) -> dict[str, str]:
        """The topic configuration to create it with."""
        if self.compacted:
            return {"cleanup.policy": "compact"}
        return {
            "cleanup.policy": "delete",
            "retention.ms": _days_ms(self.kept_days(personal_data_days)),
        }

    def kept_days(self, personal_data_days: int = PERSONAL_DATA_DAYS) -> int:
        """How long the broker keeps a record (a compacted topic: its newest per key, for ever)."""
        days = self.retention_days or 7
        return min(days, personal_data_days) if self.addresses else days

    def dead_letter_config(self, personal_data_days: int = PERSONAL_DATA_DAYS) -> dict[str, str]:
        """Its dead-letter topic's configuration: an operator's month to look, but a topic
        with addresses keeps its dead letters no longer than it keeps the records."""
        days = DEAD_LETTER_RETENTION_DAYS
        if self.addresses:
            days = self.kept_days(personal_data_days)
        return {"cleanup.policy": "delete", "retention.ms": _days_ms(days)}


def _days_ms(days: int) -> str:
    return str(days * 86_400_000)


def dead_letter_topic(name: str) -> str:
    """Name of a topic's dead-letter topic."""
    return f"{name}.dlt"


def _customer_key(message: ContactClosed) -> str:
    return message.customer_id


def _requested_key(message: SurveyRequested) -> str:
    return message.customer_id or message.contact_id


def _suppressed_key(message: SurveySuppressed) -> str:
    return message.contact_id


def _withdrawn_key(message: SurveyWithdrawn) -> str:
    return message.contact_id


def _reminder_key(message: SurveyReminderDue) -> str:
    return message.contact_id


def _answered_key(message: InvitationAnswered) -> str:
    return str(message.invitation_id)


def _invitation_key(message: InvitationSent) -> str:
    return str(message.invitation_id)


def _failed_key(message: InvitationFailed) -> str:
    return str(message.invitation_id)


def _delivery_key(message: DeliveryStatusChanged) -> str:
    return str(message.invitation_id)


def _bounce_key(message: EmailBounced) -> str:
    return message.contact_id


def _follow_up_key(message: FollowUpRequested) -> str:
    return message.customer_id


def _follow_up_closed_key(message: FollowUpClosed) -> str:
    return str(message.follow_up_id)


def _unit_key(message: FollowUpFigures) -> str:
    return message.unit


def _funnel_key(message: FunnelPublished) -> str:
    return message.cell_key


def _opt_out_key(message: OptOutRequested) -> str:
    return message.customer_id or message.phone or message.email or str(message.event_id)


def _request_key(
    message: ErasureRequested | ErasureCompleted | AccessRequested | AccessReported,
) -> str:
    return str(message.request_id)


def _cell_key(message: FiguresPublished) -> str:
    return message.cell_key


def _reminder_sent_key(sent: ReminderSent) -> str:
    return str(sent.invitation_id)


CONTACT_CLOSED = Topic("crm.contact-closed.v1", ContactClosed, _customer_key, addresses=True)
SURVEY_REQUESTED = Topic("survey.requested.v1", SurveyRequested, _requested_key, addresses=True)
SURVEY_SUPPRESSED = Topic("survey.suppressed.v1", SurveySuppressed, _suppressed_key)
SURVEY_WITHDRAWN = Topic("survey.withdrawn.v1", SurveyWithdrawn, _withdrawn_key)
SURVEY_REMINDER_DUE = Topic("survey.reminder-due.v1", SurveyReminderDue, _reminder_key)
INVITATION_ANSWERED = Topic("survey.invitation-answered.v1", InvitationAnswered, _answered_key)
INVITATION_SENT = Topic("survey.invitation-sent.v1", InvitationSent, _invitation_key)
REMINDER_SENT = Topic("survey.reminder-sent.v1", ReminderSent, _reminder_sent_key)
INVITATION_FAILED = Topic("survey.invitation-failed.v1", InvitationFailed, _failed_key)
DELIVERY_STATUS = Topic("survey.delivery-status.v1", DeliveryStatusChanged, _delivery_key)
EMAIL_BOUNCED = Topic("survey.email-bounced.v1", EmailBounced, _bounce_key)
FOLLOW_UP_REQUESTED = Topic(
    "survey.follow-up-requested.v1", FollowUpRequested, _follow_up_key, retention_days=30
)
FOLLOW_UP_CLOSED = Topic("crm.follow-up-closed.v1", FollowUpClosed, _follow_up_closed_key)
FOLLOW_UP_FIGURES = Topic(
    "survey.follow-up-figures.v1", FollowUpFigures, _unit_key, retention_days=None, compacted=True
)
FUNNEL_PUBLISHED = Topic(
    "survey.funnel.v1", FunnelPublished, _funnel_key, retention_days=None, compacted=True
)
OPT_OUT_REQUESTED = Topic(
    "consent.opt-out-requested.v1", OptOutRequested, _opt_out_key, addresses=True
)
# BI keeps the newest figure per cell: compacted, kept for as long as the cell exists.
FIGURES_PUBLISHED = Topic(
    "survey.figures.v1", FiguresPublished, _cell_key, retention_days=None, compacted=True
)

# Privacy requests carry a person's identifiers, access reports their data: kept a day.
ERASURE_REQUESTED = Topic(
    "privacy.erasure-requested.v1", ErasureRequested, _request_key, retention_days=1, addresses=True
)
ERASURE_COMPLETED = Topic(
    "privacy.erasure-completed.v1", ErasureCompleted, _request_key, retention_days=30
)
ACCESS_REQUESTED = Topic(
    "privacy.access-requested.v1", AccessRequested, _request_key, retention_days=1, addresses=True
)
ACCESS_REPORTED = Topic(
    "privacy.access-reported.v1", AccessReported, _request_key, retention_days=1, addresses=True
)


def _anchor_key(anchor: AuditAnchored) -> str:
    return str(anchor.head_id)


# The audit chain's heads, outside consent's database: compacted by head id, so every head
# ever anchored is kept (the chain must still hold each).
AUDIT_ANCHORED = Topic(
    "consent.audit-anchors.v1",
    AuditAnchored,
    _anchor_key,
    partitions=1,
    retention_days=None,
    compacted=True,
)

AnyTopic = (
    Topic[ContactClosed]
    | Topic[SurveyRequested]
    | Topic[SurveySuppressed]
    | Topic[SurveyWithdrawn]
    | Topic[SurveyReminderDue]
    | Topic[InvitationAnswered]
    | Topic[InvitationSent]
    | Topic[InvitationFailed]
    | Topic[DeliveryStatusChanged]
    | Topic[EmailBounced]
    | Topic[FollowUpRequested]
    | Topic[FollowUpClosed]
    | Topic[FollowUpFigures]
    | Topic[FunnelPublished]
    | Topic[OptOutRequested]
    | Topic[FiguresPublished]
    | Topic[ErasureRequested]
    | Topic[ErasureCompleted]
    | Topic[AccessRequested]
    | Topic[AccessReported]
    | Topic[AuditAnchored]
    | Topic[ReminderSent]
)

ALL_TOPICS: tuple[AnyTopic, ...] = (
    CONTACT_CLOSED,
    SURVEY_REQUESTED,
    SURVEY_SUPPRESSED,
    SURVEY_WITHDRAWN,
    SURVEY_REMINDER_DUE,
    INVITATION_ANSWERED,
    INVITATION_SENT,
    INVITATION_FAILED,
    DELIVERY_STATUS,
    FOLLOW_UP_REQUESTED,
    FOLLOW_UP_CLOSED,
    FOLLOW_UP_FIGURES,
    FUNNEL_PUBLISHED,
    OPT_OUT_REQUESTED,
    FIGURES_PUBLISHED,
    ERASURE_REQUESTED,
    ERASURE_COMPLETED,
    ACCESS_REQUESTED,
    ACCESS_REPORTED,
    AUDIT_ANCHORED,
    REMINDER_SENT,
    EMAIL_BOUNCED,
)
