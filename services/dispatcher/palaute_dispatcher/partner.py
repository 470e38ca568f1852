"""The processor partner behind one interface: an HTTP SMS API and an SMTP relay.

A partner gets the address and the message text, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib
import httpx


class PartnerError(Exception):
    """The partner did not take a message. `transient` errors are worth retrying."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


@dataclass(frozen=True)
class Outgoing:
    """One message for the partner to deliver."""

    address: str
    subject: str
    text: str
    idempotency_key: str


class Partner(Protocol):
    """Delivers one message; returns the partner's id for it. Same key → same message."""

    async def send(self, message: Outgoing) -> str: ...


class HttpSmsPartner:
    """The partner's SMS API: POST /v1/sms with an Idempotency-Key header."""

    def __init__(self, base_url: str, api_key: str, sender: str, timeout: float = 10.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, headers={"Authorization": f"Bearer {api_key}"}
        )
        self._sender = sender

    async def send(self, message: Outgoing) -> str:
        """Hand one SMS to the partner."""
        try:
            response = await self._client.post(
                "/v1/sms",
                json={"from": self._sender, "to": message.address, "text": message.text},
                headers={"Idempotency-Key": message.idempotency_key},
            )
        except httpx.HTTPError as exc:
            raise PartnerError(
                f"SMS API unreachable: {type(exc).__name__}", transient=True
            ) from exc
        if response.status_code in (200, 201, 202):
            message_id: str = response.json()["id"]
            return message_id
        retry_after = _seconds(response.headers.get("Retry-After"))
        transient = response.status_code == 429 or response.status_code >= 500
        raise PartnerError(
            f"SMS API answered {response.status_code}", transient=transient, retry_after=retry_after
        )

    async def close(self) -> None:
        """Release the connection pool."""
        await self._client.aclose()


class SmtpEmailPartner:
    """The partner's SMTP relay. The Message-ID is derived from the idempotency key."""

    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout

    async def send(self, message: Outgoing) -> str:
        """Hand one email to the relay."""
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = message.address
        email["Subject"] = message.subject
        message_id = f"<{message.idempotency_key}@palaute.invalid>"
        email["Message-ID"] = message_id
        email.set_content(message.text)
        try:
            await aiosmtplib.send(
                email, hostname=self._host, port=self._port, timeout=self._timeout, start_tls=False
            )
        except aiosmtplib.SMTPResponseException as exc:
            raise PartnerError(
                f"SMTP relay answered {exc.code}", transient=400 <= exc.code < 500
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise PartnerError(
                f"SMTP relay unreachable: {type(exc).__name__}", transient=True
            ) from exc
        return message_id

    async def close(self) -> None:
        """Nothing to release: one connection per message."""


def _seconds(header: str | None) -> float | None:
    if header is None:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        return None
