"""Survey tokens: 256 bits the customer gets in the link, only a hash for us.

An invitation's token is derived from its id with a secret key (HMAC-SHA256), so a retry
after an uncertain SMTP hand-over sends the very same link: never a second live token for
one invitation, and nothing but the hash is ever stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from palaute_schemas import token_hash

TOKEN_BITS = 256


def invitation_token(secret: str, invitation_id: uuid.UUID) -> tuple[str, str]:
    """The invitation's URL-safe token and the hash that is all we keep of it."""
    digest = hmac.new(secret.encode(), invitation_id.bytes, hashlib.sha256).digest()
    token = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return token, token_hash(token)
