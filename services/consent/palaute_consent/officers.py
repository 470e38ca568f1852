"""Who may read and change the register: accounts (argon2id), API tokens and sessions.

People sign in with an account made with the CLI; machines call the API with a token. Both
carry a role: `officer` reads and writes, `auditor` only reads. Tokens and session ids are
256-bit random values stored only as SHA-256 hashes; the session cookie is also signed
(HMAC-SHA256 with PALAUTE_OFFICER_SESSION_KEY), so a forged or altered cookie is refused
before the database is asked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_consent.roles import ACCOUNT_ROLES, ROLES, TOKEN_ROLES, Role
from palaute_consent.tables import officer_accounts, officer_sessions, officer_tokens
from palaute_runtime.database import as_utc, rowcount
from palaute_runtime.keys import Keyring

MIN_PASSWORD = 12
MIN_PASSWORD_SCORE = 3  # zxcvbn: 0 (too guessable) to 4 (very unguessable)
_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,100}$")
# argon2id with the library's defaults (RFC 9106's second recommendation: 64 MiB, t=3, p=4).
_hasher = PasswordHasher()
# Checked against when the account does not exist, so both take the same time.
_DUMMY = _hasher.hash("no such account: the same work as a real one")


@dataclass(frozen=True)
class Principal:
    """Who is acting, as the audit log records it, and with which role."""

    actor: str  # officer:<username>, token:<name>, sso:<username>
    role: Role

    @property
    def may_write(self) -> bool:
        """Whether this principal may change the register."""
        return self.role == "officer"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: str, what: str = "username") -> str:
    """A username or token name: 1-100 letters, digits or . _ @ -."""
    if not _NAME.match(name):
        raise ValueError(f"a {what} is 1-100 letters, digits or . _ @ - characters")
    return name


def check_role(role: str, roles: tuple[Role, ...] = ROLES) -> Role:
    """One of the roles (of `roles`: a person's account is never a self-service app)."""
    for known in roles:
        if role == known:
            return known
    raise ValueError(f"a role is one of {', '.join(roles)}, not {role!r}")


def check_password(password: str, username: str = "") -> str:
    """A password long enough and not easy to guess (NIST SP 800-63B 5.1.1.2: checked
    against common and breached passwords, dictionary words, repetitions and sequences, and
    words of this context: the account's name, the product). zxcvbn's estimate must reach 3
    of 4 ("safely unguessable"); no composition rules."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password has at least {MIN_PASSWORD} characters")
    from zxcvbn import zxcvbn  # its dictionaries load on first use: only where accounts change

    estimate = zxcvbn(password, user_inputs=[username, "palaute", "officer", "auditor"])
    if estimate["score"] < MIN_PASSWORD_SCORE:
        warning = str(estimate["feedback"]["warning"] or "").rstrip(".")
        why = warning[:1].lower() + warning[1:] if warning else "it is made of guessable parts"
        raise ValueError(
            f"this password is easy to guess ({why}); a few unrelated words make a good one"
        )
    return password


async def add_account(
    connection: AsyncConnection, username: str, password: str, role: Role, *, now: datetime
) -> None:
    """Create an account; ValueError if the name is taken or anything is malformed."""
    check_name(username)
    check_password(password, username)
    taken = await connection.scalar(
        sa.select(officer_accounts.c.username).where(officer_accounts.c.username == username)
    )
    if taken is not None:
        raise ValueError(f"an account named {username} exists already")
    await connection.execute(
        officer_accounts.insert().values(
            username=username,
            password_hash=_hasher.hash(password),
            role=check_role(role, ACCOUNT_ROLES),
            created_at=now,
            disabled=False,
        )
    )


async def set_password(connection: AsyncConnection, username: str, password: str) -> bool:
    """Give an account a new password and end its sessions; False if there is no such."""
    check_password(password, username)
    changed = await connection.execute(
        officer_accounts.update()
        .where(officer_accounts.c.username == username)
        .values(password_hash=_hasher.hash(password))
    )
    await end_sessions_of(connection, username)
    return bool(changed.rowcount)


async def disable_account(connection: AsyncConnection, username: str) -> bool:
    """Disable an account (kept for the audit log's sake) and end its sessions."""
    changed = await connection.execute(
        officer_accounts.update()
        .where(officer_accounts.c.username == username)
        .values(disabled=True)
    )
    await end_sessions_of(connection, username)
    return bool(changed.rowcount)


async def accounts(connection: AsyncConnection) -> list[dict[str, str]]:
    """Every account, without its password hash."""
    rows = await connection.execute(
        sa.select(
            officer_accounts.c.username,
            officer_accounts.c.role,
            officer_accounts.c.created_at,
            officer_accounts.c.disabled,
        ).order_by(officer_accounts.c.username)
    )
    return [
        {
            "username": row.username,
            "role": row.role,
            "created_at": as_utc(row.created_at).isoformat(),
            "disabled": str(row.disabled).lower(),
        }
        for row in rows
    ]


async def account(connection: AsyncConnection, username: str) -> Principal | None:
    """The enabled account of that name as a principal (single sign-on trusts the name)."""
    row = (
        await connection.execute(
            sa.select(officer_accounts).where(
                officer_accounts.c.username == username, officer_accounts.c.disabled.is_(False)
            )
        )
    ).first()
    return None if row is None else Principal(f"sso:{row.username}", check_role(row.role))


async def sign_in(connection: AsyncConnection, username: str, password: str) -> Principal | None:
    """The account's principal if the password is right and the account enabled."""
    row = (
        await connection.execute(
            sa.select(officer_accounts).where(officer_accounts.c.username == username)
        )
    ).first()
    try:
        _hasher.verify(row.password_hash if row is not None else _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        await connection.execute(
            officer_accounts.update()
            .where(officer_accounts.c.username == username)
            .values(password_hash=_hasher.hash(password))
        )
    return Principal(f"officer:{row.username}", check_role(row.role))


async def create_token(connection: AsyncConnection, name: str, role: Role, *, now: datetime) -> str:
    """A new API token (shown once; only its hash is kept)."""
    check_name(name, "token name")
    taken = await connection.scalar(
        sa.select(officer_tokens.c.name).where(officer_tokens.c.name == name)
    )
    if taken is not None:
        raise ValueError(f"a token named {name} exists already")
    token = f"pal_{secrets.token_urlsafe(32)}"
    await connection.execute(
        officer_tokens.insert().values(
            token_hash=_digest(token),
            name=name,
            role=check_role(role, TOKEN_ROLES),
            created_at=now,
        )
    )
    return token


async def revoke_token(connection: AsyncConnection, name: str, *, now: datetime) -> bool:
    """Revoke a token by name; False if there is no such token still valid."""
    changed = await connection.execute(
        officer_tokens.update()
        .where(officer_tokens.c.name == name, officer_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(changed.rowcount)


async def tokens(connection: AsyncConnection) -> list[dict[str, str]]:
    """Every token's name, role and state (never the token)."""
    rows = await connection.execute(sa.select(officer_tokens).order_by(officer_tokens.c.name))
    return [
        {
            "name": row.name,
            "role": row.role,
            "created_at": as_utc(row.created_at).isoformat(),
            "revoked": str(row.revoked_at is not None).lower(),
        }
        for row in rows
    ]


async def token_principal(connection: AsyncConnection, token: str) -> Principal | None:
    """The principal of a valid API token."""
    row = (
        await connection.execute(
            sa.select(officer_tokens).where(
                officer_tokens.c.token_hash == _digest(token), officer_tokens.c.revoked_at.is_(None)
            )
        )
    ).first()
    if row is None:
        return None
    role = check_role(row.role)
    # The organisation's own app acts for its customer: the audit log says which app.
    return Principal(f"{'app' if role == 'self_service' else 'token'}:{row.name}", role)


@dataclass(frozen=True)
class Session:
    """A signed-in person: who, and the CSRF token their forms carry."""

    principal: Principal
    csrf: str


def sign_cookie(key: str, session_id: str) -> str:
    """The cookie value: the session id and its HMAC under the key setting's current key."""
    current = Keyring.parse(key).current
    mac = hmac.new(current.encode(), session_id.encode(), hashlib.sha256).hexdigest()
    return f"{session_id}.{mac}"


def unsign_cookie(key: str, cookie: str) -> str | None:
    """The session id of a cookie whose signature holds under any key the setting lists
    (a rotation signs nobody out while the old key stays listed)."""
    session_id, _, mac = cookie.rpartition(".")
    if not session_id:
        return None
    return session_id if Keyring.parse(key).verifies(session_id, mac) else None


async def open_session(
    connection: AsyncConnection, principal: Principal, lifetime: timedelta, *, now: datetime
) -> tuple[str, Session]:
    """A new session for a signed-in account: its id (for the cookie) and the session."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    await connection.execute(
        officer_sessions.insert().values(
            session_hash=_digest(session_id),
            username=principal.actor.split(":", 1)[1],
            csrf=csrf,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return session_id, Session(principal, csrf)


async def session(connection: AsyncConnection, session_id: str, *, now: datetime) -> Session | None:
    """The live session of that id, for an account still enabled."""
    row = (
        await connection.execute(
            sa.select(officer_sessions.c.csrf, officer_accounts.c.username, officer_accounts.c.role)
            .join(officer_accounts, officer_accounts.c.username == officer_sessions.c.username)
            .where(
                officer_sessions.c.session_hash == _digest(session_id),
                officer_sessions.c.expires_at > now,
                officer_accounts.c.disabled.is_(False),
            )
        )
    ).first()
    if row is None:
        return None
    return Session(Principal(f"officer:{row.username}", check_role(row.role)), row.csrf)


async def close_session(connection: AsyncConnection, session_id: str) -> None:
    """Sign out."""
    await connection.execute(
        officer_sessions.delete().where(officer_sessions.c.session_hash == _digest(session_id))
    )


async def end_sessions_of(connection: AsyncConnection, username: str) -> None:
    """End every session of an account."""
    await connection.execute(
        officer_sessions.delete().where(officer_sessions.c.username == username)
    )


async def purge_sessions(connection: AsyncConnection, *, now: datetime) -> int:
    """Delete expired sessions; how many."""
    gone = await connection.execute(
        officer_sessions.delete().where(officer_sessions.c.expires_at <= now)
    )
    return rowcount(gone)
