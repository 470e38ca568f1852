"""The sandbox as Twilio: the Messages API's documented wire format (a stand-in for
https://api.twilio.com), with Twilio's status callbacks and incoming-message webhooks, signed
the way Twilio signs them. Faults, the contracted rate and the receipt mix are the sandbox's
own (control.py), answered in Twilio's error format.

- `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: form To, Body, From or
  MessagingServiceSid, StatusCallback; Basic auth (the SID, an Auth Token listed in
  PALAUTE_TWILIO_AUTH_TOKEN); 201 with the message resource. Like Twilio, no idempotency:
  each call is a new message.
- `GET .../Messages.json?To=&From=&DateSent>=`: the messages, newest first.
- `DELETE .../Messages/{sid}.json`: 204, or 404.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

import httpx
import phonenumbers
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from palaute_runtime.clock import Clock
from palaute_runtime.http import basic_credentials
from palaute_runtime.keys import Keyring
from palaute_runtime.twilio import SIGNATURE_HEADER, signature
from palaute_sandbox.state import Sandbox

log = structlog.get_logger("palaute.sandbox.twilio")
_clock = Clock()  # Twilio's own clock: real time

# What the receipt mix's outcomes are as Twilio statuses and error codes.
_STATUS = {"delivered": ("delivered", ""), "undelivered": ("undelivered", "30003")}
_STATUS["expired"] = ("failed", "30001")


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


def _authorised(sandbox: Sandbox, request: Request, account: str) -> bool:
    settings = sandbox.settings
    credentials = basic_credentials(request.headers.get("Authorization"))
    if credentials is None or not settings.twilio_auth_token:
        return False
    user, token = credentials
    return user == settings.twilio_account_sid == account and Keyring.parse(
        settings.twilio_auth_token
    ).matches(token)


def _resource(message: dict[str, Any], account: str) -> dict[str, Any]:
    return {
        "sid": message["id"],
        "account_sid": account,
        "to": message["to"],
        "from": message["from"],
        "body": message["text"],
        "status": message.get("twilio_status", "queued"),
        "date_created": message["date"],
        "date_sent": message["date"],
        "num_segments": "1",
        "uri": f"/2010-04-01/Accounts/{account}/Messages/{message['id']}.json",
    }


async def create_message(sandbox: Sandbox, request: Request) -> Response:
    """
    ---
    summary: Twilio's Create a Message (form encoded; Basic auth)
    responses:
      "201": {description: the message resource}
      "400": {description: a Twilio error (21211 invalid To, 21602 no Body, ...)}
      "401": {description: Twilio error 20003 (authenticate)}
      "429": {description: Twilio error 20429 (too many requests)}
    """
    account = request.path_params["account"]
    if not _authorised(sandbox, request, account):
        return _error(401, 20003, "Authenticate")
    form = await request.form()
    to, body = str(form.get("To") or ""), str(form.get("Body") or "")
    sender = str(form.get("From") or form.get("MessagingServiceSid") or "")
    if not to:
        return _error(400, 21604, "A 'To' phone number is required.")
    if not body:
        return _error(400, 21602, "Message body is required.")
    if not sender:
        return _error(400, 21603, "A 'From' phone number is required.")
    if not _valid_number(to):
        return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if sandbox.settings.sandbox_response_ms:
        await asyncio.sleep(sandbox.settings.sandbox_response_ms / 1000)
    if sandbox.failing():
        sandbox.recorder.reject("sms")
        status = sandbox.failure_status
        code = 20429 if status == 429 else 20500
        response = _error(status, code, "injected failure")
        response.headers["Retry-After"] = "1"
        return response
    if not sandbox.rate_limit.allows():
        sandbox.recorder.throttle("sms")
        response = _error(429, 20429, "Too Many Requests")
        response.headers["Retry-After"] = "1"
        return response
    sid = f"SM{uuid.uuid4().hex}"
    callback = str(form.get("StatusCallback") or "")
    message, _ = sandbox.recorder.record(
        "sms",
        sid,
        {"from": sender, "to": to, "text": body, "date": _now_rfc2822(), "extra": {}},
        message_id=sid,
    )
    if callback:
        sandbox.background(status_callback(sandbox, message, account, callback))
    return JSONResponse(_resource(message, account), status_code=201)


async def list_messages(sandbox: Sandbox, request: Request) -> Response:
    """
    ---
    summary: Twilio's Read multiple Message resources (To, From, DateSent> filters)
    responses:
      "200": {description: a page of messages}
      "401": {description: Twilio error 20003 (authenticate)}
    """
    account = request.path_params["account"]
    if not _authorised(sandbox, request, account):
        return _error(401, 20003, "Authenticate")
    query = request.query_params
    since = _day(query.get("DateSent>"))
    candidates = (
        sandbox.recorder.sms_to(query["To"])
        if "To" in query
        else sandbox.recorder.snapshot()["sms"]
    )
    found = [
        _resource(m, account)
        for m in reversed(candidates)
        if m["id"].startswith("SM")
        and ("To" not in query or m["to"] == query["To"])
        and ("From" not in query or m["from"] == query["From"])
        and (since is None or date.fromisoformat(m["received_at"][:10]) >= since)
    ]
    return JSONResponse({"messages": found, "page": 0, "page_size": len(found), "end": 0})


async def delete_message(sandbox: Sandbox, request: Request) -> Response:
    """
    ---
    summary: Twilio's Delete a Message resource
    responses:
      "204": {description: deleted}
      "401": {description: Twilio error 20003 (authenticate)}
      "404": {description: Twilio error 20404 (not found)}
    """
    account = request.path_params["account"]
    if not _authorised(sandbox, request, account):
        return _error(401, 20003, "Authenticate")
    if not sandbox.recorder.delete_message(request.path_params["sid"]):
        return _error(404, 20404, "The requested resource was not found")
    return Response(status_code=204)


async def status_callback(
    sandbox: Sandbox, message: dict[str, Any], account: str, url: str
) -> None:
    """Twilio's status callback for a message: its final status by the receipt mix, signed;
    retried a while when the webhook cannot be reached."""
    await asyncio.sleep(sandbox.settings.sandbox_receipt_delay_seconds)
    status, code = _STATUS[sandbox.outcome(str(message["id"]))]
    message["twilio_status"] = status
    form = {
        "AccountSid": account,
        "ApiVersion": "2010-04-01",
        "From": str(message["from"]),
        "MessageSid": str(message["id"]),
        "MessageStatus": status,
        "SmsSid": str(message["id"]),
        "SmsStatus": status,
        "To": str(message["to"]),
        **({"ErrorCode": code} if code else {}),
    }
    for attempt in range(8):
        async with sandbox.receipt_slots:  # a few at a time, as Twilio's webhook client
            answer = await post_signed(sandbox, url, form)
        if answer is not None and answer.status_code in (200, 400, 403):
            if answer.status_code == 200 and answer.json().get("status") == "recorded":
                sandbox.recorder.receipt_taken({"id": str(message["id"]), "status": status})
            return
        await asyncio.sleep(0.5 * 2**attempt)
    log.warning("twilio_status_callback_dropped", status=status)


async def post_signed(sandbox: Sandbox, url: str, form: dict[str, str]) -> httpx.Response | None:
    """POST a form to a webhook, signed as Twilio signs (the current Auth Token)."""
    token = Keyring.parse(sandbox.settings.twilio_auth_token).current
    try:
        return await sandbox.client.post(
            url, data=form, headers={SIGNATURE_HEADER: signature(token, url, form.items())}
        )
    except httpx.HTTPError:
        return None


def incoming_form(account: str, sender: str, to: str, text: str, sid: str) -> dict[str, str]:
    """Twilio's incoming-message webhook parameters for one SMS."""
    return {
        "AccountSid": account,
        "ApiVersion": "2010-04-01",
        "Body": text,
        "From": sender,
        "MessageSid": sid,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "To": to,
    }


def _valid_number(number: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _now_rfc2822() -> str:
    return _clock.now().strftime("%a, %d %b %Y %H:%M:%S +0000")
