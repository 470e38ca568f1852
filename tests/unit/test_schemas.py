"""The contracts: validation at the edge, and JSON Schema files that match the models."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from palaute_schemas import (
    ContactClosed,
    InvitationSent,
    OptOutRequested,
    SurveySuppressed,
    parse_phone,
)
from palaute_schemas.jsonschema import SCHEMA_DIR, render_all


def contact(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "contact_id": "K-1",
        "customer_id": "C-1",
        "contact_channel": "phone",
        "language": "fi",
        "unit": "Kotka",
        "closed_at": "2026-11-20T10:00:00+02:00",
        "phone": "040 123 4567",
    }
    return {**base, **changes}


def test_a_contact_carries_the_crm_phone_and_email_as_given() -> None:
    # Consent validates them: a bad address is an outcome (another channel, or a reason),
    # never a message that cannot be read.
    event = ContactClosed.model_validate(contact(phone="12345", email="not an address"))
    assert (event.phone, event.email) == ("12345", "not an address")


def test_opt_out_requests_still_validate_their_identifiers_at_the_edge() -> None:
    assert (
        OptOutRequested(source="sms_stop", phone="040 123 4567", reason="STOP").phone
        == "+358401234567"
    )
    with pytest.raises(ValidationError, match="phone"):
        OptOutRequested(source="sms_stop", phone="12345", reason="STOP")
    with pytest.raises(ValidationError, match="email"):
        OptOutRequested(source="email_unsubscribe", email="not an address", reason="link")


def test_times_must_carry_a_timezone() -> None:
    with pytest.raises(ValidationError, match="closed_at"):
        ContactClosed.model_validate(contact(closed_at="2026-11-20T10:00:00"))


def test_unknown_language_and_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="language"):
        ContactClosed.model_validate(contact(language="not a language"))
    with pytest.raises(ValidationError, match="extra"):
        ContactClosed.model_validate(contact(ssn="010101-123N"))


def test_every_message_has_a_stable_event_id_and_aware_time() -> None:
    first = SurveySuppressed(contact_id="K-1", reason="opted_out")
    again = SurveySuppressed.model_validate_json(first.model_dump_json())
    assert again.event_id == first.event_id
    assert first.occurred_at.tzinfo is not None


def test_suppression_and_invitation_messages_have_no_address_fields() -> None:
    for model in (SurveySuppressed, InvitationSent):
        fields = set(model.model_fields)
        assert not fields & {"phone", "email", "address"}, model.__name__


def test_checked_in_json_schemas_match_the_models() -> None:
    expected = render_all()
    on_disk = {path.name: path.read_text() for path in SCHEMA_DIR.glob("*.json")}
    assert on_disk == expected, (
        "JSON Schema files drifted from the models: run python -m palaute_schemas.jsonschema"
    )
    for text in expected.values():
        assert json.loads(text)["x-topic"]


@given(st.sampled_from(["FI", "SE", "GB", "PL"]), st.data())
def test_normalized_phone_numbers_are_stable_e164(region: str, data: st.DataObject) -> None:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    spaced = data.draw(
        st.sampled_from([national, national.replace(" ", ""), national.replace(" ", "-")])
    )
    e164 = parse_phone(spaced, region)
    assert e164.startswith("+")
    assert parse_phone(e164, "FI") == e164  # an E.164 number means the same from any region


def test_opt_out_request_validates_its_identifiers() -> None:
    request = OptOutRequested(source="sms_stop", phone="+358401234567", reason="STOP")
    assert request.phone == "+358401234567"
    with pytest.raises(ValidationError):
        OptOutRequested(source="sms_stop", phone="999", reason="STOP")
    assert request.occurred_at <= datetime.now(UTC)
