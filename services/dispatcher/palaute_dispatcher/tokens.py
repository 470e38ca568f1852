"""Survey tokens: 256 random bits the customer gets in the link, only a hash for us.

A token is drawn at random when an email invitation (or reminder) is first claimed for the
partner: nothing derives it, so no key and no topic can reproduce an open survey's link. A
retry after an uncertain hand-over must send the very same link, so until the partner has
the message the token is kept sealed (AES-256-GCM, PALAUTE_TOKEN_SECRET) on its invitation;
once the partner took it, or it will never go, the sealed copy is dropped and only the hash
remains.
"""

from __future__ import annotations

import secrets

from palaute_runtime.sealed import seal, unseal
from palaute_schemas import token_hash

TOKEN_BITS = 256


def token_to_send(key: str, sealed: str | None) -> tuple[str, str | None, str | None]:
    """The token an attempt sends: the one the last attempt sent (still sealed), else a new
    one, returned with its hash and its sealed copy, to be stored before the partner sees
    anything: (token, new hash, new sealed copy)."""
    token = opened_token(key, sealed)
    if token is not None:
        return token, None, None
    token, digest = new_token()
    return token, digest, sealed_token(key, token)


def new_token() -> tuple[str, str]:
    """A fresh URL-safe token and the hash that is all we keep of it once it is sent."""
    token = secrets.token_urlsafe(TOKEN_BITS // 8)
    return token, token_hash(token)


def sealed_token(key: str, token: str) -> str:
    """The token sealed for a retry (the key setting's current key)."""
    return seal(key, {"token": token})


def opened_token(key: str, sealed: str | None) -> str | None:
    """The token a retry must send again, or None when none is kept (or the key that sealed
    it is no longer listed: then a new token is issued, and either link works)."""
    opened = unseal(key, sealed) if sealed else None
    token = opened.get("token") if opened else None
    return token if isinstance(token, str) else None
