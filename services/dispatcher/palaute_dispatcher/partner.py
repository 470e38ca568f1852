"""The processor partner behind one interface: an HTTP SMS API and an SMTP relay.

A partner gets the address and the message text, nothing else.
"""

from __future__ import annotations

import base64
import email.policy
import email.utils
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Literal, Protocol

import aiohttp
import aiosmtplib

from palaute_runtime.clock import Clock
from palaute_runtime.faults import DependencyUnavailable


class PartnerError(Exception):
    """The partner did not take a message. `transient` errors are worth retrying."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        retry_after: float | None = None,
        throttled: bool = False,
        in_doubt: bool = False,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after
        self.throttled = throttled  # the partner said too many (429): slow down
        # The partner may have taken it (no answer, or a 5xx after the request went): the
        # retry asks this partner first and goes nowhere else.
        self.in_doubt = in_doubt


@dataclass(frozen=True)
class Outgoing:
    """One message for the partner to deliver."""

    address: str
    subject: str
    text: str
    idempotency_key: str
    html: str = ""  # email: the HTML alternative
    language: str = ""  # email: Content-Language
    unsubscribe_url: str = ""  # email: List-Unsubscribe, one click (RFC 8058)
    sender: str = ""  # the programme's SMS sender id or email From; else the partner's own
    reply_to: str = ""  # email: Reply-To
    return_path: str = ""  # email: the envelope sender (VERP, for bounces); else From
    made_at: datetime | None = None  # when its invitation was made (a partner may look back)


class Partner(Protocol):
    """Delivers one message; returns the partner's id for it. Same key → same message."""

    async def send(self, message: Outgoing) -> str: ...


class DataProcessor(Protocol):
    """A partner that deletes what it keeps for an address when told to (a processor)."""

    async def delete_data(self, addresses: list[str]) -> str: ...


class BasicAuthApi:
    """An HTTP API reached with Basic auth (a real SMS provider's): one connection pool,
    opened inside the event loop, closed with the service."""

    def __init__(self, user: str, password: str, timeout: float) -> None:
        credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {credentials}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        """Release the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpSmsPartner:
    """The partner's SMS API: POST /v1/sms with an Idempotency-Key header."""

    def __init__(self, base_url: str, api_key: str, sender: str, timeout: float = 10.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._sender = sender
        self._session: aiohttp.ClientSession | None = None  # made inside the event loop

    async def send(self, message: Outgoing) -> str:
        """Hand one SMS to the partner."""
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        try:
            async with self._session.post(
                f"{self._base_url}/v1/sms",
                json={
                    "from": message.sender or self._sender,
                    "to": message.address,
                    "text": message.text,
                },
                headers={"Idempotency-Key": message.idempotency_key},
            ) as response:
                status = response.status
                retry_after = _seconds(response.headers.get("Retry-After"))
                body = await response.json(content_type=None) if status in (200, 201, 202) else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # ValueError: an accepted answer that is not JSON; the outcome is unknown, and
            # the idempotency key makes the retry safe.
            raise PartnerError(
                f"SMS API unreachable: {type(exc).__name__}", transient=True, in_doubt=True
            ) from exc
        if body is not None:
            try:
                message_id = str(body["id"])
            except (KeyError, TypeError) as exc:
                raise PartnerError("SMS API accepted without an id", transient=True) from exc
            return message_id
        transient = status == 429 or status >= 500
        raise PartnerError(
            f"SMS API answered {status}",
            transient=transient,
            retry_after=retry_after,
            throttled=status == 429,
            in_doubt=status >= 500,
        )

    async def delete_data(self, addresses: list[str]) -> str:
        """Instruct the partner (a processor) to delete what it keeps for these addresses;
        returns its deletion id. DependencyUnavailable when it cannot answer now."""
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        try:
            async with self._session.post(
                f"{self._base_url}/v1/data-deletion", json={"addresses": addresses}
            ) as response:
                status = response.status
                body = await response.json(content_type=None) if status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise DependencyUnavailable(f"partner deletion: {type(exc).__name__}") from exc
        if body is None or "id" not in body:
            if status == 429 or status >= 500 or body is not None:
                raise DependencyUnavailable(f"partner deletion answered {status}")
            raise PartnerError(f"partner deletion refused: {status}", transient=False)
        return str(body["id"])

    async def close(self) -> None:
        """Release the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class SmtpEmailPartner:
    """The partner's SMTP relay. The Message-ID is derived from the idempotency key, so a
    retry after an uncertain hand-over is recognisably the same message.

    `security`: `starttls` (required: a relay that does not offer it is refused), `tls`
    (implicit TLS from the first byte, port 465) or `none` (a relay on this machine). The
    certificate is always verified, against `ca_file` alone when given. A relay that cannot
    be reached, will not do TLS, or refuses our login is an infrastructure fault: transient,
    retried, never the message's failure."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        timeout: float = 10.0,
        *,
        security: Literal["starttls", "tls", "none"] = "none",
        ca_file: Path | None = None,
        username: str | None = None,
        password: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or Clock()  # the Date header: the dispatcher's clock
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout
        self._security = security
        self._tls = (
            ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            if security != "none"
            else None
        )
        self._username = username
        self._password = password if username else None
        self._domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "palaute.invalid"

    async def send(self, message: Outgoing) -> str:
        """Hand one email to the relay."""
        mail = self._mail(message)
        sender = message.return_path or email.utils.parseaddr(str(mail["From"]))[1]
        # An address that is not ASCII (malmö@…) needs SMTPUTF8 (RFC 6531), as aiosmtplib's
        # own send_message would ask; we flatten the message ourselves (wire_bytes).
        utf8 = not (sender + message.address).isascii()
        try:
            async with aiosmtplib.SMTP(
                hostname=self._host,
                port=self._port,
                timeout=self._timeout,
                use_tls=self._security == "tls",
                start_tls=self._security == "starttls",
                tls_context=self._tls,
                username=self._username,
                password=self._password,
            ) as relay:
                eight_bit = relay.supports_extension("8bitmime")
                options = ["SMTPUTF8"] * utf8 + ["BODY=8BITMIME"] * eight_bit
                await relay.sendmail(
                    sender,
                    [message.address],
                    wire_bytes(mail, utf8=utf8, eight_bit=eight_bit),
                    mail_options=options,
                )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise PartnerError(
                f"SMTP relay refused our login ({exc.code}): check "
                "PALAUTE_PARTNER_SMTP_USERNAME and PALAUTE_PARTNER_SMTP_PASSWORD",
                transient=True,
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise PartnerError(
                f"SMTP relay answered {exc.code}", transient=400 <= exc.code < 500
            ) from exc
        except ssl.SSLError as exc:
            raise PartnerError(
                f"SMTP relay's TLS failed ({exc.reason or type(exc).__name__}): is its "
                "certificate trusted (PALAUTE_PARTNER_SMTP_CA_FILE)?",
                transient=True,
            ) from exc
        except aiosmtplib.SMTPException as exc:
            if isinstance(exc.__cause__, ssl.SSLError) or "CERTIFICATE_VERIFY" in str(exc):
                raise PartnerError(
                    "SMTP relay's TLS failed (certificate not verified): is its certificate "
                    "trusted (PALAUTE_PARTNER_SMTP_CA_FILE)?",
                    transient=True,
                ) from exc
            if "STARTTLS" in str(exc):
                raise PartnerError(
                    "SMTP relay offers no STARTTLS, which PALAUTE_PARTNER_SMTP_SECURITY="
                    "starttls requires: nothing is sent in clear",
                    transient=True,
                ) from exc
            raise PartnerError(
                f"SMTP relay unreachable: {type(exc).__name__}", transient=True
            ) from exc
        except OSError as exc:
            raise PartnerError(
                f"SMTP relay unreachable: {type(exc).__name__}", transient=True
            ) from exc
        return str(mail["Message-ID"])

    def _mail(self, message: Outgoing) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = message.sender or self._sender
        mail["To"] = message.address
        if message.reply_to:
            mail["Reply-To"] = message.reply_to
        mail["Subject"] = message.subject
        mail["Date"] = email.utils.format_datetime(self._clock.now())
        mail["Message-ID"] = f"<{message.idempotency_key}@{self._domain}>"
        mail.set_content(message.text)
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        if message.language:  # after the body: making it multipart moves Content-* headers
            mail["Content-Language"] = message.language
        if message.unsubscribe_url:
            mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return mail

    async def close(self) -> None:
        """Nothing to release: one connection per message."""


# RFC 5322's limit for a line, not the 78 characters it recommends: folded at 78, a header
# with a long URL and no space (List-Unsubscribe) leaves as an RFC 2047 encoded word, and
# Gmail and Yahoo, which read the header as it is on the wire, ignore it.
def wire_bytes(mail: EmailMessage, *, utf8: bool = False, eight_bit: bool = True) -> bytes:
    """The message as it goes to the relay: CRLF lines, headers unfolded up to 998
    characters, so List-Unsubscribe and List-Unsubscribe-Post stay plain text (RFC 8058);
    UTF-8 headers where the relay takes SMTPUTF8 for a non-ASCII address, and 8-bit bodies
    only to a relay that says 8BITMIME."""
    policy = (email.policy.SMTPUTF8 if utf8 else email.policy.SMTP).clone(
        max_line_length=998, cte_type="8bit" if eight_bit else "7bit"
    )
    return mail.as_bytes(policy=policy)


def _seconds(header: str | None) -> float | None:
    if header is None:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        return None
