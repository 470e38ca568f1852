"""The survey opt-out register: entries by customer id, phone or email, every change audited."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_consent import audit
from palaute_consent.tables import opt_outs, register_audit
from palaute_runtime.clock import Clock
from palaute_runtime.database import as_utc
from palaute_runtime.keys import Keyring
from palaute_schemas import OptOutSource

EntryKind = Literal["customer_id", "phone", "email"]
ENTRY_KINDS: tuple[EntryKind, ...] = get_args(EntryKind)


# An erased person's entries keep only a keyed hash of the identifier, behind this prefix.
HASHED_PREFIX = "h:"


@dataclass(frozen=True)
class OptOut:
    """One register entry."""

    id: int
    kind: EntryKind
    value: str
    source: OptOutSource
    reason: str
    created_at: datetime


def register_key(kind: EntryKind, value: str) -> str:
    """The stored form of a value: emails compare case-insensitively; the rest as validated."""
    return value.lower() if kind == "email" else value


Identifier = tuple[EntryKind, str]


def identifiers(customer_id: str | None, phone: str | None, email: str | None) -> list[Identifier]:
    """The register keys that would forbid surveying someone known by these values."""
    given: tuple[tuple[EntryKind, str | None], ...] = (
        ("customer_id", customer_id),
        ("phone", phone),
        ("email", email),
    )
    return [(kind, register_key(kind, value)) for kind, value in given if value is not None]


# Releases and opt-outs meet here: a release must see every opt-out committed before it,
# and an opt-out must see every survey released before it (to withdraw it).
_RELEASE_LOCK = 0x7061_6C61_7574_66


async def serialize_with_opt_outs(connection: AsyncConnection, *, opting_out: bool) -> None:
    """Order this transaction against opt-outs (PostgreSQL: an advisory lock, shared by
    releases, exclusive for an opt-out). SQLite orders writers by its one write lock, which
    a release takes with its first statement."""
    if connection.dialect.name != "postgresql":
        return
    function = sa.func.pg_advisory_xact_lock if opting_out else sa.func.pg_advisory_xact_lock_shared
    await connection.execute(sa.select(function(_RELEASE_LOCK)))


class OptOutRegister:
    """Repository of the register; every method runs inside the caller's transaction."""

    def __init__(
        self,
        connection: AsyncConnection,
        audit_key: str,
        clock: Clock | None = None,
        *,
        chain: Keyring,
    ) -> None:
        self._connection = connection
        # The key setting may list rotated keys (ID:SECRET,...): the first hashes, all match.
        self._identifier_keys = Keyring.parse(audit_key)
        self._audit_key = self._identifier_keys.current
        self._chain = chain
        self._clock = clock or Clock()  # the service passes its own (moved in tests)

    async def add(
        self, kind: EntryKind, value: str, *, source: OptOutSource, reason: str, actor: str
    ) -> bool:
        """Add an entry; False when the same kind and value was already registered. An empty
        identifier, reason or actor is refused (ValueError)."""
        _required(value=value, reason=reason, actor=actor)
        key = register_key(kind, value)
        if await self.find(kind, value) is not None:
            return False
        now = self._clock.now()
        await self._connection.execute(
            opt_outs.insert().values(
                kind=kind, value=key, source=source, reason=reason, created_at=now
            )
        )
        await self._audit("add", kind, key, source=source, reason=reason, actor=actor, at=now)
        return True

    async def remove(
        self, kind: EntryKind, value: str, *, reason: str, actor: str, source: str | None = None
    ) -> bool:
        """Remove an entry; False when there was none. The audit row names `source` (the
        channel the lift came through), else the entry's own. An empty identifier, reason or
        actor is refused (ValueError)."""
        _required(value=value, reason=reason, actor=actor)
        entry = await self.find(kind, value)
        if entry is None:
            return False
        await self._connection.execute(opt_outs.delete().where(opt_outs.c.id == entry.id))
        await self._audit(
            "remove",
            kind,
            register_key(kind, value),
            source=source or entry.source,
            reason=reason,
            actor=actor,
            at=self._clock.now(),
        )
        return True

    async def find(self, kind: EntryKind, value: str) -> OptOut | None:
        """The entry for one identifier, as it is or kept hashed after an erasure."""
        key = register_key(kind, value)
        row = (
            await self._connection.execute(
                sa.select(opt_outs).where(
                    opt_outs.c.kind == kind, opt_outs.c.value.in_([key, *self._hashed(kind, key)])
                )
            )
        ).first()
        return None if row is None else _entry(row)

    async def by_source(self) -> dict[str, int]:
        """How many entries each source has made (the officer's overview)."""
        rows = await self._connection.execute(
            sa.select(opt_outs.c.source, sa.func.count()).group_by(opt_outs.c.source)
        )
        return {str(source): int(count) for source, count in rows}

    async def entries(self) -> list[OptOut]:
        """All entries, oldest first."""
        rows = await self._connection.execute(sa.select(opt_outs).order_by(opt_outs.c.id))
        return [_entry(row) for row in rows]

    async def forbids(
        self, *, customer_id: str | None = None, phone: str | None = None, email: str | None = None
    ) -> bool:
        """True when any of the identifiers is in the register."""
        return bool(await self.listed(identifiers(customer_id, phone, email)))

    @property
    def identifier_keys(self) -> Keyring:
        """The keys identifiers are hashed under (the first writes, all match)."""
        return self._identifier_keys

    def _hashed(self, kind: str, key: str) -> list[str]:
        """The forms an erased person's entry is kept in: a keyed hash, never the value;
        under the current key first, then under each older key still listed."""
        return [
            HASHED_PREFIX + audit.keyed_hash(secret, kind, key)
            for secret in self._identifier_keys.secrets
        ]

    async def keep_hashed(self, kind: EntryKind, value: str, *, reason: str, actor: str) -> None:
        """After an erasure: the person's entry for this identifier is kept as a keyed hash
        only, and made if there was none, so their objection keeps being honoured."""
        _required(value=value, reason=reason, actor=actor)
        key = register_key(kind, value)
        forms = self._hashed(kind, key)
        hashed = forms[0]
        await self._connection.execute(
            opt_outs.delete().where(opt_outs.c.kind == kind, opt_outs.c.value == key)
        )
        kept = await self._connection.scalar(
            sa.select(opt_outs.c.id).where(opt_outs.c.kind == kind, opt_outs.c.value.in_(forms))
        )
        now = self._clock.now()
        if kept is None:
            await self._connection.execute(
                opt_outs.insert().values(
                    kind=kind, value=hashed, source="privacy_officer", reason=reason, created_at=now
                )
            )
        await self._audit(
            "erase", kind, key, source="privacy_officer", reason=reason, actor=actor, at=now
        )

    async def listed(self, wanted: Iterable[Identifier]) -> set[Identifier]:
        """Which of these identifiers (in stored form) are in the register, as they are or
        kept hashed after an erasure: one query."""
        by_kind: dict[EntryKind, set[str]] = {}
        hashed: dict[tuple[str, str], Identifier] = {}
        for kind, value in wanted:
            by_kind.setdefault(kind, set()).add(value)
            for form in self._hashed(kind, value):
                hashed[(kind, form)] = (kind, value)
                by_kind[kind].add(form)
        if not by_kind:
            return set()
        condition = sa.or_(
            *(
                sa.and_(opt_outs.c.kind == kind, opt_outs.c.value.in_(sorted(values)))
                for kind, values in by_kind.items()
            )
        )
        rows = await self._connection.execute(
            sa.select(opt_outs.c.kind, opt_outs.c.value).where(condition)
        )
        return {hashed.get((row.kind, row.value), (row.kind, row.value)) for row in rows}

    async def record_read(
        self, kind: str, value: str, *, what: str, actor: str, detail: str = ""
    ) -> None:
        """Account for a read of personal data (an identifier's entry and decisions, an
        access document): a chained audit row like a change, action `read`, found by the
        identifier as its changes are."""
        stored = value.lower() if kind == "email" else value  # as register_key keeps it
        await self._audit(
            "read",
            kind,
            stored,
            source=what,
            reason=f"read: {what}" + (f" ({detail})" if detail else ""),
            actor=actor,
            at=self._clock.now(),
        )

    async def differences(self) -> list[str]:
        """How the register differs from what its audit log's changes make of it (adds,
        removals, erasures replayed in order): each entry added, changed or removed outside
        the service, named masked. Empty when they agree."""
        expected: dict[tuple[str, str], tuple[str, str, int]] = {}
        rows = await self._connection.execute(
            sa.select(
                register_audit.c.id,
                register_audit.c.action,
                register_audit.c.kind,
                register_audit.c.value_hash,
                register_audit.c.value_masked,
            ).order_by(register_audit.c.id)
        )
        for row in rows:
            key = (str(row.kind), str(row.value_hash))
            if row.action == "add":
                expected[key] = ("plain", str(row.value_masked), int(row.id))
            elif row.action == "remove":
                expected.pop(key, None)
            elif row.action == "erase":
                expected[key] = ("hashed", str(row.value_masked), int(row.id))
        found: list[str] = []
        matched: set[tuple[str, str]] = set()
        for entry in await self.entries():
            hashed = entry.value.startswith(HASHED_PREFIX)
            candidates = (
                [entry.value.removeprefix(HASHED_PREFIX)]
                if hashed
                else [
                    audit.keyed_hash(secret, entry.kind, entry.value)
                    for secret in self._identifier_keys.secrets
                ]
            )
            live = [(str(entry.kind), c) for c in candidates if (entry.kind, c) in expected]
            shown = "(hashed)" if hashed else audit.masked(entry.kind, entry.value)
            if not live:
                found.append(
                    f"entry {entry.id} ({entry.kind} {shown}) is in the register, but no "
                    "change in the audit log made it"
                )
                continue
            key = live[0]
            matched.add(key)
            if expected[key][0] != ("hashed" if hashed else "plain"):
                found.append(
                    f"entry {entry.id} ({entry.kind} {shown}) was changed outside the service "
                    f"(the audit log keeps it {expected[key][0]})"
                )
        for key, (_, shown, row_id) in expected.items():
            if key not in matched:
                found.append(
                    f"{key[0]} {shown}, added at audit row {row_id}, is missing from the "
                    "register (removed outside the service)"
                )
        return found

    async def differences_said(self) -> str | None:
        """The register's differences from its audit log in one sentence; None if none."""
        found = await self.differences()
        if not found:
            return None
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        return f"the register differs from its audit log: {found[0]}{more}"

    async def record_listing(self, count: int, *, what: str, actor: str) -> None:
        """Account for a read of the whole register (every identifier in it): a chained
        audit row, action `read`, of no one identifier."""
        await self._audit(
            "read",
            "register",
            "whole register",
            source=what,
            reason=f"read: the whole register ({count} entries)",
            actor=actor,
            at=self._clock.now(),
        )

    async def audit_trail(
        self, kind: EntryKind | None = None, value: str | None = None
    ) -> list[dict[str, str]]:
        """The audit log, oldest first; with kind and value, only that identifier's changes
        (found by its keyed hash). Identifiers appear masked."""
        query = sa.select(register_audit).order_by(register_audit.c.id)
        if kind is not None and value is not None:
            stored = register_key(kind, value)
            wanted = [
                audit.keyed_hash(secret, kind, stored) for secret in self._identifier_keys.secrets
            ]
            query = query.where(register_audit.c.value_hash.in_(wanted))
        rows = await self._connection.execute(query)
        return [
            {
                "id": str(r.id),
                "at": as_utc(r.at).isoformat(),
                "actor": r.actor,
                "action": r.action,
                "kind": r.kind,
                "value": r.value_masked,
                "source": r.source,
                "reason": r.reason,
            }
            for r in rows
        ]

    async def _audit(
        self,
        action: str,
        kind: str,
        value: str,
        *,
        source: str,
        reason: str,
        actor: str,
        at: datetime,
    ) -> None:
        await audit.append(
            self._connection,
            self._audit_key,
            self._chain,
            at=at,
            actor=actor,
            action=action,
            kind=kind,
            value=value,
            source=source,
            reason=reason,
        )


def _entry(row: sa.Row[tuple[object, ...]]) -> OptOut:
    return OptOut(row.id, row.kind, row.value, row.source, row.reason, as_utc(row.created_at))


def _required(**given: str) -> None:
    """Refuse an empty identifier, reason or actor, naming it."""
    for name, text in given.items():
        if not text.strip():
            what = "identifier" if name == "value" else name
            raise ValueError(f"an empty {what} is refused: every change says who, what and why")
