"""The partner sandbox: an HTTP SMS API and an SMTP server that record what they receive."""

from __future__ import annotations

import asyncio
import email
import email.policy
import functools
import hashlib
import html
import json
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from email.message import EmailMessage
from typing import Any

import httpx
import structlog
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from palaute_runtime.clock import Clock
from palaute_runtime.errors import RefusedStart
from palaute_runtime.http import HttpServer, bearer_matches
from palaute_runtime.ops import openapi_routes
from palaute_sandbox.recorder import Recorder
from palaute_sandbox.settings import SandboxSettings, receipt_mix

log = structlog.get_logger("palaute.sandbox")
_clock = Clock()  # the partner's own clock: real time

_REASONS = {
    "delivered": "",
    "undelivered": "absent subscriber",
    "expired": "validity period expired",
}

Endpoint = Callable[[Request], Awaitable[Response]]


class _SmtpHandler:
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        body = parsed.get_body(preferencelist=("plain",))
        html_part = parsed.get_body(preferencelist=("html",))
        key = str(parsed.get("Message-ID") or f"<no-id-{id(envelope)}>")
        self._recorder.record(
            "email",
            key,
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "subject": str(parsed.get("Subject", "")),
                "text": body.get_content() if body is not None else "",
                "html": html_part.get_content() if html_part is not None else "",
                "headers": {name: str(value) for name, value in parsed.items()},
            },
        )
        return "250 Message accepted for delivery"


class RateLimit:
    """The partner's contracted rate: a bucket of one second's sends; 0 means no limit."""

    def __init__(self, rate: float) -> None:
        if rate < 0 or rate != rate:  # negative or NaN
            raise ValueError("rate_per_second must be 0 or more")
        self.rate = rate
        self._tokens = rate
        self._stamp = time.monotonic()

    def allows(self) -> bool:
        """Whether one more send fits in the rate now (it is counted if so)."""
        if not self.rate:
            return True
        now = time.monotonic()
        self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class PartnerSandbox:
    """Runs both servers; `recorder` holds what arrived."""

    def __init__(self, settings: SandboxSettings) -> None:
        loopback = settings.sandbox_host in ("127.0.0.1", "localhost", "::1")
        if not loopback and not settings.sandbox_admin_token:
            raise RefusedStart(
                f"the sandbox listens on {settings.sandbox_host}, beyond this machine, so "
                "PALAUTE_SANDBOX_ADMIN_TOKEN must be set to guard its /sandbox/ endpoints"
            )
        self.settings = settings
        self.recorder = Recorder()
        self._failures_left = 0
        self._failure_status = 503
        self._failing_until = 0.0
        self._rate_limit = RateLimit(settings.sandbox_sms_rate_per_second)
        self._client = httpx.AsyncClient(timeout=10)
        self._tasks: set[asyncio.Task[None]] = set()
        self._receipt_slots = asyncio.Semaphore(8)
        self.http = HttpServer(self._app(), settings.sandbox_host, settings.sandbox_http_port)
        self._smtp = Controller(
            _SmtpHandler(self.recorder),
            hostname=settings.sandbox_host,
            port=settings.sandbox_smtp_port,
        )

    async def start(self) -> None:
        """Start the SMTP server (its own thread) and the HTTP server."""
        await asyncio.to_thread(self._smtp.start)
        await self.http.start()
        log.info(
            "sandbox_started",
            http=self.http.url,
            smtp=f"{self.settings.sandbox_host}:{self.settings.sandbox_smtp_port}",
        )

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _outcome(self, key: str) -> str:
        """The receipt's outcome for a message: by the configured mix, the same every time."""
        mix = receipt_mix(self.settings.sandbox_receipt_mix)
        point = int(hashlib.sha256(key.encode()).hexdigest(), 16) % sum(w for _, w in mix)
        for outcome, weight in mix:
            if point < weight:
                return outcome
            point -= weight
        return mix[-1][0]

    async def _receipt_for(self, message: dict[str, Any]) -> None:
        await asyncio.sleep(self.settings.sandbox_receipt_delay_seconds)
        outcome = self._outcome(str(message["idempotency_key"]))
        receipt = {"id": str(message["id"]), "status": outcome, "reason": _REASONS[outcome]}
        # A partner retries a receipt a while (our webhook may not know the message yet, or
        # be down), then drops it.
        for attempt in range(8):
            if await self._post_receipt(receipt) in (200, 400, 401):
                return
            await asyncio.sleep(0.5 * 2**attempt)
        log.warning("receipt_dropped", status=outcome)

    async def _post_receipt(self, receipt: dict[str, str]) -> int | None:
        """Send one receipt; the webhook's HTTP status (None when it could not be reached)."""
        url = self.settings.sandbox_receipt_url
        assert url is not None
        try:
            async with self._receipt_slots:  # a few at a time, as a partner's webhook client
                answer = await self._client.post(
                    url,
                    json=receipt,
                    headers={"Authorization": f"Bearer {self.settings.partner_receipt_secret}"},
                )
        except httpx.HTTPError:
            return None
        if answer.status_code == 200 and answer.json().get("status") == "recorded":
            self.recorder.receipt_taken(receipt)
        return answer.status_code

    async def stop(self) -> None:
        """Stop both servers."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.http.stop()
        await asyncio.to_thread(self._smtp.stop)
        await self._client.aclose()

    def _admin_only(self, endpoint: Endpoint) -> Endpoint:
        """/sandbox/* answers only the admin token, when one is set."""
        token = self.settings.sandbox_admin_token
        if token is None:
            return endpoint

        @functools.wraps(endpoint)  # keeps its OpenAPI docstring
        async def guarded(request: Request) -> Response:
            if not bearer_matches(request.headers.get("Authorization"), token):
                return JSONResponse({"error": "missing or wrong admin token"}, status_code=401)
            return await endpoint(request)

        return guarded

    def _app(self) -> Starlette:
        async def send_sms(request: Request) -> Response:
            """
            ---
            summary: Send one SMS (the partner's API)
            description: >-
              `Authorization: Bearer <partner API key>` and an `Idempotency-Key` header: a
              repeated key is the same message, answered again.
            parameters:
              - {name: Idempotency-Key, in: header, required: true, schema: {type: string}}
            requestBody:
              required: true
              content:
                application/json:
                  schema:
                    type: object
                    required: [from, to, text]
                    properties:
                      from: {type: string}
                      to: {type: string}
                      text: {type: string}
            responses:
              "202": {description: accepted}
              "400": {description: missing Idempotency-Key or fields}
              "401": {description: missing or wrong API key}
            """
            if not bearer_matches(
                request.headers.get("Authorization"), self.settings.partner_api_key
            ):
                return JSONResponse({"error": "missing or wrong API key"}, status_code=401)
            key = request.headers.get("Idempotency-Key")
            if not key:
                return JSONResponse(
                    {"error": "the Idempotency-Key header is required"}, status_code=400
                )
            try:
                body = await request.json()
                fields = {name: body[name] for name in ("from", "to", "text")}
                if not all(isinstance(value, str) and value for value in fields.values()):
                    raise TypeError
            except (json.JSONDecodeError, KeyError, TypeError):
                return JSONResponse(
                    {"error": 'expected JSON with non-empty strings "from", "to", "text"'},
                    status_code=400,
                )
            if self._failures_left > 0 or time.monotonic() < self._failing_until:
                self._failures_left = max(0, self._failures_left - 1)
                self.recorder.reject("sms")
                return JSONResponse(
                    {"error": "injected failure"},
                    status_code=self._failure_status,
                    headers={"Retry-After": "1"},
                )
            if not self._rate_limit.allows():
                self.recorder.throttle("sms")
                return JSONResponse(
                    {"error": f"over the contracted rate of {self._rate_limit.rate:g}/s"},
                    status_code=429,
                    headers={"Retry-After": "1"},
                )
            extra = {name: value for name, value in body.items() if name not in fields}
            message, replayed = self.recorder.record("sms", key, {**fields, "extra": extra})
            if not replayed and self.settings.sandbox_receipt_url:
                self._background(self._receipt_for(message))
            return JSONResponse(
                {"id": message["id"], "status": "accepted"},
                status_code=202,
                headers={"Idempotent-Replayed": str(replayed).lower()},
            )

        async def data_deletion(request: Request) -> Response:
            """
            ---
            summary: Delete what the partner keeps for some addresses (the processor contract)
            description: >-
              `Authorization: Bearer <partner API key>`. Deletes every SMS and email to the
              addresses and records the deletion (time and count, no address).
            requestBody:
              required: true
              content:
                application/json:
                  schema:
                    type: object
                    required: [addresses]
                    properties:
                      addresses: {type: array, items: {type: string}, maxItems: 10}
            responses:
              "200": {description: deleted; the deletion's id and count}
              "400": {description: no list of addresses}
              "401": {description: missing or wrong API key}
            """
            if not bearer_matches(
                request.headers.get("Authorization"), self.settings.partner_api_key
            ):
                return JSONResponse({"error": "missing or wrong API key"}, status_code=401)
            try:
                body = await request.json()
                addresses = body["addresses"]
                if not (
                    isinstance(addresses, list)
                    and 0 < len(addresses) <= 10
                    and all(isinstance(a, str) and a for a in addresses)
                ):
                    raise TypeError
            except (ValueError, KeyError, TypeError):  # ValueError: not JSON, or not UTF-8
                return JSONResponse(
                    {"error": 'expected JSON with "addresses": 1-10 non-empty strings'},
                    status_code=400,
                )
            return JSONResponse(self.recorder.erase(set(addresses)))

        async def messages(_: Request) -> Response:
            """
            ---
            summary: Every message the sandbox accepted (admin token when one is set)
            responses:
              "200": {description: the SMS and email messages}
              "401": {description: missing or wrong admin token}
            """
            return JSONResponse(self.recorder.snapshot())

        async def stats(_: Request) -> Response:
            """
            ---
            summary: Counts of accepted, replayed and rejected messages
            responses:
              "200": {description: the counts}
              "401": {description: missing or wrong admin token}
            """
            return JSONResponse(
                {
                    **self.recorder.counts(),
                    "outage_seconds_left": max(0.0, self._failing_until - time.monotonic()),
                }
            )

        async def inbound_sms(request: Request) -> Response:
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
            responses:
              "200": {description: the collector's answer}
              "400": {description: not JSON with from and text}
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
            except (json.JSONDecodeError, KeyError, TypeError):
                return JSONResponse(
                    {"error": 'expected JSON with "from" and "text"'}, status_code=400
                )
            try:
                answer = await self._client.post(
                    self.settings.collector_webhook_url,
                    json=reply,
                    headers={"Authorization": f"Bearer {self.settings.partner_webhook_secret}"},
                )
            except httpx.HTTPError as exc:
                return JSONResponse(
                    {"error": f"collector unreachable: {type(exc).__name__}"}, status_code=502
                )
            return Response(
                answer.content, status_code=answer.status_code, media_type="application/json"
            )

        async def faults(request: Request) -> Response:
            """
            ---
            summary: Make SMS sends fail (the next N, or for S seconds), or limit their rate
            requestBody:
              required: true
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      fail_next: {type: integer, description: fail this many sends}
                      fail_for_seconds: {type: number, description: fail every send this long}
                      status: {type: integer, description: "the failure's status (503)"}
                      rate_per_second: {type: number, description: "enforced rate; 0: none"}
            responses:
              "200": {description: the fault now set}
              "400": {description: not the expected JSON}
              "401": {description: missing or wrong admin token}
            """
            try:
                body = await request.json()
                self._failures_left = int(body.get("fail_next", 0))
                self._failure_status = int(body.get("status", 503))
                self._failing_until = time.monotonic() + float(body.get("fail_for_seconds", 0))
                if "rate_per_second" in body:
                    self._rate_limit = RateLimit(float(body["rate_per_second"]))
            except (json.JSONDecodeError, TypeError, ValueError, AttributeError):
                return JSONResponse(
                    {
                        "error": 'expected JSON {"fail_next": N, "fail_for_seconds": S, '
                        '"status": 503, "rate_per_second": R}'
                    },
                    status_code=400,
                )
            return JSONResponse(
                {
                    "fail_next": self._failures_left,
                    "fail_for_seconds": max(0.0, self._failing_until - time.monotonic()),
                    "status": self._failure_status,
                    "rate_per_second": self._rate_limit.rate,
                }
            )

        async def page(request: Request) -> Response:
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
            return HTMLResponse(_messages_page(self.recorder.snapshot(), max(1, number)))

        async def replay_receipts(_: Request) -> Response:
            """
            ---
            summary: Send every receipt already taken again, twice, in shuffled order
            responses:
              "200": {description: how the webhook answered the replayed receipts}
              "401": {description: missing or wrong admin token}
            """
            if not self.settings.sandbox_receipt_url:
                return JSONResponse(
                    {"error": "receipts are off (set PALAUTE_SANDBOX_RECEIPT_URL)"},
                    status_code=409,
                )
            replayed = list(self.recorder.receipts) * 2
            random.shuffle(replayed)
            answers: dict[str, int] = {}
            for receipt in replayed:
                status = await self._post_receipt(receipt)
                answers[str(status)] = answers.get(str(status), 0) + 1
            return JSONResponse({"replayed": len(replayed), "answers": answers})

        async def health(_: Request) -> Response:
            """
            ---
            summary: Live and ready while it serves
            responses:
              "200": {description: ready}
            """
            return JSONResponse({"status": "ready", "service": "sandbox"})

        return Starlette(
            routes=[
                *openapi_routes("Palaute partner sandbox"),
                Route("/v1/sms", send_sms, methods=["POST"]),
                Route("/v1/data-deletion", data_deletion, methods=["POST"]),
                Route("/sandbox/", self._admin_only(page), methods=["GET"]),
                Route("/sandbox/messages", self._admin_only(messages), methods=["GET"]),
                Route("/sandbox/stats", self._admin_only(stats), methods=["GET"]),
                Route("/sandbox/inbound-sms", self._admin_only(inbound_sms), methods=["POST"]),
                Route("/sandbox/faults", self._admin_only(faults), methods=["POST"]),
                Route(
                    "/sandbox/receipts/replay",
                    self._admin_only(replay_receipts),
                    methods=["POST"],
                ),
                Route("/health/live", health, methods=["GET"]),
                Route("/health/ready", health, methods=["GET"]),
            ]
        )


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
