"""Release times: never before the delay, never outside the recipient's send window, never on
a public holiday of their country, and stale contacts are never released."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from palaute_consent.release import ReleaseRules, first_release, is_stale
from palaute_schemas.send_window import (
    DailyWindow,
    NoSendWindow,
    Recipient,
    SendWindow,
    SendWindowRules,
    closed_until,
    is_public_holiday,
    parse_unit_countries,
    recipient_of,
)

HELSINKI = ZoneInfo("Europe/Helsinki")
SENDING = SendWindowRules(
    window=SendWindow(
        DailyWindow.parse("09:00-20:00"), DailyWindow.parse("10:00-18:00"), DailyWindow.parse("")
    ),
    skip_public_holidays=True,
    default_zone=HELSINKI,
    default_country="FI",
    unit_countries={"Malmö": "SE", "Warszawa": "PL", "Tallinn": "EE", "Boston": "US"},
)
REAL = ReleaseRules(delay=timedelta(hours=1), max_age=timedelta(days=7), sending=SENDING)
FINN = Recipient(HELSINKI, "FI")
SWEDE = Recipient(ZoneInfo("Europe/Stockholm"), "SE")

instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)


def local_minutes(moment: datetime, zone: ZoneInfo) -> tuple[date, int]:
    local = moment.astimezone(zone)
    return local.date(), local.hour * 60 + local.minute


@settings(max_examples=300, deadline=None)
@given(
    closed_at=instants,
    lag=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    recipient=st.sampled_from([FINN, SWEDE]),
    delay=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=30)),
)
def test_a_release_is_inside_the_window_never_early_never_on_a_holiday(
    closed_at: datetime, lag: timedelta, recipient: Recipient, delay: timedelta
) -> None:
    rules = ReleaseRules(**{**REAL.__dict__, "delay": delay})
    now = closed_at + lag
    release = first_release(closed_at, now, recipient, rules)
    assert release >= closed_at + delay
    assert release >= now
    day, minute = local_minutes(release, recipient.zone)
    window = SENDING.window.on(day)
    assert window is not None, "never on a closed day (Sunday)"
    assert window.start_minute <= minute < window.end_minute
    assert day not in holidays.country_holidays(recipient.country, years=day.year)


@settings(max_examples=200, deadline=None)
@given(closed_at=instants, recipient=st.sampled_from([FINN, SWEDE]))
def test_the_release_is_the_first_open_minute(closed_at: datetime, recipient: Recipient) -> None:
    release = first_release(closed_at, closed_at, recipient, REAL)
    # A minute earlier is either before the delay or not sendable.
    earlier = release - timedelta(minutes=1)
    if earlier >= closed_at + REAL.delay:
        day, minute = local_minutes(earlier, recipient.zone)
        window = SENDING.window.on(day)
        closed = window is None or not window.start_minute <= minute < window.end_minute
        holiday = day in holidays.country_holidays(recipient.country, years=day.year)
        assert closed or holiday


@settings(max_examples=200, deadline=None)
@given(closed_at=instants, lag=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)))
def test_stale_means_the_first_release_comes_after_the_maximum_age(
    closed_at: datetime, lag: timedelta
) -> None:
    release = first_release(closed_at, closed_at + lag, FINN, REAL)
    assert is_stale(closed_at, release, REAL) == (release - closed_at > REAL.max_age)
    if lag > REAL.max_age:
        assert is_stale(closed_at, release, REAL), "a replayed old contact is never released"


def test_christmas_day_in_finland_waits_for_the_next_working_window() -> None:
    closed = datetime(2026, 12, 24, 15, 0, tzinfo=HELSINKI)  # Christmas Eve, a holiday too
    release = first_release(closed, closed, FINN, REAL).astimezone(HELSINKI)
    # 24, 25 and 26 December are holidays; the 27th is a Sunday: Monday 28th at 09:00.
    assert release == datetime(2026, 12, 28, 9, 0, tzinfo=HELSINKI)


def test_a_contact_at_three_in_the_morning_goes_out_at_nine() -> None:
    closed = datetime(2026, 11, 24, 3, 0, tzinfo=HELSINKI)  # a Tuesday
    release = first_release(closed, closed, FINN, REAL).astimezone(HELSINKI)
    assert release == datetime(2026, 11, 24, 9, 0, tzinfo=HELSINKI)


def test_saturday_evening_waits_for_monday() -> None:
    closed = datetime(2026, 11, 28, 17, 30, tzinfo=HELSINKI)  # Saturday, + 1 h is after 18:00
    release = first_release(closed, closed, FINN, REAL).astimezone(HELSINKI)
    assert release == datetime(2026, 11, 30, 9, 0, tzinfo=HELSINKI)


def test_the_recipients_zone_comes_from_the_number() -> None:
    assert recipient_of("+46701234567", "Kotka", SENDING) == SWEDE
    assert recipient_of("+358401234567", "Malmö", SENDING) == FINN, "the number says where"
    assert recipient_of(None, "Kotka", SENDING) == FINN


@pytest.mark.parametrize(
    ("unit", "recipient"),
    [
        ("Malmö", SWEDE),
        ("Warszawa", Recipient(ZoneInfo("Europe/Warsaw"), "PL")),
        ("Tallinn", Recipient(ZoneInfo("Europe/Tallinn"), "EE")),
        ("Kotka", FINN),  # a unit not listed is in the default country
        ("Boston", Recipient(HELSINKI, "US")),  # a country of many zones: the default zone
    ],
)
def test_an_email_recipient_keeps_the_hours_of_the_units_country(
    unit: str, recipient: Recipient
) -> None:
    assert recipient_of(None, unit, SENDING) == recipient


def test_an_email_for_malmo_goes_at_nine_in_sweden_not_nine_in_finland() -> None:
    closed = datetime(2026, 11, 24, 7, 30, tzinfo=HELSINKI)  # a Tuesday, 06:30 in Malmö
    malmo = recipient_of(None, "Malmö", SENDING)
    release = first_release(closed, closed, malmo, REAL)
    assert release == datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
    assert release.astimezone(HELSINKI).hour == 10


@settings(max_examples=300, deadline=None)
@given(now=instants, recipient=st.sampled_from([FINN, SWEDE]))
def test_closed_until_is_none_exactly_inside_the_window(
    now: datetime, recipient: Recipient
) -> None:
    opens = closed_until(now, recipient, SENDING)
    day, minute = local_minutes(now, recipient.zone)
    window = SENDING.window.on(day)
    holiday = day in holidays.country_holidays(recipient.country, years=day.year)
    inside = window is not None and not holiday
    inside = inside and window is not None and window.start_minute <= minute < window.end_minute
    assert (opens is None) == inside
    if opens is not None:
        assert opens > now
        assert closed_until(opens, recipient, SENDING) is None, "it opens then"


def test_after_twenty_the_next_opening_is_nine_the_next_working_day() -> None:
    thursday_evening = datetime(2026, 12, 10, 20, 55, tzinfo=HELSINKI)
    assert closed_until(thursday_evening, FINN, SENDING) == datetime(
        2026, 12, 11, 9, 0, tzinfo=HELSINKI
    )
    # Independence Day (Sunday 6 December 2026) aside, Saturday opens at ten.
    friday_evening = datetime(2026, 12, 11, 20, 0, tzinfo=HELSINKI)
    assert closed_until(friday_evening, FINN, SENDING) == datetime(
        2026, 12, 12, 10, 0, tzinfo=HELSINKI
    )


def test_no_window_at_all_is_said_not_looped_forever() -> None:
    never = SendWindowRules(**{**SENDING.__dict__, "window": SendWindow(None, None, None)})
    closed_always = ReleaseRules(**{**REAL.__dict__, "sending": never})
    now = datetime(2026, 1, 5, tzinfo=UTC)
    with pytest.raises(NoSendWindow):
        first_release(now, now, FINN, closed_always)


@pytest.mark.parametrize("text", ["9-20", "20:00-09:00", "09:00-25:00", "09:75-10:00"])
def test_a_malformed_window_setting_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="window"):
        DailyWindow.parse(text)


def test_an_all_day_window_ends_at_midnight() -> None:
    window = DailyWindow.parse("00:00-24:00")
    assert window == DailyWindow(0, 24 * 60)


HALF_PAST = SendWindowRules(
    window=SendWindow(DailyWindow.parse("09:30-19:59"), DailyWindow.parse("09:30-19:59"), None),
    skip_public_holidays=True,
    default_zone=HELSINKI,
    default_country="FI",
)


@pytest.mark.parametrize(
    ("local", "opens"),
    [
        # Minutes count: a window from 09:30 is shut at 09:29:59, open at 09:30.
        (datetime(2026, 11, 24, 9, 29, 59), datetime(2026, 11, 24, 9, 30)),
        (datetime(2026, 11, 24, 9, 30), None),
        # An end at :59 ends there: 19:58:59 is inside, 19:59 the next day's 09:30.
        (datetime(2026, 11, 24, 19, 58, 59), None),
        (datetime(2026, 11, 24, 19, 59), datetime(2026, 11, 25, 9, 30)),
    ],
)
def test_a_window_of_any_minute_opens_and_closes_on_that_minute(
    local: datetime, opens: datetime | None
) -> None:
    now = local.replace(tzinfo=HELSINKI)
    expected = None if opens is None else opens.replace(tzinfo=HELSINKI).astimezone(UTC)
    assert closed_until(now, FINN, HALF_PAST) == expected


@pytest.mark.parametrize("text", ["09:00-24:01", "24:00-24:00", "10:00-10:00", "09:00-"])
def test_a_window_past_midnight_or_of_no_length_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="window"):
        DailyWindow.parse(text)


def test_the_numbers_own_zone_matters_and_a_number_of_several_zones_takes_the_default() -> None:
    # A Washington number (the US has several zones; this area code one): New York's hours,
    # whatever the unit's. At 08:30 there it waits until 09:00 there, hours after Helsinki's.
    washington = recipient_of("+12025550123", "Kotka", SENDING)
    new_york = ZoneInfo("America/New_York")
    assert (washington.zone, washington.country) == (new_york, "US")
    at_half_past_eight = datetime(2026, 11, 24, 8, 30, tzinfo=new_york)
    assert closed_until(at_half_past_eight, washington, SENDING) == datetime(
        2026, 11, 24, 9, 0, tzinfo=new_york
    ).astimezone(UTC)
    # A Portuguese mobile may be in Lisbon or the Azores: not one zone, so the default's.
    portugal = recipient_of("+351912345678", "Kotka", SENDING)
    assert (portugal.zone, portugal.country) == (HELSINKI, "PT")


@pytest.mark.parametrize("text", ["09:59-20:00", "09:00-20:59", "00:59-01:00"])
def test_a_window_may_start_or_end_at_any_minute_up_to_59(text: str) -> None:
    window = DailyWindow.parse(text)
    assert window is not None
    start, end = text.split("-")
    assert window.start_minute == int(start[:2]) * 60 + int(start[3:])
    assert window.end_minute == int(end[:2]) * 60 + int(end[3:])


@pytest.mark.parametrize("text", ["09:60-20:00", "09:00-20:60", "09:00-19:60"])
def test_a_minute_of_60_is_refused_wherever_it_stands(text: str) -> None:
    with pytest.raises(ValueError, match="window within one day"):
        DailyWindow.parse(text)


def test_a_contact_day_is_the_local_day_of_the_units_country() -> None:
    """23:30 UTC on Monday is Tuesday in Kotka (UTC+2) and still Monday in Malmö's winter
    (UTC+1) only until 23:00 UTC: each unit's own country decides."""
    rules = SendWindowRules(
        window=SENDING.window,
        skip_public_holidays=True,
        default_zone=HELSINKI,
        default_country="FI",
        unit_countries={"Malmö": "SE"},
    )
    late = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)
    assert rules.local_day(late, "Kotka") == date(2026, 11, 24)
    assert rules.local_day(late, "Malmö") == date(2026, 11, 23)
    assert rules.day_in("SE", late) == date(2026, 11, 23)
    assert rules.day_in("US", late) == date(2026, 11, 24), "several zones: the default's"


@pytest.mark.parametrize("entry", ["Malmö", "=SE", " =SE", "Malmö=SWE", "Malmö=S1"])
def test_each_bad_unit_country_entry_is_refused_alone(entry: str) -> None:
    with pytest.raises(ValueError, match="is not UNIT=COUNTRY"):
        parse_unit_countries(f"Kotka=FI, {entry}")


def test_a_country_the_holiday_calendar_does_not_know_has_no_holidays() -> None:
    assert not is_public_holiday(date(2026, 12, 25), "XX")
    assert is_public_holiday(date(2026, 12, 25), "FI")
