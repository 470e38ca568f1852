"""Twilio's wire format as the dispatcher and collector read it: error bodies mapped to our
outcomes, signed webhook forms, TwiML, message dates (issue 31: these had no unit test)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from palaute_dispatcher.twilio import _created, _error
from palaute_runtime.keys import Keyring
from palaute_runtime.twilio import (
    PERMANENT_ERRORS,
    SIGNATURE_HEADER,
    error_of,
    message_path,
    messages_path,
    report_of,
    signature,
    signed_form,
    twiml,
    verifies,
)
from tests.conftest import webhook_request

URL = "https://palaute.example/partner/twilio/status"
TOKEN = "twilio-test-token"


@pytest.mark.parametrize(
    ("status", "code", "transient", "throttled"),
    [
        (429, 20429, True, True),  # too many requests
        (400, 20429, True, True),  # the code says so whatever the status
        (503, 20500, True, False),  # Twilio down: kept, retried behind the breaker
        (401, 20003, True, False),  # our login refused: a configuration fault, kept
        (403, 20003, True, False),
        (400, 21211, False, False),  # invalid To: never to this recipient
        (400, 21610, False, False),  # the recipient replied STOP to this sender
        (400, 21602, False, False),  # any other 4xx: fails with its code
    ],
)
def test_twilio_errors_are_our_outcomes(
    status: int, code: int, transient: bool, throttled: bool
) -> None:
    error = _error(status, {"code": code, "message": "m"}, retry_after=2.0)
    assert (error.transient, error.throttled) == (transient, throttled)
    assert f"code {code}" in str(error)
    if code in PERMANENT_ERRORS and not transient:
        assert PERMANENT_ERRORS[code] in str(error)
    if transient and status >= 429:
        assert error.retry_after == 2.0


def test_an_error_body_without_a_code_is_read_without_one() -> None:
    assert error_of({"message": "x" * 300}) == (None, "x" * 200)
    assert error_of({"code": "21211"}) == (None, "")
    assert str(_error(500, {}, None)) == "Twilio answered 500"


def test_a_message_date_is_read_as_twilio_writes_it_and_nonsense_is_the_distant_past() -> None:
    assert _created({"date_created": "Wed, 18 Aug 2010 20:01:40 +0000"}) == datetime(
        2010, 8, 18, 20, 1, 40, tzinfo=UTC
    )
    assert _created({"date_created": "Wed, 18 Aug 2010 20:01:40 -0000"}).tzinfo is not None
    assert _created({}).year == 1
    assert _created({"date_created": "eilen"}).year == 1


def test_a_signed_form_is_read_and_anything_else_refused() -> None:
    form = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    body = b"MessageSid=SM1&MessageStatus=delivered"
    signed = {SIGNATURE_HEADER: signature(TOKEN, URL, form.items())}

    def read(body: bytes, headers: dict[str, str], token: str = TOKEN) -> object:
        return asyncio.run(signed_form(webhook_request(body, headers), URL, token))

    assert read(body, signed) == form
    assert read(body, {}).status_code == 403  # type: ignore[attr-defined]
    assert read(body, signed, token="").status_code == 403  # type: ignore[attr-defined]
    assert read(body + b"&x=1", signed).status_code == 403  # type: ignore[attr-defined]
    assert read(b"\xff\xfe", signed).status_code == 400  # type: ignore[attr-defined]
    assert read(b"a=1&&=", signed).status_code == 400  # type: ignore[attr-defined]


def test_twiml_is_an_empty_response_document() -> None:
    answer = twiml()
    assert answer.status_code == 200
    assert answer.media_type == "text/xml"
    assert bytes(answer.body).endswith(b"<Response></Response>")


# Twilio's error dictionary: the codes it documents as "not to this recipient", and ours.
DOCUMENTED = {
    21211: "invalid 'To' phone number",
    21408: "geographic permissions",
    21610: "replied STOP",
    21612: "cannot be reached from the sender",
    21614: "not a mobile number",
    21635: "cannot receive SMS",
    30003: "unreachable handset",
    30004: "message blocked",
    30005: "unknown destination handset",
    30006: "landline or unreachable carrier",
    30007: "filtered by the carrier",
}


@pytest.mark.parametrize(("code", "meaning"), DOCUMENTED.items())
def test_each_documented_error_code_is_explained_in_a_report_and_fails_a_send_for_good(
    code: int, meaning: str
) -> None:
    final, reason = report_of("undelivered", str(code)) or ("", "")
    assert final == "undelivered"
    assert reason.startswith(f"Twilio undelivered, error {code}: ")
    assert meaning in reason
    refused = _error(400, {"code": code, "message": "x"}, None)
    assert (refused.transient, meaning in str(refused)) == (False, True)
    # Its neighbours are not Twilio's "never to this recipient": no explanation of ours.
    for neighbour in (code - 1, code + 1):
        if neighbour not in DOCUMENTED:
            assert report_of("failed", str(neighbour)) == (
                "undelivered",
                f"Twilio failed, error {neighbour}",
            )


@pytest.mark.parametrize(
    ("status", "code", "report"),
    [
        ("queued", "", None),
        ("sent", "", None),
        ("accepted", "", None),
        ("delivered", "", ("delivered", "")),
        ("delivered", "30003", ("delivered", "")),  # a code on a delivered one means nothing
        ("undelivered", "", ("undelivered", "Twilio undelivered")),
        ("failed", "12345678901234", ("undelivered", "Twilio failed, error 1234567890")),
        ("failed", "x1", ("undelivered", "Twilio failed, error x1")),
    ],
)
def test_a_status_is_a_delivery_report_only_once_final(
    status: str, code: str, report: tuple[str, str] | None
) -> None:
    assert report_of(status, code) == report


def test_the_resource_paths_are_twilios() -> None:
    assert messages_path("AC1") == "/2010-04-01/Accounts/AC1/Messages.json"
    assert message_path("AC1", "SM2") == "/2010-04-01/Accounts/AC1/Messages/SM2.json"


def test_a_signature_is_checked_under_every_listed_token_and_never_without_a_header() -> None:
    pairs = [("Body", ""), ("From", "+358401234567")]
    old, new = "old-token", "new-token"
    assert verifies(Keyring.parse(f"2:{new},1:{old}"), signature(old, URL, pairs), URL, pairs)
    assert verifies(Keyring.parse(f"2:{new},1:{old}"), signature(new, URL, pairs), URL, pairs)
    assert verifies(Keyring.parse(new), signature(old, URL, pairs), URL, pairs) is False
    assert verifies(Keyring.parse(new), None, URL, pairs) is False
    assert verifies(Keyring.parse(new), "", URL, pairs) is False


def test_an_empty_parameter_is_signed_and_the_configured_url_is_the_one_signed() -> None:
    body = b"Body=&From=%2B358401234567"
    form = {"Body": "", "From": "+358401234567"}
    public = "https://public.example/partner/twilio/inbound"
    by_public = {SIGNATURE_HEADER: signature(TOKEN, public, form.items())}
    # The URL as configured at Twilio (behind a proxy the request's own URL differs).
    assert asyncio.run(signed_form(webhook_request(body, by_public), public, TOKEN)) == form
    refused = asyncio.run(signed_form(webhook_request(body, by_public), "", TOKEN))
    assert refused.status_code == 403  # type: ignore[union-attr]
    # Without a configured URL, the URL the request came to is the one signed.
    by_own = {SIGNATURE_HEADER: signature(TOKEN, URL, form.items())}
    assert asyncio.run(signed_form(webhook_request(body, by_own), "", TOKEN)) == form
