"""46elks's SMS API wire format, as its public documentation describes it
(https://46elks.com/docs): what the dispatcher, the collector and the sandbox (speaking as
46elks) share.

- Requests to 46elks: `POST {api}/a1/sms`, form encoded (`from`, `to`, `message`,
  `whendelivered`, `dontlog`), HTTP Basic with the API user and password; `200` with the
  SMS as JSON (`id`, `status` "created"); errors as a status with a plain-text reason.
  `GET {api}/a1/sms?to=…&end=…` lists the history (at most 100, newest first).
- Requests from 46elks (delivery reports to `whendelivered`, incoming SMS to the number's
  `sms_url`): form encoded, unsigned; 46elks documents Basic auth in the webhook's URL
  (`https://user:password@host/...`) as the way to authenticate them, and retries for at
  least 6 hours until the webhook answers 200-204. An incoming SMS's answer body is sent to
  the customer as a reply, so the collector answers 204, empty.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from palaute_runtime.http import basic_credentials
from palaute_runtime.keys import Keyring

WEBHOOK_USER = "elks"  # the user name in the webhook URLs' Basic auth (the secret is the password)
SMS_PATH = "/a1/sms"


@dataclass(frozen=True)
class Refusal:
    """What a send 46elks did not answer with an SMS means for us."""

    named: str  # "46elks answered 400: Invalid to number"
    transient: bool  # retried behind the breaker; else the invitation fails for good
    throttled: bool = False  # 429: slow down
    in_doubt: bool = False  # 46elks may have taken it: the retry asks 46elks first


def refusal_of(status: int, text: str) -> Refusal:
    """46elks's answer to a send, other than an SMS: 429 slows down; 5xx, a refused login
    (401/403) and an account out of credit (402) are faults of the connection or the
    contract, retried; a 200 without an id too (it may have been taken); any other 4xx (an
    invalid number, a refused sender) fails for good with 46elks's reason."""
    reason = " ".join(text.split())[:150]
    named = f"46elks answered {status}" + (f": {reason}" if reason else "")
    if status == 429:
        return Refusal(named, transient=True, throttled=True)
    taken_perhaps = status >= 500 or status == 200
    transient = taken_perhaps or status in (401, 402, 403)
    return Refusal(named, transient=transient, in_doubt=taken_perhaps)


def with_credentials(url: str, secret: str) -> str:
    """The webhook URL with the Basic auth credentials 46elks is to send."""
    parts = urllib.parse.urlsplit(url)
    password = urllib.parse.quote(Keyring.parse(secret).current, safe="")
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{WEBHOOK_USER}:{password}@{host}"))


def authenticated(header: str | None, secret: str) -> bool:
    """Whether a request carries the webhook's Basic auth (any listed secret), compared in
    constant time."""
    credentials = basic_credentials(header)
    if credentials is None or not secret:
        return False
    user, password = credentials
    return Keyring.parse(secret).matches(password) and user == WEBHOOK_USER


async def authenticated_form(request: Request, secret: str) -> dict[str, str] | Response:
    """The form of a webhook request 46elks made, or the answer to one it did not (401) or
    that is no form (400)."""
    if not authenticated(request.headers.get("Authorization"), secret):
        return JSONResponse(
            {"error": "missing or wrong Basic auth"},
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="46elks webhooks"'},
        )
    try:
        text = (await request.body()).decode("utf-8")
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError):
        return JSONResponse({"error": "expected a form-encoded body"}, status_code=400)
    return dict(pairs)
