"""46elks's wire format as the dispatcher and the collector read it: what a refused send
means, the webhook URL's credentials, and the webhook's Basic auth."""

from __future__ import annotations

import base64

import pytest
from starlette.requests import Request
from starlette.responses import Response

from palaute_runtime.elks import (
    WEBHOOK_USER,
    Refusal,
    authenticated,
    authenticated_form,
    refusal_of,
    with_credentials,
)
from tests.conftest import webhook_request


@pytest.mark.parametrize(
    ("status", "text", "expected"),
    [
        (429, "Too many requests", Refusal("46elks answered 429: Too many requests", True, True)),
        (503, "", Refusal("46elks answered 503", True, in_doubt=True)),
        (500, "oops", Refusal("46elks answered 500: oops", True, in_doubt=True)),
        (200, "{}", Refusal("46elks answered 200: {}", True, in_doubt=True)),
        (
            401,
            "API access requires Basic HTTP authentication",
            Refusal("46elks answered 401: API access requires Basic HTTP authentication", True),
        ),
        (402, "Not enough credits", Refusal("46elks answered 402: Not enough credits", True)),
        (403, "Forbidden", Refusal("46elks answered 403: Forbidden", True)),
        (400, "Invalid to number", Refusal("46elks answered 400: Invalid to number", False)),
        (404, "", Refusal("46elks answered 404", False)),
        (499, "", Refusal("46elks answered 499", False)),
    ],
)
def test_a_refused_send_is_retried_failed_or_in_doubt_as_46elks_documents(
    status: int, text: str, expected: Refusal
) -> None:
    assert refusal_of(status, text) == expected


def test_only_a_429_slows_down_and_only_what_may_have_been_taken_is_in_doubt() -> None:
    assert [refusal_of(s, "").throttled for s in (429, 503, 400, 401)] == [
        True,
        False,
        False,
        False,
    ]
    assert [refusal_of(s, "").in_doubt for s in (429, 503, 400, 200)] == [False, True, False, True]


def test_the_dispatcher_sends_to_46elkss_sms_resource() -> None:
    from palaute_dispatcher.elks import ElksSmsPartner

    partner = ElksSmsPartner("https://api.46elks.com/", "u", "p", "+46700000000")
    assert partner._url == "https://api.46elks.com/a1/sms"


def test_the_reason_is_one_line_of_at_most_150_characters() -> None:
    refusal = refusal_of(400, "Invalid\n  to\tnumber " + "x" * 300)
    assert refusal.named == "46elks answered 400: Invalid to number " + "x" * 132
    assert len(refusal.named) == len("46elks answered 400: ") + 150


def test_the_webhook_url_carries_the_current_secret_percent_encoded() -> None:
    url = with_credentials("https://old:pw@palaute.example/partner/46elks/delivery", "2:a/b@c,1:x")
    assert url == "https://elks:a%2Fb%40c@palaute.example/partner/46elks/delivery"
    plain = with_credentials("https://palaute.example/in?x=1", "s3cret")
    assert plain == "https://elks:s3cret@palaute.example/in?x=1"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_webhook_takes_any_listed_secret_and_only_its_own_user() -> None:
    secret = "2:new-secret,1:old-secret"
    assert authenticated(basic(WEBHOOK_USER, "new-secret"), secret)
    assert authenticated(basic(WEBHOOK_USER, "old-secret"), secret), "while it rotates"
    assert not authenticated(basic(WEBHOOK_USER, "other"), secret)
    assert not authenticated(basic("someone", "new-secret"), secret)
    assert authenticated(None, secret) is False
    assert not authenticated("Bearer new-secret", secret)
    assert not authenticated(basic(WEBHOOK_USER, ""), ""), "no secret configured: nobody"


def request(body: bytes, authorization: str | None) -> Request:
    return webhook_request(body, {"Authorization": authorization} if authorization else {})


async def test_a_webhook_form_is_read_only_with_the_credentials_and_only_as_a_form() -> None:
    secret = "webhook-secret"
    good = basic(WEBHOOK_USER, secret)
    form = await authenticated_form(request(b"id=s1&status=delivered&empty=", good), secret)
    assert form == {"id": "s1", "status": "delivered", "empty": ""}
    assert await authenticated_form(request(b"", good), secret) == {}
    refused = await authenticated_form(request(b"id=s1", basic(WEBHOOK_USER, "x")), secret)
    assert isinstance(refused, Response)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Basic realm="46elks webhooks"'
    for bad in (b"\xff\xfe", b"no-equals-sign"):
        answer = await authenticated_form(request(bad, good), secret)
        assert isinstance(answer, Response)
        assert answer.status_code == 400
