"""Sealed values: small JSON payloads encrypted and authenticated (AES-256-GCM) into a
URL-safe string, for links that must carry a personal detail without showing it.

The dispatcher seals the recipient's address into the unsubscribe link; only the collector,
which holds the same key (PALAUTE_UNSUBSCRIBE_KEY), can open it, and only when the person
uses the link. Nothing is stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PURPOSE = b"palaute-sealed-v1"


def _cipher(key: str) -> AESGCM:
    return AESGCM(hashlib.sha256(_PURPOSE + key.encode()).digest())


def seal(key: str, payload: dict[str, Any]) -> str:
    """Encrypt and authenticate `payload` into a URL-safe string."""
    nonce = os.urandom(12)
    sealed = _cipher(key).encrypt(nonce, json.dumps(payload).encode(), _PURPOSE)
    return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()


def unseal(key: str, token: str) -> dict[str, Any] | None:
    """The payload of a sealed string, or None if it was not sealed with this key."""
    if len(token) > 2048:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        opened = _cipher(key).decrypt(raw[:12], raw[12:], _PURPOSE)
        payload = json.loads(opened)
    except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None
