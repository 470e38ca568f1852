"""The sandbox's own control surface (`/sandbox/...`, behind the admin token when one is
set): what it received, its counts, a customer's SMS reply to forward, faults to inject, the
receipts to replay, and the inbox as a page. Each handler is a top-level function of the
sandbox's state and the request."""

from __future__ import annotations

import html
import json
import math
import random
import re
import time
import uuid
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from palaute_runtime.clock import Clock
from palaute_sandbox import elks_api, twilio_api
from palaute_sandbox.state import APIS, RateLimit, Sandbox

_clock = Clock()  # the partner's own clock: real time


async def messages(sandbox: Sandbox, _: Request) -> Response:
    """
    ---
    summary: Every message the sandbox accepted (admin token when one is set)
    responses:
      "200": {description: the SMS and email messages}
      "401": {description: missing or wrong admin token}
    """
    return JSONResponse(sandbox.recorder.snapshot())


async def stats(sandbox: Sandbox, _: Request) -> Response:
    """
    ---
    summary: Counts of accepted, replayed and rejected messages
    description: rejected_at lists when each injected failure was answered, in seconds
      since the fault was set.
    responses:
      "200": {description: the counts}
      "401": {description: missing or wrong admin token}
    """
    return JSONResponse(
        {
            **sandbox.recorder.counts(),
            "outage_seconds_left": max(0.0, sandbox.failing_until - time.monotonic()),
            "rejected_at": sandbox.rejected_at,
            "providers": {api: state.counts() for api, state in sandbox.providers.items()},
        }
    )


async def inbound_sms(sandbox: Sandbox, request: Request) -> Response:
    """
    ---
    summary: Pretend a customer replied by SMS (forwarded to the collector)
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [from, text]
            properties:
              from: {type: string}
              text: {type: string}
              id: {type: string, description: "message id to forward (default: new)"}
              provider:
                type: string
                description: "whose number it reached (default: the first provider)"
    responses:
      "200": {description: the collector's answer}
      "400": {description: "not JSON with from and text, or a provider not in use"}
      "401": {description: missing or wrong admin token}
      "502": {description: the collector could not be reached}
    """
    try:
        body = await request.json()
        reply = {
            "from": str(body["from"]),
            "text": str(body["text"]),
            # A partner's own id (a test may repeat one to replay a delivery).
            "id": str(body.get("id") or f"in-{uuid.uuid4().hex}"),
            "received_at": _clock.now().isoformat(),
        }
        provider = str(body.get("provider") or next(iter(sandbox.settings.sms_providers)))
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        return JSONResponse({"error": 'expected JSON with "from" and "text"'}, status_code=400)
    settings = sandbox.settings
    if provider not in settings.sms_providers:
        return JSONResponse({"error": f"{provider} is not an SMS provider here"}, status_code=400)
    if provider == "46elks":  # as 46elks posts to the number's sms_url
        return await elks_api.forward_incoming(sandbox, reply["from"], reply["text"])
    if provider == "twilio":  # as Twilio's incoming-message webhook
        sid = reply["id"] if reply["id"].startswith("SM") else f"SM{uuid.uuid4().hex}"
        form = twilio_api.incoming_form(
            settings.twilio_account_sid, reply["from"], settings.sms_sender, reply["text"], sid
        )
        forwarded = await twilio_api.post_signed(sandbox, settings.twilio_inbound_url, form)
        if forwarded is None:
            return JSONResponse({"error": "collector unreachable"}, status_code=502)
        return Response(
            forwarded.content,
            status_code=forwarded.status_code,
            media_type=forwarded.headers.get("content-type"),
        )
    try:
        answer = await sandbox.client.post(
            settings.collector_webhook_url,
            json=reply,
            headers={"Authorization": f"Bearer {settings.partner_webhook_secret}"},
        )
    except httpx.HTTPError as exc:
        return JSONResponse(
            {"error": f"collector unreachable: {type(exc).__name__}"}, status_code=502
        )
    return Response(answer.content, status_code=answer.status_code, media_type="application/json")


async def faults(sandbox: Sandbox, request: Request) -> Response:
    """
    ---
    summary: Make SMS sends fail (the next N, or for S seconds), hang, report late, or
      limit their rate; at one API (provider) or every one
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            properties:
              provider:
                type: string
                enum: [sms, twilio, 46elks]
                description: "the API it applies to (sms: the sandbox's own); default all"
              fail_next: {type: integer, description: fail this many sends}
              fail_for_seconds: {type: number, description: fail every send this long}
              status: {type: integer, description: "the failure's status (503)"}
              hang_for_seconds:
                type: number
                description: "this long, every send is taken but answered only after
                  hang_seconds (30): the caller times out"
              hang_seconds: {type: number}
              report_delay_seconds:
                type: number
                description: "delivery reports this long after a send (null: the setting)"
              rate_per_second: {type: number, description: "enforced rate; 0: none"}
    responses:
      "200": {description: the fault now set}
      "400": {description: not the expected JSON}
      "401": {description: missing or wrong admin token}
    """
    try:
        body = await request.json()
        api = body.get("provider")
        if api is not None and api not in APIS:
            raise ValueError(api)
        sandbox.set_fault(
            int(body.get("fail_next", 0)),
            int(body.get("status", 503)),
            _seconds(body.get("fail_for_seconds", 0)),
            api=api,
            hang_for_seconds=_seconds(body.get("hang_for_seconds", 0)),
            hang_seconds=_seconds(body.get("hang_seconds", 30)),
        )
        for state in [sandbox.providers[api]] if api else sandbox.providers.values():
            if "rate_per_second" in body:
                state.rate_limit = RateLimit(float(body["rate_per_second"]))
            if "report_delay_seconds" in body:
                delay = body["report_delay_seconds"]
                state.report_delay = None if delay is None else _seconds(delay)
    except (json.JSONDecodeError, TypeError, ValueError, AttributeError):
        return JSONResponse(
            {
                "error": 'expected JSON {"provider": "twilio", "fail_next": N, '
                '"fail_for_seconds": S, "status": 503, "hang_for_seconds": S, '
                '"report_delay_seconds": S, "rate_per_second": R}'
            },
            status_code=400,
        )
    return JSONResponse(
        {name: state.counts() for name, state in sandbox.providers.items() if api in (None, name)}
    )


def _seconds(value: object) -> float:
    """A duration from the request: a finite number of seconds (ValueError otherwise); one
    below 0 is 0 (an outage whose end a test computed as past is over)."""
    seconds = float(value)  # type: ignore[arg-type]
    if not math.isfinite(seconds):
        raise ValueError(value)
    return max(0.0, seconds)


async def inbox_page(sandbox: Sandbox, request: Request) -> Response:
    """
    ---
    summary: Every message received, with its delivery status, as a page
    parameters:
      - {name: page, in: query, required: false, schema: {type: integer, minimum: 1}}
    responses:
      "200": {description: "an HTML table, newest first, 50 a page"}
      "401": {description: missing or wrong admin token}
    """
    raw = request.query_params.get("page", "1")
    number = int(raw) if raw.isdecimal() and len(raw) < 7 else 1
    return HTMLResponse(_messages_page(sandbox.recorder.snapshot(), max(1, number)))


async def replay_receipts(sandbox: Sandbox, _: Request) -> Response:
    """
    ---
    summary: Send every receipt already taken again, twice, in shuffled order
    responses:
      "200": {description: how the webhook answered the replayed receipts}
      "401": {description: missing or wrong admin token}
    """
    if not sandbox.settings.sandbox_receipt_url:
        return JSONResponse(
            {"error": "receipts are off (set PALAUTE_SANDBOX_RECEIPT_URL)"},
            status_code=409,
        )
    replayed = list(sandbox.recorder.receipts) * 2
    random.shuffle(replayed)
    answers: dict[str, int] = {}
    for receipt in replayed:
        status = await sandbox.post_receipt(receipt)
        answers[str(status)] = answers.get(str(status), 0) + 1
    return JSONResponse({"replayed": len(replayed), "answers": answers})


async def health(sandbox: Sandbox, _: Request) -> Response:
    """
    ---
    summary: Live and ready while it serves
    responses:
      "200": {description: ready}
    """
    return JSONResponse({"status": "ready", "service": "sandbox"})


PAGE_SIZE = 50
_SURVEY_LINK = re.compile(r"https?://[^\s<>\"]+/s/[A-Za-z0-9_-]+")


def _messages_page(snapshot: dict[str, Any], page: int = 1) -> str:
    """The sandbox's inbox as a plain HTML table (no script), newest first, a page at a
    time; an email's survey link is a link, to open the survey as its reader would."""
    rows = []
    for channel in ("sms", "email"):
        for message in snapshot[channel]:
            to = message["to"] if channel == "sms" else ", ".join(message["to"])
            status = message.get("delivery") or ("sent" if channel == "sms" else "relayed")
            text = message.get("text", "")
            link = _SURVEY_LINK.search(text)
            survey = f'<a href="{html.escape(link.group(0))}">open the survey</a>' if link else ""
            rows.append(
                (
                    message["received_at"],
                    "<tr>"
                    + "".join(
                        f"<td>{html.escape(str(cell))}</td>"
                        for cell in (
                            message["received_at"][:19].replace("T", " "),
                            channel.upper(),
                            to,
                            status,
                            text[:80] + ("…" if len(text) > 80 else ""),
                        )
                    )
                    + f"<td>{survey}</td></tr>",
                )
            )
    newest_first = [row for _, row in sorted(rows, reverse=True)]
    pages = max(1, -(-len(newest_first) // PAGE_SIZE))
    page = min(page, pages)
    shown = newest_first[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    body = "".join(shown) or '<tr><td colspan="6">Nothing received yet.</td></tr>'
    turn = " ".join(
        f'<a href="?page={number}">{label}</a>'
        for number, label in ((page - 1, "newer"), (page + 1, "older"))
        if 1 <= number <= pages
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Partner sandbox: messages</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}</style></head><body>"
        f"<h1>Partner sandbox</h1><p>{len(snapshot['sms'])} SMS, "
        f"{len(snapshot['email'])} email. Delivery status as reported by receipts.</p>"
        f"<p>Page {page} of {pages}. {turn}</p>"
        "<table><thead><tr><th>received</th><th>channel</th><th>to</th><th>delivery</th>"
        f"<th>text</th><th>survey</th></tr></thead><tbody>{body}</tbody></table>"
        f"<p>{turn}</p><p>JSON: <code>GET /sandbox/messages</code></p></body></html>"
    )
