"""The partner sandbox: an HTTP SMS API (partner_api.py) and an SMTP server that record what
they receive, and a control surface for tests and people (control.py); routes listed here."""

from __future__ import annotations

import asyncio
import email
import email.policy
import functools
import hmac
import re
import ssl
import threading
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from palaute_runtime.errors import RefusedStart
from palaute_runtime.http import HttpServer, bearer_matches, bound
from palaute_runtime.ops import openapi_routes
from palaute_sandbox import control, elks_api, partner_api, twilio_api
from palaute_sandbox.bounces import BounceMailbox, dsn, simulated
from palaute_sandbox.recorder import Recorder
from palaute_sandbox.settings import SandboxSettings
from palaute_sandbox.state import Sandbox

log = structlog.get_logger("palaute.sandbox")

Endpoint = Callable[[Request], Awaitable[Response]]


def raw_headers(content: bytes) -> dict[str, str]:
    """The header fields of a message as they were on the wire: continuation lines joined
    (RFC 5322 unfolding), nothing decoded but UTF-8 (RFC 6532); a repeated field keeps its
    first value."""
    head = content.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("utf-8", "replace")
    fields: dict[str, str] = {}
    for line in re.sub(r"\n(?=[ \t])", "", head).split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            fields.setdefault(name.strip(), value.strip())
    return fields


class _SmtpHandler:
    def __init__(
        self,
        recorder: Recorder,
        *,
        login_required: bool = False,
        bounces: BounceMailbox | None = None,
        bounce_delay: float = 0.0,
    ) -> None:
        self._recorder = recorder
        self._login_required = login_required
        self._bounces = bounces
        self._bounce_delay = bounce_delay

    async def handle_MAIL(
        self, _server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self._login_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

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
                # As a mail provider reads them: unfolded, never decoded (Gmail takes no
                # RFC 2047 encoded word for a List-Unsubscribe URL).
                "raw_headers": raw_headers(envelope.content),
            },
        )
        self._bounce(envelope)
        return "250 Message accepted for delivery"

    def _bounce(self, envelope: Any) -> None:
        """As a relay does after accepting: a DSN to the return path for each recipient
        that cannot be delivered (in a thread of its own, after the configured delay)."""
        if self._bounces is None or not envelope.mail_from:  # <>: nobody to tell
            return
        for recipient in envelope.rcpt_tos:
            outcome = simulated(recipient)
            if outcome is None:
                continue
            report = dsn(envelope.mail_from, recipient, outcome, envelope.content)
            self._recorder.bounced(outcome.status, outcome.action)
            threading.Timer(self._bounce_delay, self._file, (report,)).start()

    def _file(self, report: bytes) -> None:
        assert self._bounces is not None
        try:
            self._bounces.file(report)
        except Exception as exc:  # the relay logs it; a test sees the DSN never arrive
            log.error("sandbox_bounce_not_filed", error=type(exc).__name__)


def smtp_security(settings: SandboxSettings) -> dict[str, Any]:
    """The SMTP server's TLS and AUTH, as a real relay has them (aiosmtpd's parameters)."""
    options: dict[str, Any] = {}
    if settings.sandbox_smtp_security != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(
            str(settings.sandbox_smtp_cert_file), str(settings.sandbox_smtp_key_file)
        )
        if settings.sandbox_smtp_security == "tls":
            options["ssl_context"] = context
            # aiosmtpd's start-up self-check connects by name: the certificate's.
            options["server_hostname"] = settings.sandbox_host
        else:
            options |= {"tls_context": context, "require_starttls": True}
    if settings.sandbox_smtp_username:
        user, password = settings.sandbox_smtp_username, settings.sandbox_smtp_password or ""

        def authenticator(
            _server: Any, _session: Any, _envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            given = (getattr(data, "login", b"") or b"", getattr(data, "password", b"") or b"")
            ok = mechanism in ("PLAIN", "LOGIN") and (
                hmac.compare_digest(given[0], user.encode())
                & hmac.compare_digest(given[1], password.encode())
            )
            return AuthResult(success=ok, handled=False)

        # Under implicit TLS every byte is encrypted already, but aiosmtpd's TLS check knows
        # only STARTTLS (it would hide AUTH): there the handler requires the login instead.
        starttls = settings.sandbox_smtp_security == "starttls"
        options |= {
            "authenticator": authenticator,
            "auth_required": starttls,
            "auth_require_tls": starttls,
        }
    return options


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
        mailbox = BounceMailbox(settings)
        self._smtp = Controller(
            _SmtpHandler(
                self.recorder,
                login_required=bool(settings.sandbox_smtp_username),
                bounces=mailbox if mailbox.configured else None,
                bounce_delay=settings.sandbox_bounce_delay_seconds,
            ),
            hostname=settings.sandbox_host,
            port=settings.sandbox_smtp_port,
            **smtp_security(settings),
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
                Route("/a1/sms", bound(elks_api.send_sms, state), methods=["POST"]),
                Route("/a1/sms", bound(elks_api.history, state), methods=["GET"]),
                Route(
                    "/2010-04-01/Accounts/{account}/Messages.json",
                    bound(twilio_api.create_message, state),
                    methods=["POST"],
                ),
                Route(
                    "/2010-04-01/Accounts/{account}/Messages.json",
                    bound(twilio_api.list_messages, state),
                    methods=["GET"],
                ),
                Route(
                    "/2010-04-01/Accounts/{account}/Messages/{sid}.json",
                    bound(twilio_api.get_message, state),
                    methods=["GET"],
                ),
                Route(
                    "/2010-04-01/Accounts/{account}/Messages/{sid}.json",
                    bound(twilio_api.delete_message, state),
                    methods=["DELETE"],
                ),
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
