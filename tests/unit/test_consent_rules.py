"""The consent rules: opt-out wins, then SMS to a mobile, then email, else suppressed."""

from __future__ import annotations

from datetime import UTC, datetime

from palaute_consent.rules import Suppress, Survey, decide, outcome_message
from palaute_schemas import ContactClosed, SurveyRequested, SurveySuppressed


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


def test_opt_out_suppresses_even_with_a_mobile_number() -> None:
    assert decide(contact(phone="0401234567"), opted_out=True) == Suppress("opted_out")


def test_mobile_number_means_sms() -> None:
    assert decide(contact(phone="0401234567", email="a@example.fi"), opted_out=False) == (
        Survey("sms", "+358401234567")
    )


def test_landline_falls_back_to_email() -> None:
    assert decide(contact(phone="09 3101 2345", email="a@example.fi"), opted_out=False) == (
        Survey("email", "a@example.fi")
    )


def test_no_usable_address_is_suppressed_with_a_reason() -> None:
    assert decide(contact(phone="09 3101 2345"), opted_out=False) == Suppress("no_channel")
    assert decide(contact(), opted_out=False) == Suppress("no_channel")


def test_anonymous_survey_request_carries_no_customer_id() -> None:
    event = contact(phone="0401234567", anonymous=True)
    message = outcome_message(event, decide(event, opted_out=False))
    assert isinstance(message, SurveyRequested)
    assert message.customer_id is None
    assert message.anonymous


def test_suppression_message_carries_only_the_contact_and_the_reason() -> None:
    event = contact(phone="0401234567")
    message = outcome_message(event, Suppress("opted_out"))
    assert isinstance(message, SurveySuppressed)
    assert "0401234567" not in message.model_dump_json()
    assert "+358401234567" not in message.model_dump_json()
    assert "C-1" not in message.model_dump_json()
