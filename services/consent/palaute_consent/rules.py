"""The survey rules: may this contact be surveyed, on which channel, to which address.

Pure domain logic: no I/O, so every rule is provable with plain unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from palaute_schemas import (
    Channel,
    ContactClosed,
    SuppressionReason,
    SurveyRequested,
    SurveySuppressed,
    is_mobile_number,
)


@dataclass(frozen=True)
class Survey:
    """Send one invitation on this channel to this address."""

    channel: Channel
    address: str


@dataclass(frozen=True)
class Suppress:
    """Send nothing, for this reason."""

    reason: SuppressionReason


def decide(contact: ContactClosed, *, opted_out: bool) -> Survey | Suppress:
    """Opt-out wins; then a valid mobile number means SMS, an email address means email."""
    if opted_out:
        return Suppress("opted_out")
    if contact.phone is not None and is_mobile_number(contact.phone):
        return Survey("sms", contact.phone)
    if contact.email is not None:
        return Survey("email", contact.email)
    return Suppress("no_channel")


def outcome_message(
    contact: ContactClosed, decision: Survey | Suppress
) -> SurveyRequested | SurveySuppressed:
    """The message that announces a decision; an anonymous survey carries no customer id."""
    if isinstance(decision, Suppress):
        return SurveySuppressed(contact_id=contact.contact_id, reason=decision.reason)
    return SurveyRequested(
        contact_id=contact.contact_id,
        customer_id=None if contact.anonymous else contact.customer_id,
        channel=decision.channel,
        address=decision.address,
        language=contact.language,
        contact_channel=contact.contact_channel,
        unit=contact.unit,
        contact_day=contact.closed_at.date(),
        anonymous=contact.anonymous,
    )
