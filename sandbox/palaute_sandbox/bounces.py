"""The sandbox relay's bounces: a message it accepted for a simulated address comes back as
an RFC 3464 delivery status notification to the message's envelope sender (its return
path), filed in the bounce mailbox over IMAP (APPEND), as the organisation's mail server
would file it, with the Delivered-To and X-Original-To headers a mail server adds.

The simulated addresses (the local part, any domain), like a real provider's mailbox
simulator:
- `bounce`, `bounce-…`, `bounce+…`: failed for good, 5.1.1 (no such user);
- `full`, `full-…`, `full+…`: failed for now, 4.2.2 (mailbox full);
- `delayed`, `delayed-…`, `delayed+…`: a warning only (Action: delayed, 4.4.1).
Every other address is delivered: no DSN.
"""

from __future__ import annotations

import email.utils
import imaplib
import re
import ssl
import time
import uuid
from dataclasses import dataclass

from palaute_sandbox.settings import SandboxSettings

HOST = "sandbox.palaute.invalid"
_SIMULATED = {
    "bounce": ("failed", "5.1.1", "550 5.1.1 Recipient address rejected: User unknown"),
    "full": ("failed", "4.2.2", "452 4.2.2 Mailbox full: try again later"),
    "delayed": ("delayed", "4.4.1", "421 4.4.1 Connection timed out, still trying"),
}


@dataclass(frozen=True)
class Outcome:
    """What becomes of one recipient."""

    action: str
    status: str
    diagnostic: str


def simulated(recipient: str) -> Outcome | None:
    """The simulated outcome of a recipient, or None (delivered)."""
    local = recipient.rpartition("@")[0].lower()
    name = re.split(r"[-+]", local, maxsplit=1)[0]
    found = _SIMULATED.get(name)
    return Outcome(*found) if found else None


def dsn(return_path: str, recipient: str, outcome: Outcome, original: bytes) -> bytes:
    """The delivery status notification for one recipient, as filed in the return path's
    mailbox (RFC 3464: multipart/report with a message/delivery-status part and the
    original message's headers)."""
    boundary = f"dsn-{uuid.uuid4().hex}"
    # As relays do, the diagnostic quotes the recipient (the reader must not keep it).
    code, _, text = outcome.diagnostic.partition(" ")
    quoted = f"{code} {text.split(' ', 1)[0]} <{recipient}>: {text.split(' ', 1)[1]}"
    headers = original.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")
    now = email.utils.formatdate(localtime=False)
    subject = (
        "Undelivered Mail Returned to Sender"
        if outcome.action == "failed"
        else "Delayed Mail (still being retried)"
    )
    human = (
        f"This is the mail system at host {HOST}.\r\n\r\n"
        f"Your message could not be delivered to {recipient}: {outcome.diagnostic}\r\n"
        if outcome.action == "failed"
        else f"This is the mail system at host {HOST}.\r\n\r\nDelivery to {recipient} is "
        f"delayed: {outcome.diagnostic}\r\n"
    )
    lines = [
        f"Delivered-To: {return_path}",
        f"X-Original-To: {return_path}",
        "Return-Path: <>",
        f"From: Mail Delivery System <MAILER-DAEMON@{HOST}>",
        f"To: {return_path}",
        f"Subject: {subject}",
        f"Date: {now}",
        f"Message-ID: <{uuid.uuid4().hex}@{HOST}>",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "",
        human,
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {HOST}",
        f"Arrival-Date: {now}",
        "",
        f"Final-Recipient: rfc822; {recipient}",
        f"Original-Recipient: rfc822; {recipient}",
        f"Action: {outcome.action}",
        f"Status: {outcome.status}",
        f"Remote-MTA: dns; mx.{recipient.rpartition('@')[2]}",
        f"Diagnostic-Code: smtp; {quoted}",
        "",
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "",
        headers.replace("\r\n", "\n").replace("\n", "\r\n"),
        "",
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode()


class BounceMailbox:
    """Files DSNs in the bounce mailbox over IMAP (blocking: call from a thread)."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return bool(self.settings.sandbox_bounce_imap_host)

    def file(self, message: bytes) -> None:
        """APPEND one message to the mailbox (three tries a second apart)."""
        s = self.settings
        context = ssl.create_default_context(
            cafile=str(s.sandbox_bounce_imap_ca_file) if s.sandbox_bounce_imap_ca_file else None
        )
        for attempt in range(3):
            try:
                imap = imaplib.IMAP4_SSL(
                    s.sandbox_bounce_imap_host,
                    s.sandbox_bounce_imap_port,
                    ssl_context=context,
                    timeout=10,
                )
                try:
                    imap.login(s.sandbox_bounce_imap_username, s.sandbox_bounce_imap_password)
                    imap.append(s.sandbox_bounce_imap_mailbox, None, None, message)
                finally:
                    imap.logout()
                return
            except (OSError, imaplib.IMAP4.error):
                if attempt == 2:
                    raise
                time.sleep(1)
