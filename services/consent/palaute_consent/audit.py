"""The register's audit log: append-only, tamper-evident, and without plaintext addresses.

Each row keeps a keyed hash of the identifier (HMAC-SHA256 with PALAUTE_REGISTER_AUDIT_KEY:
an officer can find every change for a given phone or email, nobody can read one back) and a
masked form for reading (`+358 40 *** **67`, `m***@example.fi`). Each row's hash covers its
fields and the previous row's hash, so a changed, removed or inserted row breaks the chain
at the first row after it, and `verify` names that row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_consent.tables import register_audit
from palaute_runtime.database import as_utc

GENESIS = "0" * 64  # the "previous hash" of the first row
# Appends serialize on PostgreSQL, so two writers never chain to the same row.
_AUDIT_LOCK = 0x6175_6469_745F_6C6F


def keyed_hash(key: str, kind: str, value: str) -> str:
    """The matching form of an identifier: HMAC-SHA256 of kind and value, hex."""
    return hmac.new(key.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def masked(kind: str, value: str) -> str:
    """The reading form: a phone keeps its country code, two digits after it and its last
    two; an email its first letter and its domain; a customer id its first and last two
    characters (audit rows written before consent migration 0006 keep it whole: the chain
    keeps every row as it was written)."""
    if kind == "phone":
        try:
            parsed = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            return "***"
        national = str(parsed.national_number)
        return f"+{parsed.country_code} {national[:2]} *** **{national[-2:]}"
    if kind == "email":
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"{value[:2]}***{value[-2:]}" if len(value) > 6 else "***"


def row_hash(previous: str, fields: dict[str, str]) -> str:
    """The hash of one row: its fields (canonical JSON) chained to the previous row's."""
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{previous}\n{canonical}".encode()).hexdigest()


def _hashed_fields(row: sa.Row[tuple[object, ...]] | dict[str, object]) -> dict[str, str]:
    get = row.get if isinstance(row, dict) else row._mapping.get
    at = get("at")
    assert isinstance(at, datetime)
    return {
        "at": as_utc(at).isoformat(),
        **{
            name: str(get(name))
            for name in (
                "actor",
                "action",
                "kind",
                "value_hash",
                "value_masked",
                "source",
                "reason",
            )
        },
    }


async def append(
    connection: AsyncConnection,
    key: str,
    *,
    at: datetime,
    actor: str,
    action: str,
    kind: str,
    value: str,
    source: str,
    reason: str,
) -> None:
    """Append one change to the chain, in the caller's transaction."""
    if connection.dialect.name == "postgresql":
        await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_AUDIT_LOCK)))
    previous = await connection.scalar(
        sa.select(register_audit.c.row_hash).order_by(register_audit.c.id.desc()).limit(1)
    )
    fields: dict[str, object] = {
        "at": at,
        "actor": actor,
        "action": action,
        "kind": kind,
        "value_hash": keyed_hash(key, kind, value),
        "value_masked": masked(kind, value),
        "source": source,
        "reason": reason,
    }
    prev = previous or GENESIS
    await connection.execute(
        register_audit.insert().values(
            **fields, prev_hash=prev, row_hash=row_hash(prev, _hashed_fields(fields))
        )
    )


@dataclass(frozen=True)
class Verdict:
    """What verifying the chain found: how many rows, and the first that does not hold."""

    rows: int
    broken_at: int | None = None  # the id of the first row that does not match
    why: str = ""


async def verify(connection: AsyncConnection) -> Verdict:
    """Walk the chain from the first row; the first row whose hash or link fails is named."""
    rows = (await connection.execute(sa.select(register_audit).order_by(register_audit.c.id))).all()
    previous = GENESIS
    for count, row in enumerate(rows, start=1):
        if row.prev_hash != previous:
            return Verdict(count, row.id, "its link to the row before it is broken")
        if row.row_hash != row_hash(previous, _hashed_fields(row)):
            return Verdict(count, row.id, "its content does not match its hash")
        previous = row.row_hash
    return Verdict(len(rows))
