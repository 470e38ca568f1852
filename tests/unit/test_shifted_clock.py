"""`./dev test --at`: the moments it runs at, and that every Python process started with its
environment reads the same moved clock (the services a test starts agree with the test)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, time
from pathlib import Path

import holidays
import pytest

from tests.moments import HELSINKI, next_weekend_holiday_night, parse_moment

SHIFTED_CLOCK = Path(__file__).parents[1] / "shifted_clock"
# Reads the real time (the `date` program is no Python), sleeps as a service's imports would,
# then prints how far its own clock is from the real one.
PROBE = """
import subprocess, time
time.sleep(0.5)
real = float(subprocess.run(["date", "+%s.%N"], capture_output=True, text=True).stdout)
print(time.time() - real)
"""


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (date(2026, 12, 5), date(2026, 12, 6)),  # Independence Day, a Sunday
        (date(2026, 12, 6), date(2026, 12, 26)),  # St Stephen's Day, a Saturday
        (date(2027, 1, 1), date(2027, 3, 28)),  # Easter Sunday
    ],
)
def test_the_holiday_night_is_the_next_finnish_holiday_on_a_weekend(
    after: date, expected: date
) -> None:
    night = next_weekend_holiday_night(after)
    assert night == datetime.combine(expected, time(3, 0), tzinfo=HELSINKI)
    assert night.weekday() >= 5
    assert night.date() in holidays.country_holidays("FI", years=night.year)


def test_a_moment_without_an_offset_is_helsinki_time_and_nonsense_is_refused() -> None:
    assert parse_moment("2026-12-31T23:59:30").utcoffset() == HELSINKI.utcoffset(
        datetime(2026, 12, 31)
    )
    assert parse_moment("2026-06-01 05:00+00:00").hour == 5
    with pytest.raises(ValueError, match="no ISO 8601 moment"):
        parse_moment("at night")


def test_every_process_started_with_the_offset_reads_the_same_moved_clock() -> None:
    env = os.environ | {
        "PALAUTE_TEST_CLOCK_OFFSET": "86400.25",
        "PYTHONPATH": str(SHIFTED_CLOCK),
    }
    seen = [
        float(
            subprocess.run(
                [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(2)
    ]
    # Each is a day and a quarter second ahead of the real time from its start, however long
    # its imports took: a child that started its clock late would be behind by that long.
    assert all(abs(offset - 86400.25) < 0.1 for offset in seen), seen
