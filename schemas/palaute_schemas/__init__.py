"""Palaute message contracts: every message crossing Kafka, with its topic and key."""

from __future__ import annotations

from palaute_schemas.identifiers import (
    EmailAddress,
    Language,
    PhoneNumber,
    is_mobile_number,
    parse_email,
    parse_phone,
    recipient_ref,
    token_hash,
)
from palaute_schemas.messages import (
    AggregatePublished,
    Channel,
    ContactChannel,
    ContactClosed,
    InvitationSent,
    Message,
    OptOutRequested,
    OptOutSource,
    SuppressionReason,
    SurveyRequested,
    SurveySuppressed,
)
from palaute_schemas.topics import (
    AGGREGATE_PUBLISHED,
    ALL_TOPICS,
    CONTACT_CLOSED,
    INVITATION_SENT,
    OPT_OUT_REQUESTED,
    SURVEY_REQUESTED,
    SURVEY_SUPPRESSED,
    Topic,
    dead_letter_topic,
)

__all__ = [
    "AGGREGATE_PUBLISHED",
    "ALL_TOPICS",
    "CONTACT_CLOSED",
    "INVITATION_SENT",
    "OPT_OUT_REQUESTED",
    "SURVEY_REQUESTED",
    "SURVEY_SUPPRESSED",
    "AggregatePublished",
    "Channel",
    "ContactChannel",
    "ContactClosed",
    "EmailAddress",
    "InvitationSent",
    "Language",
    "Message",
    "OptOutRequested",
    "OptOutSource",
    "PhoneNumber",
    "SuppressionReason",
    "SurveyRequested",
    "SurveySuppressed",
    "Topic",
    "dead_letter_topic",
    "is_mobile_number",
    "parse_email",
    "parse_phone",
    "recipient_ref",
    "token_hash",
]
