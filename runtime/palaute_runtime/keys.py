"""Secrets with key ids, so that every key can be rotated without losing what the old one
made.

A key setting (PALAUTE_*_KEY, PALAUTE_RECIPIENT_PEPPER, the partner's shared secrets) holds
one secret, or several as `ID:SECRET` pairs separated by commas: `2:new-secret,1:old-secret`.
The first one writes (signs, seals, chains, hashes); every one listed still reads (verifies,
opens, matches). Rotation is therefore: put the new key first and keep the old one after it
for as long as anything made with it lives (the README says how long for each), then drop it.
A bare secret is the key with id `0`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from dataclasses import dataclass

_PAIR = re.compile(r"^([A-Za-z0-9_-]{1,16}):(.+)$")
BARE_ID = "0"


@dataclass(frozen=True)
class Keyring:
    """A key setting read as (id, secret) pairs; the first is the current key."""

    keys: tuple[tuple[str, str], ...]

    @classmethod
    @functools.cache  # a key setting is parsed on hot paths (every seal, cookie, bearer)
    def parse(cls, text: str) -> Keyring:
        """'secret', or 'id:secret,id:secret' (current first); ValueError on an empty secret
        or an id given twice."""
        if not text.strip():
            raise ValueError("a key must not be empty")
        if not _PAIR.match(text.strip()):
            return cls(((BARE_ID, text),))
        pairs = [_PAIR.match(part.strip()) for part in text.split(",")]
        if not all(pairs):
            raise ValueError("a key list is ID:SECRET pairs separated by commas")
        keys = tuple((match.group(1), match.group(2)) for match in pairs if match)
        ids = [key_id for key_id, _ in keys]
        if len(set(ids)) != len(ids):
            raise ValueError(f"a key id is listed twice in {', '.join(ids)}")
        return cls(keys)

    @property
    def current_id(self) -> str:
        """The id of the key that writes."""
        return self.keys[0][0]

    @property
    def current(self) -> str:
        """The secret that writes."""
        return self.keys[0][1]

    @property
    def secrets(self) -> list[str]:
        """Every secret that still reads, current first."""
        return [secret for _, secret in self.keys]

    def get(self, key_id: str) -> str | None:
        """The secret with this id, or None when it is no longer (or never was) listed."""
        return next((secret for known, secret in self.keys if known == key_id), None)

    def matches(self, presented: str) -> bool:
        """Whether a presented shared secret is one of these, in constant time."""
        found = False
        for secret in self.secrets:
            found |= hmac.compare_digest(presented.encode(), secret.encode())
        return found

    def verifies(self, message: str, mac: str) -> bool:
        """Whether `mac` is the HMAC-SHA256 (hex) of `message` under any listed key, compared
        in constant time."""
        found = False
        for expected in self.hmacs(message):
            found |= hmac.compare_digest(mac.encode(), expected.encode())
        return found

    def hmacs(self, message: str) -> list[str]:
        """HMAC-SHA256 of `message` under every key, current first (hex): what a keyed hash
        made under any listed key would be."""
        return [
            hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
            for secret in self.secrets
        ]


def keyring(text: str) -> Keyring:
    """The keyring a key setting describes."""
    return Keyring.parse(text)
