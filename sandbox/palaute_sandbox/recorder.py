"""What the sandbox received, kept in memory (the SMTP server writes from its own thread)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from palaute_runtime.clock import Clock

_clock = Clock()  # the partner's own clock: real time


class Recorder:
    """Every accepted message once, every request counted, keyed by idempotency key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, dict[str, Any]] = {}
        self._by_id: dict[str, dict[str, Any]] = {}
        self.sms: list[dict[str, Any]] = []
        self.email: list[dict[str, Any]] = []
        self.requests = {"sms": 0, "email": 0}
        self.replays = {"sms": 0, "email": 0}
        self.rejected = {"sms": 0, "email": 0}  # calls answered with an injected failure
        self.throttled = {"sms": 0, "email": 0}  # calls over the contracted rate (429)
        self.bounces: dict[str, int] = {}  # DSNs the relay sent, by action and status
        self.receipts: list[dict[str, str]] = []  # every receipt the collector took
        # Deletion instructions carried out (a processor must keep proof): never an address.
        self.deletions: list[dict[str, Any]] = []

    def record(
        self, channel: str, key: str, fields: dict[str, Any], *, message_id: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Store a message under its key (and id, when the API names it); returns it and
        whether the key was seen before."""
        with self._lock:
            self.requests[channel] += 1
            if key in self._by_key:
                self.replays[channel] += 1
                return self._by_key[key], True
            message = {
                "id": message_id or f"{channel}-{uuid.uuid4()}",
                "idempotency_key": key,
                "received_at": _clock.now().isoformat(),
                **fields,
            }
            self._by_key[key] = message
            self._by_id[message["id"]] = message
            (self.sms if channel == "sms" else self.email).append(message)
            return message, False

    def sms_to(self, number: str) -> list[dict[str, Any]]:
        """The SMS messages to one number, oldest first (an API's listing by recipient)."""
        with self._lock:
            return [m for m in self.sms if m.get("to") == number]

    def message(self, message_id: str) -> dict[str, Any] | None:
        """One message by its id (an API's message resource)."""
        with self._lock:
            return self._by_id.get(message_id)

    def delete_message(self, message_id: str) -> bool:
        """Delete one message by its id (an API's deletion of a message resource)."""
        with self._lock:
            message = self._by_id.pop(message_id, None)
            if message is None:
                return False
            self._by_key.pop(message["idempotency_key"], None)
            self.sms = [m for m in self.sms if m["id"] != message_id]
            self.email = [m for m in self.email if m["id"] != message_id]
            return True

    def erase(self, addresses: set[str]) -> dict[str, Any]:
        """Delete every message to any of these addresses (case-insensitive); returns the
        record of the deletion, which keeps the count and time only."""
        wanted = {address.lower() for address in addresses}

        def to(message: dict[str, Any]) -> set[str]:
            addressed = message.get("to")
            listed = addressed if isinstance(addressed, list) else [addressed]
            return {str(one).lower() for one in listed}

        with self._lock:
            gone = [m for m in self.sms + self.email if to(m) & wanted]
            self.sms = [m for m in self.sms if not to(m) & wanted]
            self.email = [m for m in self.email if not to(m) & wanted]
            for message in gone:
                self._by_id.pop(message["id"], None)
                self._by_key.pop(message["idempotency_key"], None)
            done = {
                "id": f"deletion-{uuid.uuid4()}",
                "at": _clock.now().isoformat(),
                "messages_deleted": len(gone),
            }
            self.deletions.append(done)
            return done

    def reject(self, channel: str) -> None:
        """Count a call that the fault switch answered with an error."""
        with self._lock:
            self.rejected[channel] += 1

    def receipt_taken(self, receipt: dict[str, str]) -> None:
        """A receipt our webhook took: remember it, and mark the message with its status."""
        with self._lock:
            self.receipts.append(receipt)
            message = self._by_id.get(receipt["id"])
            if message is not None:
                message["delivery"] = receipt["status"]

    def bounced(self, status: str, action: str) -> None:
        """Count a DSN the relay sent back."""
        with self._lock:
            key = f"{action} {status}"
            self.bounces[key] = self.bounces.get(key, 0) + 1

    def throttle(self, channel: str) -> None:
        """Count a call refused for going over the contracted rate."""
        with self._lock:
            self.throttled[channel] += 1

    def snapshot(self) -> dict[str, Any]:
        """Everything received so far, as JSON-ready data."""
        with self._lock:
            return {
                "sms": list(self.sms),
                "email": list(self.email),
                "requests": dict(self.requests),
                "replays": dict(self.replays),
                "rejected": dict(self.rejected),
                "throttled": dict(self.throttled),
                "deletions": list(self.deletions),
            }

    def counts(self) -> dict[str, dict[str, int]]:
        """How many messages were accepted, requested and replayed, by channel."""
        with self._lock:
            return {
                "accepted": {"sms": len(self.sms), "email": len(self.email)},
                "requests": dict(self.requests),
                "replays": dict(self.replays),
                "rejected": dict(self.rejected),
                "throttled": dict(self.throttled),
                "bounces": dict(self.bounces),
            }
