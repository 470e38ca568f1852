"""When a survey may be released: delay, send window in the recipient's time, public holidays.

Pure domain logic over times and zones (the `holidays` package is a calendar, not I/O), so
every rule is provable with property tests.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import phonenumbers
from phonenumbers import timezone as phone_zones

from palaute_schemas import phone_number

_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
DAYS_AHEAD = 400  # how far ahead a window is looked for before the settings are called empty


@dataclass(frozen=True)
class DailyWindow:
    """Sending hours of one day, in the recipient's local wall time: [start, end) minutes."""

    start_minute: int
    end_minute: int

    @classmethod
    def parse(cls, text: str) -> DailyWindow | None:
        """'09:00-20:00' (24:00 ends at midnight); '' means no sending that day."""
        if not text.strip():
            return None
        match = _SPAN.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not a window like 09:00-20:00")
        start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
        start, end = start_h * 60 + start_m, end_h * 60 + end_m
        if start_m > 59 or end_m > 59 or not 0 <= start < end <= 24 * 60:
            raise ValueError(f"{text!r} is not a window within one day, start before end")
        return cls(start, end)


@dataclass(frozen=True)
class SendWindow:
    """Sending hours by weekday: Monday to Friday share one window, Saturday and Sunday own."""

    weekdays: DailyWindow | None
    saturday: DailyWindow | None
    sunday: DailyWindow | None

    def on(self, day: date) -> DailyWindow | None:
        """The window of one calendar day."""
        weekday = day.weekday()
        if weekday < 5:
            return self.weekdays
        return self.saturday if weekday == 5 else self.sunday


@dataclass(frozen=True)
class ReleaseRules:
    """Everything that decides a release time, from the service's settings."""

    delay: timedelta
    window: SendWindow
    skip_public_holidays: bool
    max_age: timedelta
    default_zone: ZoneInfo
    default_country: str


@dataclass(frozen=True)
class Recipient:
    """Where the recipient is, as far as their number tells: a time zone and a country."""

    zone: ZoneInfo
    country: str


def recipient_of(phone_e164: str | None, rules: ReleaseRules) -> Recipient:
    """The zone and country of a phone number's region; the defaults for email or unknown."""
    if phone_e164 is None:
        return Recipient(rules.default_zone, rules.default_country)
    parsed = phone_number(phone_e164)
    zones = [z for z in phone_zones.time_zones_for_number(parsed) if z != "Etc/Unknown"]
    country = phonenumbers.region_code_for_number(parsed) or rules.default_country
    zone = ZoneInfo(zones[0]) if len(zones) == 1 else rules.default_zone
    return Recipient(zone, country)


@functools.lru_cache(maxsize=256)
def _holidays(country: str, year: int) -> frozenset[date]:
    try:
        calendar = holidays.country_holidays(country, years=year)
    except NotImplementedError:  # a country the package does not know: no holidays known
        return frozenset()
    return frozenset(calendar)


def is_public_holiday(day: date, country: str) -> bool:
    """True on a public holiday of the country (as the `holidays` package knows them)."""
    return day in _holidays(country, day.year)


class NoSendWindow(ValueError):
    """The settings leave no time to send within the look-ahead."""


def next_window(
    earliest: datetime, recipient: Recipient, rules: ReleaseRules
) -> tuple[datetime, datetime]:
    """The first send window, in UTC, that is still open at or after `earliest`: (opens,
    closes); `opens` may lie before `earliest` when the window is open then."""
    local = earliest.astimezone(recipient.zone)
    for offset in range(DAYS_AHEAD):
        day = local.date() + timedelta(days=offset)
        window = rules.window.on(day)
        if window is None:
            continue
        if rules.skip_public_holidays and is_public_holiday(day, recipient.country):
            continue
        midnight = datetime(day.year, day.month, day.day, tzinfo=recipient.zone)
        # Wall-clock arithmetic: 09:00 stays 09:00 on the days the clocks change.
        opens = _wall(midnight, window.start_minute, recipient.zone)
        closes = _wall(midnight, window.end_minute, recipient.zone)
        if local < closes:
            return opens.astimezone(UTC), closes.astimezone(UTC)
    raise NoSendWindow("the send window never opens")


def first_release(
    closed_at: datetime, now: datetime, recipient: Recipient, rules: ReleaseRules
) -> datetime:
    """The earliest instant, not before `closed_at + delay` nor `now`, inside the recipient's
    send window and not on a public holiday of their country; UTC."""
    earliest = max(closed_at + rules.delay, now)
    opens, _closes = next_window(earliest, recipient, rules)
    return max(opens, earliest).astimezone(UTC)


def _wall(midnight: datetime, minutes: int, zone: ZoneInfo) -> datetime:
    """The instant at `minutes` past midnight on the wall clock (24:00 is the next midnight);
    a wall time the clocks skip is taken as the instant the skip ends."""
    moment = (midnight.replace(tzinfo=None) + timedelta(minutes=minutes)).replace(tzinfo=zone)
    # Round-trip through UTC resolves a skipped (spring-forward) wall time forward.
    return moment.astimezone(UTC).astimezone(zone)


def is_stale(closed_at: datetime, release_at: datetime, rules: ReleaseRules) -> bool:
    """A contact older than the maximum age when it could first be released is not surveyed."""
    return release_at - closed_at > rules.max_age
