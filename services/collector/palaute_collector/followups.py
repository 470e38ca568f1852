"""Follow-ups a respondent asked for: when one is due, in working days of the unit's country.

Pure domain logic over dates; the `holidays` package is the calendar (FI, SE and whatever
else it knows), never a hand-made list.
"""

from __future__ import annotations

from datetime import date, timedelta

from palaute_schemas.send_window import is_public_holiday


def is_working_day(day: date, country: str) -> bool:
    """Monday to Friday, and not a public holiday of the country."""
    return day.weekday() < 5 and not is_public_holiday(day, country)


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
