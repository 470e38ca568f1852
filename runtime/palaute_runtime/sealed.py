"""Sealed values: small JSON payloads encrypted and authenticated (AES-256-GCM) into a
URL-safe string, for links that must carry a personal detail without showing it.

The dispatcher seals the recipient's address into the unsubscribe link; only the collector,
which holds the same key (PALAUTE_UNSUBSCRIBE_KEY), can open it, and only when the person
uses the link. Nothing is stored.

The key is a key setting (palaute_runtime.keys): a sealed value names the id of the key that
sealed it (`ID.` before the ciphertext), so a rotated key still opens what its predecessor
sealed while that one stays listed; a value sealed before key ids is tried with every key.
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

from palaute_runtime.keys import Keyring

_PURPOSE = b"palaute-sealed-v1"


def _cipher(key: str) -> AESGCM:
    return AESGCM(hashlib.sha256(_PURPOSE + key.encode()).digest())


def seal(key: str, payload: dict[str, Any], *, size: int | None = None) -> str:
    """Encrypt and authenticate `payload` into a URL-safe string, with the current key of
    the key setting `key`. With `size`, the plaintext is padded to exactly that many bytes
    (JSON ends in spaces), so every value sealed to one size is as long as any other:
    nothing of its content shows in its length. ValueError when it does not fit."""
    ring = Keyring.parse(key)
    nonce = os.urandom(12)
    plain = json.dumps(payload, ensure_ascii=size is None).encode()
    if size is not None:
        if len(plain) > size:
            raise ValueError(f"a sealed value holds {size} bytes; this one has {len(plain)}")
        plain += b" " * (size - len(plain))
    sealed = _cipher(ring.current).encrypt(nonce, plain, _PURPOSE)
    encoded = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
    return f"{ring.current_id}.{encoded}"


def sealed_length(size: int) -> int:
    """How long a value sealed to `size` bytes is (with a key id of up to 16 characters)."""
    return 17 + -(-(12 + size + 16) * 4 // 3)


def unseal(key: str, token: str, *, longest: int = 2048) -> dict[str, Any] | None:
    """The payload of a sealed string, or None if no key of the key setting `key` sealed it
    (or it is longer than `longest`: a link's token is short)."""
    if len(token) > longest:
        return None
    ring = Keyring.parse(key)
    key_id, dot, encoded = token.rpartition(".")
    if dot:
        secret = ring.get(key_id)
        return _open(secret, encoded) if secret is not None else None
    return next(
        (opened for opened in (_open(s, token) for s in ring.secrets) if opened is not None),
        None,
    )


def _open(secret: str, encoded: str) -> dict[str, Any] | None:
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        opened = _cipher(secret).decrypt(raw[:12], raw[12:], _PURPOSE)
        payload = json.loads(opened)
    except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None
