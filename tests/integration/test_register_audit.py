"""The register's audit log, on SQLite and PostgreSQL: no plaintext phone or email, a keyed
hash to find an identifier's changes, a masked form to read, a hash chain that names the
first row tampered with, and no change without an identifier, a reason and an actor."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_consent import audit, tables
from palaute_consent.register import OptOutRegister
from palaute_runtime.database import create_engine
from palaute_runtime.migrations import _config, migrate

KEY = "test-register-audit-key"
PHONE, EMAIL = "+358401234567", "matti.meikalainen@example.fi"


async def changes(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        register = OptOutRegister(connection, KEY)
        await register.add("phone", PHONE, source="sms_stop", reason="STOP", actor="sms_stop")
        await register.add("email", EMAIL, source="privacy_officer", reason="kirje", actor="po")
        await register.remove("phone", PHONE, reason="asked back", actor="po")
        await register.add(
            "customer_id", "C-77", source="customer_service", reason="puhelu", actor="cs"
        )


async def test_no_plaintext_address_a_masked_form_and_a_keyed_hash_to_find_one(
    consent_db: AsyncEngine,
) -> None:
    await changes(consent_db)
    async with consent_db.connect() as connection:
        rows = [
            dict(r._mapping) for r in await connection.execute(sa.select(tables.register_audit))
        ]
        register = OptOutRegister(connection, KEY)
        phone_trail = await register.audit_trail("phone", PHONE)
        email_trail = await register.audit_trail("email", EMAIL.upper())
    stored = repr(rows)
    assert PHONE not in stored
    assert "401234567" not in stored
    assert EMAIL not in stored
    assert [r["value"] for r in phone_trail] == ["+358 40 *** **67"] * 2
    assert [r["action"] for r in phone_trail] == ["add", "remove"]
    assert [r["value"] for r in email_trail] == ["m***@example.fi"]


async def test_the_chain_holds_and_names_the_first_row_tampered_with(
    consent_db: AsyncEngine,
) -> None:
    await changes(consent_db)
    async with consent_db.connect() as connection:
        assert await audit.verify(connection) == audit.Verdict(4)
    ids = await _ids(consent_db)
    async with consent_db.begin() as connection:  # someone softens a reason
        await connection.execute(
            tables.register_audit.update()
            .where(tables.register_audit.c.id == ids[1])
            .values(reason="pyyntö")
        )
    async with consent_db.connect() as connection:
        verdict = await audit.verify(connection)
    assert (verdict.broken_at, verdict.why) == (ids[1], "its content does not match its hash")


async def test_a_removed_row_breaks_the_chain_at_the_next(consent_db: AsyncEngine) -> None:
    await changes(consent_db)
    ids = await _ids(consent_db)
    async with consent_db.begin() as connection:
        await connection.execute(
            tables.register_audit.delete().where(tables.register_audit.c.id == ids[2])
        )
    async with consent_db.connect() as connection:
        verdict = await audit.verify(connection)
    assert (verdict.broken_at, verdict.why) == (ids[3], "its link to the row before it is broken")


@pytest.mark.parametrize(
    ("value", "reason", "actor", "named"),
    [(" ", "why", "po", "identifier"), (PHONE, "", "po", "reason"), (PHONE, "why", "", "actor")],
)
async def test_an_empty_identifier_reason_or_actor_is_refused(
    consent_db: AsyncEngine, value: str, reason: str, actor: str, named: str
) -> None:
    async with consent_db.begin() as connection:
        register = OptOutRegister(connection, KEY)
        with pytest.raises(ValueError, match=f"an empty {named} is refused"):
            await register.add("phone", value, source="privacy_officer", reason=reason, actor=actor)


async def _ids(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as connection:
        return list(
            await connection.scalars(
                sa.select(tables.register_audit.c.id).order_by(tables.register_audit.c.id)
            )
        )


async def test_the_migration_hashes_masks_and_chains_the_rows_before_it(
    database_url: str,
) -> None:
    engine = create_engine(database_url)

    def upgrade_to(connection: sa.Connection, revision: str) -> None:
        command.upgrade(_config(tables.MIGRATIONS, connection), revision)

    legacy = sa.table(
        "register_audit",
        *(sa.column(name) for name in ("actor", "action", "kind", "value", "source", "reason")),
        sa.column("at", sa.DateTime(timezone=True)),
    )
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade_to, "58a9050a1004")
            await connection.execute(
                legacy.insert(),
                [
                    {
                        "at": datetime.now(UTC),
                        "actor": "po",
                        "action": "add",
                        "kind": "phone",
                        "value": PHONE,
                        "source": "privacy_officer",
                        "reason": "old",
                    },
                    {
                        "at": datetime.now(UTC),
                        "actor": "po",
                        "action": "add",
                        "kind": "email",
                        "value": EMAIL,
                        "source": "privacy_officer",
                        "reason": "old",
                    },
                ],
            )
        await migrate(engine, tables.MIGRATIONS)
        async with engine.connect() as connection:
            rows = [
                dict(r._mapping) for r in await connection.execute(sa.select(tables.register_audit))
            ]
            verdict = await audit.verify(connection)
    finally:
        await engine.dispose()
    assert PHONE not in repr(rows)
    assert EMAIL not in repr(rows)
    assert [r["value_masked"] for r in rows] == ["+358 40 *** **67", "m***@example.fi"]
    assert verdict == audit.Verdict(2)


def consent_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "palaute_consent", *args],
        env=os.environ | {"PALAUTE_DATA_DIR": str(data_dir), "USER": "tietosuoja"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_cli_records_the_os_user_wants_a_reason_and_verifies_the_chain(
    tmp_path: Path,
) -> None:
    empty = consent_cli(tmp_path, "optout", "add", "--phone", PHONE, "--reason", " ")
    assert (empty.returncode, empty.stderr.count("\n")) == (1, 1)
    assert "a reason is required" in empty.stderr
    added = consent_cli(tmp_path, "optout", "add", "--phone", PHONE, "--reason", "soitto")
    assert added.returncode == 0, added.stderr
    trail = consent_cli(tmp_path, "optout", "audit", "--phone", "040 123 4567")
    assert '"actor": "os:tietosuoja"' in trail.stdout
    assert PHONE not in trail.stdout
    holds = consent_cli(tmp_path, "optout", "verify")
    assert holds.returncode == 0
    assert "1 change(s), chain intact" in holds.stdout
    with sqlite3.connect(tmp_path / "consent.db") as database:
        database.execute("UPDATE register_audit SET actor = 'someone else'")
    broken = consent_cli(tmp_path, "optout", "verify")
    assert broken.returncode == 1
    assert broken.stderr.startswith("error: the audit log does not hold at row 1:")
