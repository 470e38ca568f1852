"""Serving a Starlette app with uvicorn inside an asyncio program, stoppable and hardened.

Every HTTP surface of Palaute goes through `HttpServer`, so every response, errors and the
router's 404 included, carries the security headers, and no request body larger than the
limit is read: it is answered 413 before the application sees it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from palaute_runtime.keys import Keyring

C = TypeVar("C")

MAX_BODY_BYTES = 64 * 1024  # a survey answer or a webhook call is a few hundred bytes
DISCARD_BYTES = 1024 * 1024  # read past the limit at most this much before closing

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
HSTS = "max-age=31536000; includeSubDomains"


def bearer_matches(authorization: str | None, secret: str) -> bool:
    """Whether an Authorization header carries `Bearer <secret>`, in constant time; `secret`
    is a key setting, so during a rotation (`2:new,1:old`) either secret is accepted.

    Bytes, not text: `hmac.compare_digest` refuses text with non-ASCII characters, and a
    header can hold any byte (Starlette hands them over decoded as latin-1).
    """
    given = (authorization or "").encode("latin-1", errors="replace")
    found = False
    for one in Keyring.parse(secret).secrets:
        found |= hmac.compare_digest(given, f"Bearer {one}".encode())
    return found


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """The user and password of an `Authorization: Basic ...` header, or None when there is
    none or it is not valid base64 of UTF-8 `user:password`."""
    if not authorization or not authorization.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


class Hardened:
    """ASGI middleware: security headers on every response, a request body size limit."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Behind a TLS-terminating proxy the scheme is https once uvicorn trusts the proxy.
        extra = {
            **SECURITY_HEADERS,
            **({"Strict-Transport-Security": HSTS} if scope.get("scheme") == "https" else {}),
        }

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [
                    (name.lower().encode(), value.encode())
                    for name, value in extra.items()
                    if name.lower().encode() not in present
                ]
                message = {**message, "headers": headers}
            await send(message)

        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._too_large(send_hardened)
            return
        # Read the body first (it is small by definition); a longer one is refused unread.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._discard_rest(receive, message)
                await self._too_large(send_hardened)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def receive_buffered() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, receive_buffered, send_hardened)

    async def _discard_rest(self, receive: Receive, message: Message) -> None:
        """Read and drop what a streaming client is still sending, up to a bound, so that it
        reads our 413 rather than a reset connection; past the bound the connection closes."""
        dropped = 0
        while message.get("more_body", False) and dropped < DISCARD_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                return
            dropped += len(message.get("body", b""))

    async def _too_large(self, send: Send) -> None:
        body = json.dumps(
            {"error": f"request body larger than {self.max_body_bytes} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class HttpServer:
    """One uvicorn server on loopback (or any host), started and stopped by its owner."""

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        trusted_proxies: str = "",
    ) -> None:
        proxies = [p.strip() for p in trusted_proxies.split(",") if p.strip()]
        config = uvicorn.Config(
            Hardened(app, max_body_bytes),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,  # no banner naming the server software
            # X-Forwarded-For/-Proto only from the proxies the operator named (uvicorn would
            # otherwise believe them from loopback, i.e. from anyone on the host).
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or None,
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None
        self.url = f"http://{host}:{port}"

    async def start(self) -> None:
        """Begin serving and return once the socket listens."""
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError(f"HTTP server on {self.url} stopped at start")
            await asyncio.sleep(0.01)
        if self.url.endswith(":0"):  # port 0: the system picked one; say which
            port = self._server.servers[0].sockets[0].getsockname()[1]
            self.url = f"{self.url.rsplit(':', 1)[0]}:{port}"

    async def stop(self) -> None:
        """Stop serving and wait for open requests to finish."""
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task


def client_of(request: Request) -> str:
    """The client's address: the one that connected, or, behind a trusted proxy
    (PALAUTE_TRUSTED_PROXIES), the one the proxy forwarded."""
    return request.client.host if request.client else "unknown"


def bound(
    handler: Callable[[C, Request], Awaitable[Response]], context: C
) -> Callable[[Request], Awaitable[Response]]:
    """A route's endpoint: the top-level `handler(context, request)` with its context given.
    Keeps the handler's name and docstring (the OpenAPI document is read from it)."""

    async def endpoint(request: Request) -> Response:
        return await handler(context, request)

    return functools.wraps(handler)(endpoint)
