"""The channel rules: SMS to a mobile, then email, else suppressed with the reason why."""

from __future__ import annotations

from datetime import UTC, date, datetime

from palaute_consent.rules import Suppress, Survey, choose_channel, reachable
from palaute_schemas import ContactClosed


def contact(**changes: object) -> ContactClosed:
    fields: dict[str, object] = {
        "contact_id": "K-1",
        "customer_id": "C-1",
        "contact_channel": "chat",
        "language": "sv",
        "unit": "Online",
        "closed_at": datetime(2026, 11, 20, 9, tzinfo=UTC),
    }
    return ContactClosed.model_validate({**fields, **changes})


def channel(**changes: object) -> Survey | Suppress:
    return choose_channel(reachable(contact(**changes), "FI"))


def test_mobile_number_means_sms_in_e164() -> None:
    assert channel(phone="040 123 4567", email="a@example.fi") == Survey("sms", "+358401234567")


def test_a_national_number_is_read_in_the_default_region() -> None:
    who = reachable(contact(phone="070-123 45 67"), "SE")
    assert who.phone == "+46701234567"


def test_landline_falls_back_to_email() -> None:
    assert channel(phone="09 3101 2345", email="A@Example.fi") == Survey("email", "A@example.fi")


def test_a_garbage_phone_with_a_good_email_is_surveyed_by_email() -> None:
    assert channel(phone="12345", email="a@example.fi") == Survey("email", "a@example.fi")


def test_unusable_addresses_are_suppressed_with_the_reason() -> None:
    assert channel(phone="12345") == Suppress("invalid_phone")
    assert channel(email="not-an-address") == Suppress("invalid_email")
    assert channel(phone="12345", email="not-an-address") == Suppress("invalid_phone")
    assert channel(phone="09 3101 2345") == Suppress("no_channel")
    assert channel() == Suppress("no_channel")


def test_a_good_mobile_wins_over_a_garbage_email() -> None:
    assert channel(phone="0401234567", email="@@") == Survey("sms", "+358401234567")


def test_a_suppression_names_its_programme_channel_and_day_only_when_left_out_of_a_sample() -> None:
    closed = contact()
    plain = Suppress("opted_out").event(closed, date(2026, 11, 24))
    assert (plain.contact_id, plain.reason) == (closed.contact_id, "opted_out")
    assert (plain.programme, plain.channel, plain.contact_day) == (None, None, None)
    sampled = Suppress("not_sampled", programme="op-helsinki", channel="sms").event(
        closed, date(2026, 11, 24)
    )
    assert (sampled.reason, sampled.programme, sampled.channel, sampled.contact_day) == (
        "not_sampled",
        "op-helsinki",
        "sms",
        date(2026, 11, 24),
    )
