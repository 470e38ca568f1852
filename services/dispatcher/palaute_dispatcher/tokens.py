"""Survey tokens: 128 random bits for the customer, only a hash for us."""

from __future__ import annotations

import secrets

from palaute_schemas import token_hash

TOKEN_BYTES = 16  # 128 bits


def issue_token() -> tuple[str, str]:
    """A new URL-safe token and the hash that is all we keep of it."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)
