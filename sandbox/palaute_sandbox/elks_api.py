"""The sandbox as 46elks: its SMS API's documented wire format (a stand-in for
https://api.46elks.com), with its delivery reports and incoming-SMS webhooks, authenticated
the way 46elks documents (Basic auth in the webhook's URL). Faults, the contracted rate and
the receipt mix are the sandbox's own (control.py), answered as 46elks answers: a status and
a plain-text reason.

- `POST /a1/sms`: form from, to, message, whendelivered, dontlog; Basic auth (the API user
  and password); 200 with the SMS as JSON. No idempotency: each call is a new SMS.
- `GET /a1/sms?to=&end=&limit=`: the history, newest first, at most 100.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import httpx
import phonenumbers
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from palaute_runtime.clock import Clock
from palaute_runtime.http import basic_credentials
from palaute_sandbox.state import Sandbox

log = structlog.get_logger("palaute.sandbox.elks")
_clock = Clock()  # 46elks's own clock: real time


def _authorised(sandbox: Sandbox, request: Request) -> bool:
    settings = sandbox.settings
    credentials = basic_credentials(request.headers.get("Authorization"))
    return bool(settings.elks_password) and credentials == (
        settings.elks_username,
        settings.elks_password,
    )


def _sms(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": message["id"],
        "direction": "outgoing",
        "from": message["from"],
        "to": message["to"],
        "created": message["created"],
        "status": message.get("elks_status", "created"),
        "parts": 1,
        "cost": 3500,
        **({"message": message["text"]} if not message.get("dontlog") else {}),
    }


async def send_sms(sandbox: Sandbox, request: Request) -> Response:
    """
    ---
    summary: 46elks's Send SMS (form encoded; Basic auth)
    responses:
      "200": {description: the SMS as JSON}
      "400": {description: a plain-text reason (invalid to number, missing message, ...)}
      "401": {description: bad credentials}
      "429": {description: too many requests}
    """
    if not _authorised(sandbox, request):
        return PlainTextResponse("API access requires Basic HTTP authentication", 401)
    form = await request.form()
    to, text, sender = (str(form.get(name) or "") for name in ("to", "message", "from"))
    if not sender:
        return PlainTextResponse("Missing key from", 400)
    if not text:
        return PlainTextResponse("Missing key message", 400)
    if not _valid_number(to):
        return PlainTextResponse("Invalid to number", 400)
    if sandbox.settings.sandbox_response_ms:
        await asyncio.sleep(sandbox.settings.sandbox_response_ms / 1000)
    state = sandbox.providers["46elks"]
    if sandbox.failing("46elks"):
        sandbox.recorder.reject("sms")
        return PlainTextResponse(
            "Injected failure", state.failure_status, headers={"Retry-After": "1"}
        )
    if not state.rate_limit.allows():
        state.rate_limit.refuse()
        sandbox.recorder.throttle("sms")
        return PlainTextResponse("Too many requests", 429, headers={"Retry-After": "1"})
    sms_id = f"s{uuid.uuid4().hex}"
    created = _clock.now().replace(tzinfo=None).isoformat(timespec="microseconds")
    fields: dict[str, Any] = {"from": sender, "to": to, "text": text, "created": created}
    fields["extra"] = {}
    if form.get("dontlog") == "message":
        fields["dontlog"] = True
    message, _ = sandbox.recorder.record("sms", sms_id, fields, message_id=sms_id)
    state.accepted += 1
    callback = str(form.get("whendelivered") or "")
    if callback:
        sandbox.background(delivery_report(sandbox, message, callback))
    await sandbox.hang("46elks")  # taken, but the answer comes too late for the caller
    return JSONResponse(_sms(message))


async def history(sandbox: Sandbox, request: Request) -> Response:
    """
    ---
    summary: 46elks's SMS history (to, end = after this moment, limit)
    responses:
      "200": {description: "{data: [...], next: ...}"}
      "401": {description: bad credentials}
    """
    if not _authorised(sandbox, request):
        return PlainTextResponse("API access requires Basic HTTP authentication", 401)
    query = request.query_params
    after = _moment(query["end"]) if query.get("end") else None
    recorder = sandbox.recorder
    candidates = recorder.sms_to(query["to"]) if "to" in query else recorder.snapshot()["sms"]
    found = [
        _sms(m)
        for m in reversed(candidates)
        if m["id"].startswith("s") and (after is None or _moment(m["created"]) >= after)
    ]
    limit = query.get("limit", "100")
    return JSONResponse({"data": found[: int(limit) if limit.isdigit() else 100][:100]})


async def delivery_report(
    sandbox: Sandbox, message: dict[str, Any], url_with_credentials: str
) -> None:
    """46elks's delivery report for an SMS: delivered or failed by the receipt mix, retried
    while the webhook does not answer 200-204, whatever else it answers (46elks: for at
    least 6 hours; here 8 times, backing off from half a second)."""
    await asyncio.sleep(sandbox.report_delay("46elks"))
    outcome = sandbox.outcome(str(message["id"]))
    status = "delivered" if outcome == "delivered" else "failed"
    message["elks_status"] = status
    form = {"id": str(message["id"]), "status": status}
    if status == "delivered":
        form["delivered"] = _clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    url, auth = split_credentials(url_with_credentials)
    for attempt in range(8):
        try:
            async with sandbox.receipt_slots:
                answer = await sandbox.client.post(url, data=form, auth=auth)
        except httpx.HTTPError:
            answer = None
        if answer is not None and 200 <= answer.status_code <= 204:
            if answer.json().get("status") == "recorded":
                sandbox.recorder.receipt_taken({"id": str(message["id"]), "status": status})
            return
        await asyncio.sleep(0.5 * 2**attempt)
    log.warning("elks_delivery_report_dropped", status=status)


async def forward_incoming(sandbox: Sandbox, sender: str, text: str) -> Response:
    """An SMS to the organisation's number, as 46elks posts it to the number's sms_url."""
    settings = sandbox.settings
    form = {
        "direction": "incoming",
        "id": f"s{uuid.uuid4().hex}",
        "from": sender,
        "to": settings.sms_sender,
        "created": _clock.now().replace(tzinfo=None).isoformat(timespec="microseconds"),
        "message": text,
    }
    url, auth = split_credentials(settings.sandbox_elks_inbound_url)
    try:
        answer = await sandbox.client.post(url, data=form, auth=auth)
    except httpx.HTTPError as exc:
        return JSONResponse({"error": f"collector unreachable: {type(exc).__name__}"}, 502)
    return Response(answer.content, status_code=answer.status_code)


def split_credentials(url: str) -> tuple[str, httpx.Auth]:
    """A URL with `user:password@` as the URL without them and the Basic auth to send (none:
    httpx's Auth, which adds nothing)."""
    parsed = httpx.URL(url)
    if not parsed.userinfo:
        return url, httpx.Auth()
    plain = parsed.copy_with(username=None, password=None)
    return str(plain), httpx.BasicAuth(parsed.username, parsed.password)


def _valid_number(number: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


def _moment(text: str | None) -> datetime:
    try:
        return datetime.fromisoformat(text) if text else datetime.min
    except ValueError:
        return datetime.min
