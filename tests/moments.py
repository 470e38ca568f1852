"""The moments `./dev test --at` runs the suite at: parse one, or find the next night that
catches a test which only holds in office hours.

    python -m tests.moments offset MOMENT    seconds from now to MOMENT (what --at exports)
    python -m tests.moments holiday-night    03:00 Helsinki time on the next Finnish public
                                             holiday that falls on a Saturday or a Sunday

A MOMENT is an ISO 8601 date and time; without a UTC offset it is Helsinki time.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import holidays

HELSINKI = ZoneInfo("Europe/Helsinki")


def parse_moment(text: str) -> datetime:
    """An ISO 8601 moment, Helsinki time where it names no offset."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is no ISO 8601 moment (for example 2026-12-31T23:59:30+02:00)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=HELSINKI)


def next_weekend_holiday_night(after: date) -> datetime:
    """03:00 Helsinki time on the first Finnish public holiday after `after` that falls on a
    Saturday or a Sunday (every year has some: Easter Sunday, Midsummer Day, All Saints' Day)."""
    finnish = holidays.country_holidays("FI", years=range(after.year, after.year + 2))
    day = min(d for d in finnish if d > after and d.weekday() >= 5)
    return datetime.combine(day, time(3, 0), tzinfo=HELSINKI)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.moments", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    offset = commands.add_parser("offset", help="seconds from now to MOMENT")
    offset.add_argument("moment")
    commands.add_parser("holiday-night", help="the next weekend public holiday's night")
    arguments = parser.parse_args(argv)
    now = datetime.now(UTC)
    if arguments.command == "offset":
        try:
            moment = parse_moment(arguments.moment)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"{(moment - now).total_seconds():.3f}")
    else:
        print(next_weekend_holiday_night(now.astimezone(HELSINKI).date()).isoformat())
    return 0


if __name__ == "__main__":
    sys.exit(main())
