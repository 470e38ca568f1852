"""The partner sandbox: an HTTP SMS API (partner_api.py) and an SMTP server that record what
they receive, and a control surface for tests and people (control.py); routes listed here."""

from __future__ import annotations

import asyncio
import email
import email.policy
import functools
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import structlog
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from palaute_runtime.errors import RefusedStart
from palaute_runtime.http import HttpServer, bearer_matches, bound
from palaute_runtime.ops import openapi_routes
from palaute_sandbox import control, partner_api
from palaute_sandbox.recorder import Recorder
from palaute_sandbox.settings import SandboxSettings
from palaute_sandbox.state import Sandbox

log = structlog.get_logger("palaute.sandbox")

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
        self.state = Sandbox(settings)
        self.recorder: Recorder = self.state.recorder
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

    async def stop(self) -> None:
        """Stop both servers."""
        await self.http.stop()
        await asyncio.to_thread(self._smtp.stop)
        await self.state.close()

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
        state = self.state

        def admin(handler: Callable[[Sandbox, Request], Awaitable[Response]]) -> Endpoint:
            return self._admin_only(bound(handler, state))

        return Starlette(
            routes=[
                *openapi_routes("Palaute partner sandbox"),
                Route("/v1/sms", bound(partner_api.send_sms, state), methods=["POST"]),
                Route(
                    "/v1/data-deletion", bound(partner_api.data_deletion, state), methods=["POST"]
                ),
                Route("/sandbox/", admin(control.inbox_page), methods=["GET"]),
                Route("/sandbox/messages", admin(control.messages), methods=["GET"]),
                Route("/sandbox/stats", admin(control.stats), methods=["GET"]),
                Route("/sandbox/inbound-sms", admin(control.inbound_sms), methods=["POST"]),
                Route("/sandbox/faults", admin(control.faults), methods=["POST"]),
                Route("/sandbox/receipts/replay", admin(control.replay_receipts), methods=["POST"]),
                Route("/health/live", bound(control.health, state), methods=["GET"]),
                Route("/health/ready", bound(control.health, state), methods=["GET"]),
            ]
        )
