"""Twilio's Programmable Messaging wire format, as its public documentation describes it:
what the dispatcher, the collector and the sandbox (speaking as Twilio) share.

- Requests to Twilio: `POST {api}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form
  encoded (`To`, `From` or `MessagingServiceSid`, `Body`, `StatusCallback`), HTTP Basic
  with the Account SID and Auth Token; `201` with the message resource as JSON (`sid`);
  errors as JSON `{"code": ..., "message": ..., "more_info": ..., "status": ...}`.
- Requests from Twilio (status callbacks, incoming messages): form encoded, signed in
  `X-Twilio-Signature`: base64 of HMAC-SHA1, keyed with the Auth Token, of the full URL
  Twilio called followed by every POST parameter, sorted by name, as name and value
  concatenated (https://www.twilio.com/docs/usage/webhooks/webhooks-security).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from palaute_runtime.keys import Keyring

SIGNATURE_HEADER = "X-Twilio-Signature"
API_VERSION = "2010-04-01"
# Error codes Twilio documents that mean "never to this recipient" (permanent), with ours.
PERMANENT_ERRORS = {
    21211: "invalid 'To' phone number",
    21408: "our account's geographic permissions exclude the recipient's region (Twilio console)",
    21610: "the recipient replied STOP to this sender",
    21612: "the 'To' number cannot be reached from the sender",
    21614: "'To' is not a mobile number",
    21635: "'To' cannot receive SMS",
    30003: "unreachable handset (switched off or out of coverage: often temporary)",
    30004: "message blocked",
    30005: "unknown destination handset",
    30006: "landline or unreachable carrier",
    30007: "filtered by the carrier (taken for spam: content or sender)",
}
THROTTLED = 20429  # too many requests
FINAL_STATUSES: dict[str, Literal["delivered", "undelivered"]] = {
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "undelivered",
}


def report_of(status: str, code: str) -> tuple[Literal["delivered", "undelivered"], str] | None:
    """A message's Twilio status as our delivery and its reason; None while not final."""
    final = FINAL_STATUSES.get(status)
    if final is None:
        return None
    if final == "delivered":
        return final, ""
    known = PERMANENT_ERRORS.get(int(code)) if code.isdigit() else None
    reason = f"Twilio {status}" + (f", error {code[:10]}" if code else "")
    return final, reason + (f": {known}" if known else "")


def signature(token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The X-Twilio-Signature of a request with these form parameters to this URL."""
    signed = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verifies(
    tokens: Keyring, header: str | None, url: str, params: Iterable[tuple[str, str]]
) -> bool:
    """Whether the header is the signature of the request under any listed Auth Token
    (the primary, or the secondary while it is being promoted), compared in constant time."""
    if not header:
        return False
    pairs = list(params)
    found = False
    for token in tokens.secrets:
        found |= hmac.compare_digest(header.encode(), signature(token, url, pairs).encode())
    return found


def messages_path(account_sid: str) -> str:
    """The Messages list resource of an account."""
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"


def message_path(account_sid: str, message_sid: str) -> str:
    """One message resource."""
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message_sid}.json"


def error_of(body: Mapping[str, object]) -> tuple[int | None, str]:
    """The code and message of a Twilio error body."""
    code = body.get("code")
    return (code if isinstance(code, int) else None), str(body.get("message") or "")[:200]


async def signed_form(request: Request, url: str, auth_token: str) -> dict[str, str] | Response:
    """The form parameters of a request Twilio signed, or the answer to a request it did not
    sign (403) or that is no form (400). `url` is the webhook's public URL as configured at
    Twilio (the signature covers it); empty: the URL the request came to."""
    try:
        text = (await request.body()).decode("utf-8")
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError):
        return JSONResponse({"error": "expected a form-encoded body"}, status_code=400)
    header = request.headers.get(SIGNATURE_HEADER)
    if not auth_token or not verifies(
        Keyring.parse(auth_token), header, url or str(request.url), pairs
    ):
        return JSONResponse({"error": f"missing or wrong {SIGNATURE_HEADER}"}, status_code=403)
    return dict(pairs)


def twiml(status: int = 200) -> Response:
    """An empty TwiML answer: nothing to send back to the customer."""
    return Response(
        '<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
        status_code=status,
        media_type="text/xml",
    )
