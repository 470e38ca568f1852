"""When a follow-up is due: working days of the unit's country, holidays from `holidays`."""

from __future__ import annotations

from datetime import date

import pytest

from palaute_collector.call_requests import wants_a_call
from palaute_collector.followups import due_date
from palaute_schemas.send_window import parse_unit_countries


def test_three_working_days_skip_the_weekend() -> None:
    assert due_date(date(2026, 11, 26), 3, "FI") == date(2026, 12, 1)  # Thu -> Tue


def test_finnish_christmas_eve_and_christmas_day_are_not_working_days() -> None:
    # Tuesday 22 Dec: Wed 23, (Thu 24 and Fri 25 are holidays, then the weekend), Mon 28, Tue 29.
    assert due_date(date(2026, 12, 22), 3, "FI") == date(2026, 12, 29)


def test_sweden_works_on_christmas_eve_and_finland_does_not() -> None:
    assert due_date(date(2026, 12, 22), 3, "SE") == date(2026, 12, 28)
    assert due_date(date(2026, 12, 22), 3, "FI") == date(2026, 12, 29)


def test_a_request_on_a_holiday_counts_from_the_next_working_day() -> None:
    assert due_date(date(2026, 12, 25), 1, "FI") == date(2026, 12, 28)


@pytest.mark.parametrize(
    ("reply", "wanted"),
    [
        ("3 soita", True),
        ("2 Soittakaa heti", True),
        ("4 ring mig", True),
        ("1 call me", True),
        ("9 kiitos", False),
        ("5 recall", False),
        ("", False),
    ],
)
def test_an_sms_reply_asks_for_a_call_with_a_word_of_its_own(reply: str, wanted: bool) -> None:
    assert wants_a_call(reply) is wanted


def test_unit_countries_are_read_and_a_bad_entry_is_named() -> None:
    assert parse_unit_countries("Malmö=SE, Kotka=fi") == {"Malmö": "SE", "Kotka": "FI"}
    assert parse_unit_countries("") == {}
    with pytest.raises(ValueError, match="'Malmö' is not UNIT=COUNTRY"):
        parse_unit_countries("Malmö")
