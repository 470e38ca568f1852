"""Email bounces: the mail system's delivery status notifications (RFC 3464), read from a
bounce mailbox over IMAP, tied to their invitation by a VERP return path.

- Each email invitation leaves with its own return path (the envelope's MAIL FROM):
  `bounces+<invitation id>-<tag>@example.fi` for PALAUTE_BOUNCE_ADDRESS
  `bounces@example.fi`. The tag is a keyed MAC of the invitation id
  (PALAUTE_BOUNCE_SECRET), so a bounce names its invitation without the customer's address
  and nobody can forge one to suppress an address.
- A relay that cannot deliver sends its DSN there; the organisation's mail server files it in
  the bounce mailbox. The dispatcher reads that mailbox every PALAUTE_BOUNCE_POLL_SECONDS:
  a DSN that failed the message (`Action: failed`) marks the invitation undelivered with
  the status and diagnostic (hard for 5.x.x, soft for 4.x.x), announces it on
  survey.delivery-status.v1 (the funnel) and survey.email-bounced.v1 (consent's
  suppression list), and is then deleted from the mailbox; a DSN that only says `delayed`
  or `delivered` is deleted without effect. Anything else (an auto-reply, spam, a bounce
  whose tag does not verify) is marked seen and left for a person to look at.
- Recording comes first and deleting after: a dispatcher killed in between reads the DSN
  again, and the invitation's status moves only once, so nothing is announced twice.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email
import email.policy
import email.utils
import hmac
import imaplib
import quopri
import re
import ssl
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any, Literal

import flufl.bounce
import structlog

from palaute_dispatcher.core import Core
from palaute_dispatcher.messages import delivery_of
from palaute_dispatcher.repository import Invitations
from palaute_runtime.faults import DependencyUnavailable
from palaute_runtime.keys import Keyring
from palaute_runtime.metrics import INVITATIONS
from palaute_runtime.unit_of_work import uow
from palaute_schemas import DELIVERY_STATUS, EMAIL_BOUNCED, BounceKind, EmailBounced

log = structlog.get_logger("palaute.dispatcher.bounces")

# 64 bits of MAC: enough that a forged bounce is never taken. A VERP address adds "+", 32
# hex, "-" and the tag to the bounce address's local part (50 characters: settings.py).
TAG_HEX = 16
# Where a bounce names the address it was sent to: the mail server's envelope headers first.
ENVELOPE_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "To")
_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})")
FETCH_AT_MOST = 200  # DSNs read per poll (the rest wait for the next)


@dataclass(frozen=True)
class Verp:
    """Return paths for one bounce address and key."""

    address: str
    keys: Keyring

    @property
    def _parts(self) -> tuple[str, str]:
        local, _, domain = self.address.lower().rpartition("@")
        return local, domain

    def return_path(self, invitation_id: uuid.UUID) -> str:
        """The envelope sender of this invitation's email."""
        local, domain = self._parts
        tag = self.keys.hmacs(f"bounce:{invitation_id.hex}")[0][:TAG_HEX]
        return f"{local}+{invitation_id.hex}-{tag}@{domain}"

    def invitation_of(self, address: str) -> uuid.UUID | None:
        """The invitation a return path names, when its tag verifies under a listed key."""
        local, domain = self._parts
        pattern = (
            rf"^{re.escape(local)}\+([0-9a-f]{{32}})-([0-9a-f]{{{TAG_HEX}}})@{re.escape(domain)}$"
        )
        found = re.match(pattern, address.strip().lower())
        if found is None:
            return None
        hex_id, tag = found.groups()
        expected = [mac[:TAG_HEX] for mac in self.keys.hmacs(f"bounce:{hex_id}")]
        if not any(_same(tag, mac) for mac in expected):
            return None
        return uuid.UUID(hex_id)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class Bounce:
    """What one DSN says of one of our invitations."""

    invitation_id: uuid.UUID
    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # e.g. 5.1.1
    diagnostic: str

    @property
    def kind(self) -> BounceKind | None:
        """hard or soft for a message the mail system gave up on; None otherwise."""
        if self.action != "failed":
            return None
        return "hard" if self.status.startswith("5") else "soft"

    @property
    def settled(self) -> bool:
        """Whether reading it is all there is to do: a failure (recorded), or a report that
        changes nothing (a delay warning, a delivery). Any other action is left for a
        person rather than deleted unread."""
        return self.kind is not None or self.action in _HARMLESS

    @property
    def reason(self) -> str:
        """What the funnel and the operator see: never the address."""
        return f"{self.kind} bounce {self.status}: {self.diagnostic}"[:200]


Reading = Bounce | Literal["not_a_bounce", "not_ours"]


_HARMLESS = frozenset({"delayed", "delivered", "relayed", "expanded"})
# Actions some mail systems write for "failed" (OpenSMTPD: `error`).
_FAILED = frozenset({"failed", "error"})
_REPORT_TYPES = frozenset({"delivery-status", "global-delivery-status"})


def _action(field: str) -> str:
    """An Action field's value without its comments (`failed (bad mailbox)`), lower case;
    the non-standard words for a failure read as `failed`."""
    words = re.sub(r"\([^()]*\)", " ", field).lower().split()
    action = words[0] if words else ""
    return "failed" if action in _FAILED else action


def read_dsn(raw: bytes, verp: Verp) -> Reading:
    """One mailbox message read: a Bounce of one of our invitations, a DSN (or anything)
    that is not ours, or no DSN at all. RFC 3464 and RFC 6533 (global) delivery status
    notifications are read field by field; a bounce of another form (qmail, older
    Exchange) under a valid VERP tag by GNU Mailman's detectors (flufl.bounce)."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    report_type = message.get_param("report-type")
    if message.get_content_type() != "multipart/report" or (
        not isinstance(report_type, str) or report_type.lower() not in _REPORT_TYPES
    ):
        return _other_bounce(message, verp)
    invitation = _invitation_named(message, verp)
    if invitation is None:
        return "not_ours"
    for recipient in _recipient_fields(message):
        action = _action(recipient.get("Action") or "")
        status = _STATUS.match(recipient.get("Status") or "")
        if not action or status is None:
            continue
        return Bounce(
            invitation,
            action,
            ".".join(status.groups()),
            _diagnostic(recipient.get("Diagnostic-Code") or ""),
        )
    return "not_a_bounce"


def _other_bounce(message: Message, verp: Verp) -> Reading:
    """A bounce that is no DSN, to a return path of ours: hard for a permanent failure,
    soft for a temporary one, as flufl.bounce's detectors read it."""
    invitation = _invitation_named(message, verp)
    if invitation is None:
        return "not_a_bounce"
    temporary, permanent = flufl.bounce.all_failures(message)
    if permanent:
        return Bounce(invitation, "failed", "5.0.0", "permanent failure (a bounce of no RFC form)")
    if temporary:
        return Bounce(invitation, "failed", "4.0.0", "temporary failure (a bounce of no RFC form)")
    return "not_a_bounce"


def _invitation_named(message: Message, verp: Verp) -> uuid.UUID | None:
    for header in ENVELOPE_HEADERS:
        for _, address in email.utils.getaddresses(message.get_all(header) or []):
            invitation = verp.invitation_of(address)
            if invitation is not None:
                return invitation
    return None


def _recipient_fields(message: Message) -> list[Message]:
    """The per-recipient blocks of the message/delivery-status part (RFC 3464 2.3)."""
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            blocks = part.get_payload()
            if isinstance(blocks, list):
                return [block for block in blocks[1:] if isinstance(block, Message)]
        if part.get_content_type() == "message/global-delivery-status":
            # RFC 6533: the same fields in UTF-8, which the email package leaves as text.
            # The parser takes any message/* part for a message: its text is its parts'.
            text = "".join(str(inner) for inner in part.get_payload())
            encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
            if encoding in ("base64", "quoted-printable"):  # 8-bit text, encoded on the way
                text = _decoded(text, encoding)
            fields = re.split(r"\r?\n[ \t]*\r?\n", text.strip())
            return [email.message_from_string(block) for block in fields[1:] if block.strip()]
    return []


def _decoded(text: str, encoding: str) -> str:
    """A body in base64 or quoted-printable, as UTF-8 text ("" when it is no base64)."""
    try:
        raw = (
            base64.b64decode("".join(text.split()), validate=False)
            if encoding == "base64"
            else quopri.decodestring(text.encode())
        )
    except (binascii.Error, ValueError):
        return ""
    return raw.decode("utf-8", "replace")


def _diagnostic(code: str) -> str:
    """The diagnostic's text without its type ("smtp; 550 5.1.1 ..."), and without anything
    that looks like an address (relays often quote the recipient)."""
    text = code.partition(";")[2] or code
    text = re.sub(r"<?[^\s<>@]+@[^\s<>@]+>?", "<address>", " ".join(text.split()))
    return text[:150]


@dataclass(frozen=True)
class ImapSettings:
    """Where the bounce mailbox is and how to log in."""

    host: str
    port: int
    security: Literal["tls", "starttls", "none"]
    username: str
    password: str
    mailbox: str
    ca_file: Path | None


class BounceMailbox:
    """The bounce mailbox over IMAP (imaplib in a worker thread: one connection per step)."""

    def __init__(self, settings: ImapSettings, timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._tls = (
            ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
            if settings.security != "none"
            else None
        )

    def _connect(self) -> imaplib.IMAP4:
        s = self.settings
        imap: imaplib.IMAP4
        if s.security == "tls":
            imap = imaplib.IMAP4_SSL(s.host, s.port, ssl_context=self._tls, timeout=self.timeout)
        else:
            imap = imaplib.IMAP4(s.host, s.port, timeout=self.timeout)
            if s.security == "starttls":
                imap.starttls(ssl_context=self._tls)
        imap.login(s.username, s.password)
        status, _ = imap.select(_quoted(s.mailbox))
        if status != "OK":
            imap.logout()
            raise imaplib.IMAP4.error(f"no mailbox {s.mailbox!r}")
        return imap

    def _unseen(self) -> list[tuple[str, bytes]]:
        imap = self._connect()
        try:
            _, found = imap.uid("SEARCH", "UNSEEN")
            uids = [uid.decode() for uid in (found[0] or b"").split()[:FETCH_AT_MOST]]
            messages = []
            for uid in uids:
                _, data = imap.uid("FETCH", uid, "(BODY.PEEK[])")
                raw = next((item[1] for item in data if isinstance(item, tuple)), None)
                if isinstance(raw, bytes):
                    messages.append((uid, raw))
            return messages
        finally:
            imap.logout()

    def _settle(self, done: Sequence[str], left: Sequence[str]) -> None:
        imap = self._connect()
        try:
            if done:
                imap.uid("STORE", ",".join(done), "+FLAGS.SILENT", r"(\Deleted)")
                imap.expunge()
            if left:
                imap.uid("STORE", ",".join(left), "+FLAGS.SILENT", r"(\Seen)")
        finally:
            imap.logout()

    def _delete_about(self, addresses: Sequence[str]) -> int:
        imap = self._connect()
        try:
            found: set[bytes] = set()
            for address in addresses:
                if "@" not in address:
                    continue  # a phone number: no mail about it here
                if address.isascii():
                    status, hits = imap.uid("SEARCH", "CHARSET", "UTF-8", "TEXT", _quoted(address))
                else:  # as a literal: imaplib sends its own arguments as ASCII
                    imap.literal = address.encode()  # type: ignore[assignment]
                    status, hits = imap.uid("SEARCH", "CHARSET", "UTF-8", "TEXT")
                if status != "OK":
                    raise imaplib.IMAP4.error(f"SEARCH answered {status}")
                found.update((hits[0] or b"").split())
            if found:
                uids = b",".join(sorted(found)).decode()
                imap.uid("STORE", uids, "+FLAGS.SILENT", r"(\Deleted)")
                imap.expunge()
            return len(found)
        finally:
            imap.logout()

    async def delete_data(self, addresses: list[str]) -> str:
        """Delete every message in the mailbox that mentions one of these addresses (DSNs
        left for a person, auto-replies); returns how many. DependencyUnavailable when the
        mailbox cannot be reached (the deletion job tries again)."""
        try:
            deleted = await asyncio.to_thread(self._delete_about, addresses)
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
            raise DependencyUnavailable(f"bounce mailbox: {_imap_error(exc)}") from exc
        return f"bounce-mailbox-{deleted}"

    async def unseen(self) -> list[tuple[str, bytes]]:
        """The messages not yet looked at: (uid, raw message)."""
        return await asyncio.to_thread(self._unseen)

    async def settle(self, done: Sequence[str], left: Sequence[str]) -> None:
        """Delete the messages dealt with; mark the others seen, for a person."""
        await asyncio.to_thread(self._settle, done, left)


def _quoted(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Bounces:
    """Reads the bounce mailbox and records what the DSNs say."""

    def __init__(self, core: Core, verp: Verp, mailbox: BounceMailbox) -> None:
        self.core = core
        self.verp = verp
        self.mailbox = mailbox

    async def read_mailbox(self) -> dict[str, int]:
        """One poll: read every unseen message, record the bounces, then settle the mailbox.
        An unreachable mailbox is logged and tried again at the next poll."""
        try:
            messages = await self.mailbox.unseen()
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
            log.warning("bounce_mailbox_unreachable", error=_imap_error(exc))
            return {}
        counts: dict[str, int] = {}
        done: list[str] = []
        left: list[str] = []
        readings = [(uid, read_dsn(raw, self.verp)) for uid, raw in messages]
        bounces = [r for _, r in readings if isinstance(r, Bounce) and r.kind is not None]
        outcomes = await self.record(bounces) if bounces else {}
        for uid, reading in readings:
            if isinstance(reading, Bounce) and reading.settled:
                key = outcomes.get(reading.invitation_id, "no_effect")
                done.append(uid)
            elif isinstance(reading, Bounce):
                key = "unknown_action"  # read, not understood: a person looks at it
                left.append(uid)
            else:
                key = reading
                left.append(uid)
            counts[key] = counts.get(key, 0) + 1
        if done or left:
            try:
                await self.mailbox.settle(done, left)
            except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
                # Recorded already: read again next time, they change nothing.
                log.warning("bounce_mailbox_unreachable", error=_imap_error(exc))
            log.info("bounce_mailbox_read", **counts)
        return counts

    async def record(self, bounces: Sequence[Bounce]) -> Mapping[uuid.UUID, str]:
        """Mark each bounced invitation undelivered once and announce it; one transaction.
        Returns, per invitation, "hard" or "soft" when recorded now, else "unchanged"."""
        now = self.core.clock.now()
        outcomes: dict[uuid.UUID, str] = {}
        async with uow(self.core.engine, self.core.outbox) as work:
            repository = Invitations(work.connection)
            for bounce in bounces:
                row = await repository.bounced(bounce.invitation_id, bounce.reason, now)
                if row is None:
                    outcomes[bounce.invitation_id] = "unchanged"
                    continue
                assert bounce.kind is not None
                outcomes[bounce.invitation_id] = bounce.kind
                invitation: dict[str, Any] = dict(row._mapping)
                if invitation["reminder_of"] is None:
                    await work.publish(
                        DELIVERY_STATUS, delivery_of(invitation, "undelivered", bounce.reason, now)
                    )
                if invitation["contact_id"]:
                    await work.publish(
                        EMAIL_BOUNCED,
                        EmailBounced(
                            invitation_id=bounce.invitation_id,
                            contact_id=invitation["contact_id"],
                            kind=bounce.kind,
                            status=bounce.status,
                            reason=bounce.diagnostic,
                            bounced_at=now,
                        ),
                    )
        for outcome in outcomes.values():
            if outcome != "unchanged":
                INVITATIONS.labels(channel="email", status="undelivered").inc()
        return outcomes


def _imap_error(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__
