"""Topic names, the model each carries and the key each message is published under."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from palaute_schemas.messages import (
    AggregatePublished,
    ContactClosed,
    InvitationSent,
    Message,
    OptOutRequested,
    SurveyRequested,
    SurveySuppressed,
    SurveyWithdrawn,
)

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Topic(Generic[M]):
    """A Kafka topic, the one model it carries, and how a message picks its key."""

    name: str
    model: type[M]
    key: Callable[[M], str]
    partitions: int = 4

    @property
    def dead_letter(self) -> str:
        """The topic that receives this topic's messages that could not be handled."""
        return dead_letter_topic(self.name)


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


def _invitation_key(message: InvitationSent) -> str:
    return str(message.invitation_id)


def _opt_out_key(message: OptOutRequested) -> str:
    return message.customer_id or message.phone or message.email or str(message.event_id)


def _cell_key(message: AggregatePublished) -> str:
    return message.cell_key


CONTACT_CLOSED = Topic("crm.contact-closed.v1", ContactClosed, _customer_key)
SURVEY_REQUESTED = Topic("survey.requested.v1", SurveyRequested, _requested_key)
SURVEY_SUPPRESSED = Topic("survey.suppressed.v1", SurveySuppressed, _suppressed_key)
SURVEY_WITHDRAWN = Topic("survey.withdrawn.v1", SurveyWithdrawn, _withdrawn_key)
INVITATION_SENT = Topic("survey.invitation-sent.v1", InvitationSent, _invitation_key)
OPT_OUT_REQUESTED = Topic("consent.opt-out-requested.v1", OptOutRequested, _opt_out_key)
AGGREGATE_PUBLISHED = Topic("survey.aggregate.v1", AggregatePublished, _cell_key)

AnyTopic = (
    Topic[ContactClosed]
    | Topic[SurveyRequested]
    | Topic[SurveySuppressed]
    | Topic[SurveyWithdrawn]
    | Topic[InvitationSent]
    | Topic[OptOutRequested]
    | Topic[AggregatePublished]
)

ALL_TOPICS: tuple[AnyTopic, ...] = (
    CONTACT_CLOSED,
    SURVEY_REQUESTED,
    SURVEY_SUPPRESSED,
    SURVEY_WITHDRAWN,
    INVITATION_SENT,
    OPT_OUT_REQUESTED,
    AGGREGATE_PUBLISHED,
)
