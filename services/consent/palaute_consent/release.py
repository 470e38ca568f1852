"""When a survey is released: not before the delay after its contact closed, inside the
recipient's send window (the rules every service shares, palaute_schemas.send_window), and
never when the contact has gone stale by then. Pure domain logic, provable with property
tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from palaute_schemas.send_window import Recipient, SendWindowRules, next_window


@dataclass(frozen=True)
class ReleaseRules:
    """Everything that decides a release time, from the service's settings."""

    delay: timedelta
    max_age: timedelta
    sending: SendWindowRules


def first_release(
    closed_at: datetime, now: datetime, recipient: Recipient, rules: ReleaseRules
) -> datetime:
    """The earliest instant, not before `closed_at + delay` nor `now`, inside the recipient's
    send window and not on a public holiday of their country; UTC."""
    earliest = max(closed_at + rules.delay, now)
    opens, _closes = next_window(earliest, recipient, rules.sending)
    return max(opens, earliest).astimezone(UTC)


def is_stale(closed_at: datetime, release_at: datetime, rules: ReleaseRules) -> bool:
    """A contact older than the maximum age when it could first be released is not surveyed."""
    return release_at - closed_at > rules.max_age
