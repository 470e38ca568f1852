"""Accounts, API tokens and sessions of the officer's workspace, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_consent import officers
from palaute_consent.tables import (
    officer_accounts,
    officer_sessions,
    officer_tokens,
)

KEY = "a session key for the tests"
T = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # the tests' clock


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("ville", "password1234"),  # common
        ("ville", "aaaaaaaaaaaa"),  # a repetition
        ("ville", "qwertyuiop12"),  # a keyboard walk
        ("ville", "salasana1234"),  # "password" in Finnish, and a sequence
        ("kalle.virtanen", "kalle.virtanen1"),  # the account's own name
        ("ville", "palautepalaute"),  # the product, twice
    ],
)
async def test_a_guessable_password_is_refused_whatever_its_length(
    consent_db: AsyncEngine, username: str, password: str
) -> None:
    async with consent_db.begin() as connection:
        with pytest.raises(ValueError, match="easy to guess"):
            await officers.add_account(connection, username, password, "officer", now=T)
        await officers.add_account(connection, username, "pitkä salasana 1", "officer", now=T)
        with pytest.raises(ValueError, match="easy to guess"):
            await officers.set_password(connection, username, password)


async def test_passwords_are_argon2id_and_a_disabled_account_cannot_sign_in(
    consent_db: AsyncEngine,
) -> None:
    async with consent_db.begin() as connection:
        await officers.add_account(connection, "anna", "pitkä salasana 1", "officer", now=T)
        with pytest.raises(ValueError, match="exists already"):
            await officers.add_account(connection, "anna", "pitkä salasana 2", "auditor", now=T)
        with pytest.raises(ValueError, match="at least 12"):
            await officers.add_account(connection, "ville", "lyhyt", "officer", now=T)
        with pytest.raises(ValueError, match="role is one of"):
            await officers.add_account(connection, "ville", "pitkä salasana 3", "admin", now=T)  # type: ignore[arg-type]
        stored = await connection.scalar(sa.select(officer_accounts.c.password_hash))
        assert str(stored).startswith("$argon2id$")
        assert await officers.sign_in(connection, "anna", "väärä salasana") is None
        assert await officers.sign_in(connection, "nobody", "pitkä salasana 1") is None
        anna = await officers.sign_in(connection, "anna", "pitkä salasana 1")
        assert anna == officers.Principal("officer:anna", "officer")
        session_id, opened = await officers.open_session(
            connection, anna, timedelta(hours=1), now=T
        )
        assert await officers.session(connection, session_id, now=T) == opened
        stored_sessions = list(await connection.scalars(sa.select(officer_sessions.c.session_hash)))
        assert session_id not in stored_sessions, "only the session id's hash is kept"
        assert await officers.disable_account(connection, "anna")
        assert await officers.session(connection, session_id, now=T) is None, "its sessions ended"
        assert await officers.sign_in(connection, "anna", "pitkä salasana 1") is None


async def test_sessions_expire_and_are_purged(consent_db: AsyncEngine) -> None:
    async with consent_db.begin() as connection:
        await officers.add_account(connection, "tarmo", "pitkä salasana 4", "auditor", now=T)
        tarmo = await officers.sign_in(connection, "tarmo", "pitkä salasana 4")
        assert tarmo is not None
        assert not tarmo.may_write
        short, _ = await officers.open_session(connection, tarmo, timedelta(hours=1), now=T)
        long, _ = await officers.open_session(connection, tarmo, timedelta(hours=8), now=T)
        later = T + timedelta(hours=2)  # time moves on; no row is edited
        assert await officers.session(connection, short, now=T) is not None
        assert await officers.session(connection, short, now=later) is None
        assert await officers.purge_sessions(connection, now=T) == 0
        assert await officers.purge_sessions(connection, now=later) == 1
        assert await officers.session(connection, long, now=later) is not None


async def test_tokens_are_stored_hashed_scoped_and_revocable(consent_db: AsyncEngine) -> None:
    async with consent_db.begin() as connection:
        token = await officers.create_token(connection, "bi", "auditor", now=T)
        assert len(token) >= 40, "256 bits, base64url"
        stored = list(await connection.scalars(sa.select(officer_tokens.c.token_hash)))
        assert token not in stored
        assert await officers.token_principal(connection, token) == officers.Principal(
            "token:bi", "auditor"
        )
        assert await officers.token_principal(connection, token + "x") is None
        assert await officers.revoke_token(connection, "bi", now=T)
        assert await officers.token_principal(connection, token) is None
        assert not await officers.revoke_token(connection, "bi", now=T), "revoked already"


def test_a_session_cookie_is_signed() -> None:
    cookie = officers.sign_cookie(KEY, "session-id")
    assert officers.unsign_cookie(KEY, cookie) == "session-id"
    assert officers.unsign_cookie("another key", cookie) is None
    assert officers.unsign_cookie(KEY, "other-id." + cookie.rpartition(".")[2]) is None
    assert officers.unsign_cookie(KEY, "") is None
    assert officers.unsign_cookie(KEY, "no-signature") is None
