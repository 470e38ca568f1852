"""Follow-ups a respondent asked for: when one is due, in working days of the unit's country.

Pure domain logic over dates; the `holidays` package is the calendar (FI, SE and whatever
else it knows), never a hand-made list.
"""

from __future__ import annotations

import functools
import re
from datetime import date, timedelta

import holidays


@functools.lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> frozenset[date]:
    try:
        return frozenset(holidays.country_holidays(country, years=year))
    except NotImplementedError:  # a country the package does not know: no holidays known
        return frozenset()


def is_working_day(day: date, country: str) -> bool:
    """Monday to Friday, and not a public holiday of the country."""
    return day.weekday() < 5 and day not in _holidays(country, day.year)


def due_date(requested_on: date, working_days: int, country: str) -> date:
    """The day `working_days` working days after the request (the request's own day does
    not count; a request on a weekend or holiday counts from the next working day)."""
    if working_days < 1:
        raise ValueError("a follow-up is due at least one working day later")
    day, left = requested_on, working_days
    while left:
        day += timedelta(days=1)
        if is_working_day(day, country):
            left -= 1
    return day


def parse_unit_countries(text: str) -> dict[str, str]:
    """'Malmö=SE, Göteborg=SE' as {unit: country}; ValueError naming a bad entry."""
    countries: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        unit, sep, country = entry.rpartition("=")
        if not sep or not unit.strip() or not re.fullmatch(r"[A-Za-z]{2}", country.strip()):
            raise ValueError(f"{entry!r} is not UNIT=COUNTRY such as Malmö=SE")
        countries[unit.strip()] = country.strip().upper()
    return countries
