"""The survey rules: may this contact be surveyed, on which channel, to which address.

Pure domain logic: no I/O, so every rule is provable with plain unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from palaute_schemas import (
    Channel,
    ContactClosed,
    SuppressionReason,
    SurveySuppressed,
    is_mobile_number,
    parse_email,
    parse_phone,
)


@dataclass(frozen=True)
class Survey:
    """Send one invitation on this channel to this address."""

    channel: Channel
    address: str


@dataclass(frozen=True)
class Suppress:
    """Send nothing, for this reason (a contact left out of its programme's sample names
    the programme and the channel it would have had, for the funnel)."""

    reason: SuppressionReason
    programme: str | None = None
    channel: Channel | None = None

    def event(self, contact: ContactClosed, contact_day: date) -> SurveySuppressed:
        """The suppression as published (`contact_day`: the day it was closed, locally)."""
        if self.programme is None:
            return SurveySuppressed(contact_id=contact.contact_id, reason=self.reason)
        return SurveySuppressed(
            contact_id=contact.contact_id,
            reason=self.reason,
            programme=self.programme,
            channel=self.channel,
            contact_day=contact_day,
        )


@dataclass(frozen=True)
class Reachable:
    """A contact's identifiers as consent reads them: usable ones normalized, others None."""

    phone: str | None  # E.164
    email: str | None  # normalized
    phone_unusable: bool
    email_unusable: bool


def reachable(contact: ContactClosed, default_region: str) -> Reachable:
    """Validate the CRM's phone and email; an unusable one is noted, never an error."""
    phone = email = None
    phone_unusable = email_unusable = False
    if contact.phone:
        try:
            phone = parse_phone(contact.phone, default_region)
        except ValueError:
            phone_unusable = True
    if contact.email:
        try:
            email = parse_email(contact.email)
        except ValueError:
            email_unusable = True
    return Reachable(phone, email, phone_unusable, email_unusable)


def choose_channel(who: Reachable, *, undeliverable_email: bool = False) -> Survey | Suppress:
    """A mobile number means SMS, else an email address means email (unless the mail system
    bounced it: on the suppression list), else the reason why not."""
    if who.phone is not None and is_mobile_number(who.phone):
        return Survey("sms", who.phone)
    if who.email is not None:
        return (
            Suppress("undeliverable_address") if undeliverable_email else Survey("email", who.email)
        )
    if who.phone_unusable:
        return Suppress("invalid_phone")
    if who.email_unusable:
        return Suppress("invalid_email")
    return Suppress("no_channel")
