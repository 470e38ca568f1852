"""The register's audit log: append-only, tamper-evident, and without plaintext addresses.

Each row keeps a keyed hash of the identifier (HMAC-SHA256 with PALAUTE_REGISTER_AUDIT_KEY:
an officer can find every change for a given phone or email, nobody can read one back) and a
masked form for reading (`+358 40 *** **67`, `m***@example.fi`).

Each row's hash is an HMAC, under the chain key (PALAUTE_AUDIT_CHAIN_KEY, never in the
database; its id is kept on the row so the key can be rotated), of its fields and the
previous row's hash: a changed, removed or inserted row breaks the chain at the first row
after it, and someone who can write the database cannot compute a new chain without the key.
What the chain alone cannot show is that its newest rows were deleted: the head is therefore
anchored outside the database on a schedule (an `AuditAnchored` on a Kafka topic, and a log
line), and `verify` checks the chain against the newest anchor too.

Consent migration 0010 chained the rows written before it again, keyed; a row without a key
id does not hold.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_consent.tables import audit_anchors, audit_checks, register_audit
from palaute_runtime.database import as_utc, upsert
from palaute_runtime.keys import Keyring
from palaute_schemas import AuditAnchored

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


def row_hash(previous: str, fields: dict[str, str], key: str | None) -> str:
    """The hash of one row: its fields (canonical JSON) chained to the previous row's, as an
    HMAC under the chain key (plain SHA-256 without one: only migrations write those)."""
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    message = f"{previous}\n{canonical}".encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


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
    chain: Keyring,
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
            **fields,
            prev_hash=prev,
            row_hash=row_hash(prev, _hashed_fields(fields), chain.current),
            key_id=chain.current_id,
        )
    )


@dataclass(frozen=True)
class Verdict:
    """What verifying the chain found: how many rows, and the first that does not hold."""

    rows: int
    broken_at: int | None = None  # the id of the first row that does not match
    why: str = ""
    anchors_checked: int = 0  # valid anchors the chain was checked against


async def verify(
    connection: AsyncConnection, chain: Keyring, anchors: Sequence[AuditAnchored] = ()
) -> Verdict:
    """Walk the chain from the first row; the first row whose hash or link fails is named.
    Then every anchor made with a configured key (others are ignored): the chain must still
    hold each anchored row, with its anchored hash."""
    rows = (await connection.execute(sa.select(register_audit).order_by(register_audit.c.id))).all()
    previous, hashes = GENESIS, {}
    for count, row in enumerate(rows, start=1):
        if row.prev_hash != previous:
            return Verdict(count, row.id, "its link to the row before it is broken")
        if row.key_id is None:
            return Verdict(count, row.id, "it names no chain key")
        key = chain.get(row.key_id)
        if key is None:
            return Verdict(count, row.id, f"its chain key {row.key_id!r} is not configured")
        if row.row_hash != row_hash(previous, _hashed_fields(row), key):
            return Verdict(count, row.id, "its content does not match its hash")
        previous, hashes[row.id] = row.row_hash, row.row_hash
    valid = sorted(
        (anchor for anchor in anchors if signed_by(anchor, chain)),
        key=lambda anchor: anchor.head_id,
    )
    last = rows[-1].id if rows else 0
    for anchored in valid:
        if anchored.head_id and hashes.get(anchored.head_id) != anchored.head_hash:
            what = (
                f"the chain ends at row {last}"
                if anchored.head_id > last
                else f"row {anchored.head_id} has another hash"
            )
            return Verdict(
                len(rows),
                anchored.head_id,
                f"the anchor of {anchored.occurred_at.isoformat()} names row "
                f"{anchored.head_id} of {anchored.rows}, but {what} (newest rows deleted, or "
                "the chain recomputed)",
                len(valid),
            )
    return Verdict(len(rows), anchors_checked=len(valid))


async def changes_since(connection: AsyncConnection, since: datetime) -> dict[str, int]:
    """How many entries were added and removed since `since`, by action (reads apart)."""
    rows = await connection.execute(
        sa.select(register_audit.c.action, sa.func.count())
        .where(register_audit.c.at >= since, register_audit.c.action.in_(("add", "remove")))
        .group_by(register_audit.c.action)
    )
    return {str(action): int(count) for action, count in rows}


async def record_check(connection: AsyncConnection, verdict: Verdict, at: datetime) -> None:
    """Keep the newest scheduled check's result (one row)."""
    values = {
        "checked_at": at,
        "rows": verdict.rows,
        "broken_at": verdict.broken_at,
        "why": verdict.why[:500],
    }
    await connection.execute(
        upsert(connection, audit_checks)
        .values(id=1, **values)
        .on_conflict_do_update(index_elements=[audit_checks.c.id], set_=values)
    )


async def last_check(connection: AsyncConnection) -> dict[str, Any] | None:
    """The newest scheduled check: when, rows, and what broke (None: never checked)."""
    row = (await connection.execute(sa.select(audit_checks))).first()
    if row is None:
        return None
    return {
        "checked_at": as_utc(row.checked_at).isoformat(timespec="seconds"),
        "rows": row.rows,
        "holds": row.broken_at is None,
        "broken_at": row.broken_at,
        "why": row.why,
    }


async def holds_anchor(connection: AsyncConnection, head_id: int, head_hash: str) -> bool:
    """Whether the chain still has the row `head_id` with `head_hash` (0: the empty chain)."""
    if not head_id:
        return True
    found = await connection.scalar(
        sa.select(register_audit.c.row_hash).where(register_audit.c.id == head_id)
    )
    return found == head_hash


async def anchor(connection: AsyncConnection, chain: Keyring, at: datetime) -> AuditAnchored:
    """The chain's head now, signed with the current chain key."""
    head = (
        await connection.execute(
            sa.select(register_audit.c.id, register_audit.c.row_hash)
            .order_by(register_audit.c.id.desc())
            .limit(1)
        )
    ).first()
    rows = await connection.scalar(sa.select(sa.func.count()).select_from(register_audit)) or 0
    head_id, head_hash = (head.id, head.row_hash) if head is not None else (0, GENESIS)
    signature = _signature(chain.current, head_id, head_hash, rows, at)
    return AuditAnchored(
        occurred_at=at,
        head_id=head_id,
        head_hash=head_hash,
        rows=rows,
        key_id=chain.current_id,
        signature=signature,
    )


async def keep_anchor(connection: AsyncConnection, anchor: AuditAnchored) -> None:
    """Keep a copy of an anchor as it is published."""
    await connection.execute(
        audit_anchors.insert().values(
            anchored_at=anchor.occurred_at,
            head_id=anchor.head_id,
            head_hash=anchor.head_hash,
            rows=anchor.rows,
            key_id=anchor.key_id,
            signature=anchor.signature,
        )
    )


async def kept_anchors(connection: AsyncConnection) -> list[AuditAnchored]:
    """The copies of every anchor published, oldest first."""
    rows = await connection.execute(sa.select(audit_anchors).order_by(audit_anchors.c.id))
    return [
        AuditAnchored(
            occurred_at=as_utc(row.anchored_at),
            head_id=row.head_id,
            head_hash=row.head_hash,
            rows=row.rows,
            key_id=row.key_id,
            signature=row.signature,
        )
        for row in rows
    ]


def _signature(key: str, head_id: int, head_hash: str, rows: int, at: datetime) -> str:
    message = f"audit-anchor\n{head_id}\n{head_hash}\n{rows}\n{as_utc(at).isoformat()}"
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def signed_by(anchor: AuditAnchored, chain: Keyring) -> bool:
    """An anchor made with a configured chain key (a forged one is ignored)."""
    key = chain.get(anchor.key_id)
    if key is None:
        return False
    expected = _signature(key, anchor.head_id, anchor.head_hash, anchor.rows, anchor.occurred_at)
    return hmac.compare_digest(expected, anchor.signature)
