"""The sandbox as Twilio: the Messages API's documented wire format (a stand-in for
https://api.twilio.com), with Twilio's status callbacks and incoming-message webhooks, signed
the way Twilio signs them. Faults, the contracted rate and the receipt mix are the sandbox's
own (control.py), answered in Twilio's error format.

- `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: form To, Body, From or
  MessagingServiceSid, StatusCallback; Basic auth (the SID, an Auth Token listed in
  PALAUTE_TWILIO_AUTH_TOKEN); 201 with the message resource, `queued` with no `date_sent`
  until its status callback's moment. Like Twilio, no idempotency: each call is a new
  message. The status callback is posted once, never retried, and for a share of messages
  (PALAUTE_SANDBOX_TWILIO_CALLBACK_FIRST) before the create call answers.
- `GET .../Messages.json?To=&From=&DateSent>=&PageSize=&Page=`: one page of the messages
  (50 by default), newest first, with `next_page_uri` while there are more; DateSent
  filters on the sending day, so a message not yet sent is never found by it.
- `GET .../Messages/{sid}.json`: one message resource.
- `DELETE .../Messages/{sid}.json`: 204; 404; error 20009 while the message is not final.
"""

from __future__ import annotations

import asyncio
import random
import urllib.parse
import uuid
from datetime import date
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import phonenumbers
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from palaute_runtime.clock import Clock
from palaute_runtime.http import basic_credentials
from palaute_runtime.keys import Keyring
from palaute_runtime.twilio import SIGNATURE_HEADER, messages_path, signature
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
        "date_sent": message.get("date_sent"),  # set when it was sent, not before
        "error_code": int(message["twilio_error"]) if message.get("twilio_error") else None,
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
    state = sandbox.providers["twilio"]
    if sandbox.failing("twilio"):
        sandbox.recorder.reject("sms")
        status = state.failure_status
        code = 20429 if status == 429 else 20500
        response = _error(status, code, "injected failure")
        response.headers["Retry-After"] = "1"
        return response
    if not state.rate_limit.allows():
        state.rate_limit.refuse()
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
    state.accepted += 1
    resource = _resource(message, account)  # as it was when taken: queued
    if callback and random.random() < sandbox.settings.sandbox_twilio_callback_first:
        await status_callback(sandbox, message, account, callback)  # before our answer
    else:  # it becomes final whether or not anybody asked to be called
        sandbox.background(status_callback(sandbox, message, account, callback))
    await sandbox.hang("twilio")  # taken, but the answer comes too late for the caller
    return JSONResponse(resource, status_code=201)


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
    size = min(1000, max(1, _number(query.get("PageSize"), 50)))
    page = max(0, _number(query.get("Page"), 0))
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
        and (since is None or _sent_on_or_after(m, since))
    ]
    shown = found[page * size : (page + 1) * size]
    path = messages_path(account)
    kept = [(k, v) for k, v in query.multi_items() if k not in ("Page", "PageSize", "PageToken")]

    def page_uri(number: int) -> str:
        pairs = [*kept, ("PageSize", str(size)), ("Page", str(number))]
        return f"{path}?{urllib.parse.urlencode(pairs)}"

    more = (page + 1) * size < len(found)
    return JSONResponse(
        {
            "messages": shown,
            "page": page,
            "page_size": size,
            "start": page * size,
            "end": page * size + max(0, len(shown) - 1),
            "uri": page_uri(page),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) + f"&PageToken=PA{uuid.uuid4().hex[:8]}"
            if more
            else None,
            "previous_page_uri": page_uri(page - 1) if page else None,
        }
    )


async def get_message(sandbox: Sandbox, request: Request) -> Response:
    """
    ---
    summary: Twilio's Fetch a Message resource
    responses:
      "200": {description: the message resource}
      "401": {description: Twilio error 20003 (authenticate)}
      "404": {description: Twilio error 20404 (not found)}
    """
    account = request.path_params["account"]
    if not _authorised(sandbox, request, account):
        return _error(401, 20003, "Authenticate")
    message = sandbox.recorder.message(request.path_params["sid"])
    if message is None or not str(message["id"]).startswith("SM"):
        return _error(404, 20404, "The requested resource was not found")
    return JSONResponse(_resource(message, account))


async def delete_message(sandbox: Sandbox, request: Request) -> Response:
    """
    ---
    summary: Twilio's Delete a Message resource
    responses:
      "204": {description: deleted}
      "401": {description: Twilio error 20003 (authenticate)}
      "409": {description: Twilio error 20009 (not final yet; try again in minutes)}
      "404": {description: Twilio error 20404 (not found)}
    """
    account = request.path_params["account"]
    if not _authorised(sandbox, request, account):
        return _error(401, 20003, "Authenticate")
    message = sandbox.recorder.message(request.path_params["sid"])
    if message is not None and message.get("twilio_status", "queued") not in _FINAL:
        return _error(409, 20009, "Cannot delete this resource before it is complete")
    if not sandbox.recorder.delete_message(request.path_params["sid"]):
        return _error(404, 20404, "The requested resource was not found")
    return Response(status_code=204)


async def status_callback(
    sandbox: Sandbox, message: dict[str, Any], account: str, url: str
) -> None:
    """Twilio's status callback for a message: its final status by the receipt mix, signed,
    posted once (Twilio does not retry a callback that fails or answers an HTTP error)."""
    await asyncio.sleep(sandbox.report_delay("twilio"))
    status, code = _STATUS[sandbox.outcome(str(message["id"]))]
    message["twilio_status"], message["twilio_error"] = status, code
    message["date_sent"] = _now_rfc2822()
    if not url:
        return
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
    async with sandbox.receipt_slots:  # a few at a time, as Twilio's webhook client
        answer = await post_signed(sandbox, url, form)
    if answer is not None and answer.status_code == 200:
        if answer.json().get("status") in ("recorded", "held"):
            sandbox.recorder.receipt_taken({"id": str(message["id"]), "status": status})
        return
    log.warning(
        "twilio_status_callback_lost",
        status=status,
        answer=answer.status_code if answer is not None else "unreachable",
    )


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


_FINAL = frozenset({"delivered", "undelivered", "failed", "received", "canceled"})


def _number(text: str | None, default: int) -> int:
    return int(text) if text is not None and text.isdecimal() and len(text) < 7 else default


def _sent_on_or_after(message: dict[str, Any], day: date) -> bool:
    sent = message.get("date_sent")
    return sent is not None and parsedate_to_datetime(sent).date() >= day


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _now_rfc2822() -> str:
    return _clock.now().strftime("%a, %d %b %Y %H:%M:%S +0000")
