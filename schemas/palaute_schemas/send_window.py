"""When a person may be contacted: the send window in the recipient's local time, never on a
public holiday of their country. One module for consent (when a survey is released, when its
reminder is due) and the dispatcher (when the partner may be handed a message).

Pure domain logic over times and zones (the `holidays` package is a calendar, not I/O), so
every rule is provable with property tests.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

import holidays
import phonenumbers
from phonenumbers import timezone as phone_zones

from palaute_schemas.identifiers import phone_number

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
class SendWindowRules:
    """When anyone may be contacted, from the settings every service shares."""

    window: SendWindow
    skip_public_holidays: bool
    default_zone: ZoneInfo
    default_country: str
    # The country of a unit that is not in the default country (UNIT=COUNTRY settings).
    unit_countries: Mapping[str, str] = field(default_factory=dict)

    def country_of(self, unit: str) -> str:
        """The country a unit serves from."""
        return self.unit_countries.get(unit, self.default_country)

    def local_day(self, moment: datetime, unit: str) -> date:
        """The calendar day `moment` falls on where the unit serves (its country's zone):
        a contact closed at 00:30 in Helsinki is that day's, whatever UTC says."""
        return self.day_in(self.country_of(unit), moment)

    def day_in(self, country: str, moment: datetime) -> date:
        """The calendar day `moment` falls on in a country (its one zone, else the default)."""
        return moment.astimezone(zone_of_country(country, self.default_zone)).date()


@dataclass(frozen=True)
class Recipient:
    """Where the recipient is, as far as we can tell: a time zone and a country."""

    zone: ZoneInfo
    country: str


def recipient_of(phone_e164: str | None, unit: str, rules: SendWindowRules) -> Recipient:
    """The zone and country of a phone number's region; for an email address (which says
    nothing of where its reader is) or a region of several zones, the unit's country and
    its zone."""
    unit_country = rules.country_of(unit)
    if phone_e164 is not None:
        parsed = phone_number(phone_e164)
        zones = [z for z in phone_zones.time_zones_for_number(parsed) if z != "Etc/Unknown"]
        country = phonenumbers.region_code_for_number(parsed) or unit_country
        if len(zones) == 1:
            return Recipient(ZoneInfo(zones[0]), country)
        return Recipient(zone_of_country(country, rules.default_zone), country)
    return Recipient(zone_of_country(unit_country, rules.default_zone), unit_country)


def zone_of_country(country: str, default: ZoneInfo) -> ZoneInfo:
    """The one time zone of a country (the IANA database's zone.tab); `default` for a country
    of several zones or one it does not list."""
    zones = _country_zones().get(country.upper(), ())
    return ZoneInfo(zones[0]) if len(zones) == 1 else default


@functools.cache
def _country_zones() -> dict[str, tuple[str, ...]]:
    """ISO 3166 country code -> its IANA zones, from the tzdata package's zone.tab."""
    table = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text("utf-8")
    zones: dict[str, list[str]] = {}
    for line in table.splitlines():
        if line and not line.startswith("#"):
            country, _coordinates, zone, *_comment = line.split("\t")
            zones.setdefault(country, []).append(zone)
    return {country: tuple(names) for country, names in zones.items()}


def parse_unit_countries(text: str) -> dict[str, str]:
    """'Malmö=SE, Göteborg=SE' as {unit: country}; ValueError naming a bad entry."""
    countries: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        unit, sep, country = entry.rpartition("=")
        if not sep or not unit.strip() or not re.fullmatch(r"[A-Za-z]{2}", country.strip()):
            raise ValueError(f"{entry!r} is not UNIT=COUNTRY such as Malmö=SE")
        countries[unit.strip()] = country.strip().upper()
    return countries


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
    earliest: datetime, recipient: Recipient, rules: SendWindowRules
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


def closed_until(now: datetime, recipient: Recipient, rules: SendWindowRules) -> datetime | None:
    """None while the recipient's window is open at `now`; else when it next opens (UTC).
    Raises NoSendWindow when it never does."""
    opens, _closes = next_window(now, recipient, rules)
    return None if opens <= now else opens


def _wall(midnight: datetime, minutes: int, zone: ZoneInfo) -> datetime:
    """The instant at `minutes` past midnight on the wall clock (24:00 is the next midnight);
    a wall time the clocks skip is taken as the instant the skip ends."""
    moment = (midnight.replace(tzinfo=None) + timedelta(minutes=minutes)).replace(tzinfo=zone)
    # Round-trip through UTC resolves a skipped (spring-forward) wall time forward.
    return moment.astimezone(UTC).astimezone(zone)
