"""The register's audit log, on SQLite and PostgreSQL: no plaintext phone or email, a keyed
hash to find an identifier's changes, a masked form to read, a chain keyed outside the
database that names the first row tampered with, anchors outside the database that show
deleted newest rows and a recomputed chain, and no change without an identifier, a reason
and an actor."""

from __future__ import annotations

import os
import pwd
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_consent import audit, tables
from palaute_consent.bootstrap import build as build_consent
from palaute_consent.register import OptOutRegister
from palaute_consent.settings import ConsentSettings
from palaute_runtime.database import create_engine
from palaute_runtime.keys import Keyring
from palaute_runtime.migrations import _config, migrate
from palaute_runtime.topic_reader import read_records
from palaute_schemas import AUDIT_ANCHORED, AuditAnchored
from tests.conftest import wait_until

KEY = "test-register-audit-key"
CHAIN = Keyring.parse("1:test-audit-chain-key")
PHONE, EMAIL = "+358401234567", "matti.meikalainen@example.fi"


async def changes(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        register = OptOutRegister(connection, KEY, chain=CHAIN)
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
        register = OptOutRegister(connection, KEY, chain=CHAIN)
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
        assert await audit.verify(connection, CHAIN) == audit.Verdict(4)
    ids = await _ids(consent_db)
    async with consent_db.begin() as connection:  # someone softens a reason
        await connection.execute(
            tables.register_audit.update()
            .where(tables.register_audit.c.id == ids[1])
            .values(reason="pyyntö")
        )
    async with consent_db.connect() as connection:
        verdict = await audit.verify(connection, CHAIN)
    assert (verdict.broken_at, verdict.why) == (ids[1], "its content does not match its hash")


async def test_a_removed_row_breaks_the_chain_at_the_next(consent_db: AsyncEngine) -> None:
    await changes(consent_db)
    ids = await _ids(consent_db)
    async with consent_db.begin() as connection:
        await connection.execute(
            tables.register_audit.delete().where(tables.register_audit.c.id == ids[2])
        )
    async with consent_db.connect() as connection:
        verdict = await audit.verify(connection, CHAIN)
    assert (verdict.broken_at, verdict.why) == (ids[3], "its link to the row before it is broken")


@pytest.mark.parametrize(
    ("value", "reason", "actor", "named"),
    [(" ", "why", "po", "identifier"), (PHONE, "", "po", "reason"), (PHONE, "why", "", "actor")],
)
async def test_an_empty_identifier_reason_or_actor_is_refused(
    consent_db: AsyncEngine, value: str, reason: str, actor: str, named: str
) -> None:
    async with consent_db.begin() as connection:
        register = OptOutRegister(connection, KEY, chain=CHAIN)
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
            verdict = await audit.verify(connection, ConsentSettings().chain_keys)
    finally:
        await engine.dispose()
    assert {r["key_id"] for r in rows} == {"0"}, "chained again, keyed, by migration 0010"
    assert PHONE not in repr(rows)
    assert EMAIL not in repr(rows)
    assert [r["value_masked"] for r in rows] == ["+358 40 *** **67", "m***@example.fi"]
    assert verdict == audit.Verdict(2)


REAL_ACCOUNT = f"os:{pwd.getpwuid(os.getuid()).pw_name}"


def consent_cli(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "palaute_consent", *args],
        env=os.environ | {"PALAUTE_DATA_DIR": str(data_dir), "USER": "tietosuoja"} | (env or {}),
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
    # The account of the process's real user id, whatever $USER says ("tietosuoja").
    assert f'"actor": "{REAL_ACCOUNT}"' in trail.stdout
    assert "tietosuoja" not in trail.stdout
    assert PHONE not in trail.stdout
    holds = consent_cli(tmp_path, "optout", "verify", "--without-anchors")
    assert holds.returncode == 0, holds.stderr
    assert "2 change(s), chain intact" in holds.stdout, "the addition and the read of it"
    assert "the register is what its changes make of it" in holds.stdout
    # The objection deleted straight from the register: the chain holds, the register not.
    with sqlite3.connect(tmp_path / "consent.db") as database:
        database.execute("DELETE FROM opt_outs")
    deleted = consent_cli(tmp_path, "optout", "verify", "--without-anchors")
    assert (deleted.returncode, deleted.stderr.count("\n")) == (1, 1)
    assert "the register differs from its audit log: phone +358 40 *** **67" in deleted.stderr
    assert "missing from the register" in deleted.stderr
    with sqlite3.connect(tmp_path / "consent.db") as database:
        database.execute("UPDATE register_audit SET actor = 'someone else'")
    broken = consent_cli(tmp_path, "optout", "verify", "--without-anchors")
    assert broken.returncode == 1
    assert broken.stderr.startswith("error: the audit log does not hold at row 1:")


def test_reading_the_register_from_the_cli_is_accounted_to_the_real_account(
    tmp_path: Path,
) -> None:
    added = consent_cli(tmp_path, "optout", "add", "--phone", PHONE, "--reason", "soitto")
    assert added.returncode == 0, added.stderr
    listed = consent_cli(tmp_path, "optout", "list", env={"USER": "mallory", "LOGNAME": "x"})
    assert listed.returncode == 0, listed.stderr
    assert PHONE in listed.stdout
    with sqlite3.connect(tmp_path / "consent.db") as database:
        action, actor, reason = database.execute(
            "SELECT action, actor, reason FROM register_audit ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert (action, actor) == ("read", REAL_ACCOUNT), "the real user id, not $USER"
    assert reason == "read: the whole register (1 entries)"
    # A shared account names nobody: production refuses root, and any account listed.
    refused = consent_cli(
        tmp_path,
        "optout",
        "list",
        env={"PALAUTE_CLI_REFUSED_ACCOUNTS": REAL_ACCOUNT.removeprefix("os:")},
    )
    assert (refused.returncode, refused.stderr.count("\n")) == (1, 1)
    assert "run this under your own account" in refused.stderr
    assert PHONE not in refused.stdout


async def _rechain(
    engine: AsyncEngine, key: str | None, key_id: str | None, *, edit_row: int | None = None
) -> None:
    """What a writer of the database does to hide a change: edit a row, then compute every
    hash again (with plain SHA-256, or an HMAC under the key it has)."""
    async with engine.begin() as connection:
        if edit_row is not None:
            await connection.execute(
                tables.register_audit.update()
                .where(tables.register_audit.c.id == edit_row)
                .values(reason="pyyntö")
            )
        rows = (
            await connection.execute(
                sa.select(tables.register_audit).order_by(tables.register_audit.c.id)
            )
        ).all()
        previous = audit.GENESIS
        for row in rows:
            fields = audit._hashed_fields(row)
            digest = audit.row_hash(previous, fields, key)
            await connection.execute(
                tables.register_audit.update()
                .where(tables.register_audit.c.id == row.id)
                .values(prev_hash=previous, row_hash=digest, key_id=key_id)
            )
            previous = digest


async def _anchor_now(engine: AsyncEngine, chain: Keyring = CHAIN) -> AuditAnchored:
    async with engine.connect() as connection:
        return await audit.anchor(connection, chain, datetime.now(UTC))


async def test_a_chain_recomputed_without_the_key_names_the_edited_row(
    consent_db: AsyncEngine,
) -> None:
    await changes(consent_db)
    ids = await _ids(consent_db)
    await _rechain(consent_db, None, "1", edit_row=ids[1])  # plain SHA-256, as before
    async with consent_db.connect() as connection:
        verdict = await audit.verify(connection, CHAIN)
    assert (verdict.broken_at, verdict.why) == (ids[0], "its content does not match its hash")
    await _rechain(consent_db, "a-guessed-key", "1", edit_row=ids[1])
    async with consent_db.connect() as connection:
        verdict = await audit.verify(connection, CHAIN)
    assert verdict.broken_at == ids[0], "an HMAC under another key does not hold either"


async def test_deleted_newest_rows_and_a_rewritten_chain_are_found_by_the_anchors(
    consent_db: AsyncEngine,
) -> None:
    await changes(consent_db)
    anchored = await _anchor_now(consent_db)
    assert (anchored.head_id, anchored.rows) == ((await _ids(consent_db))[-1], 4)
    ids = await _ids(consent_db)
    async with consent_db.begin() as connection:  # the newest two changes vanish
        await connection.execute(
            tables.register_audit.delete().where(tables.register_audit.c.id.in_(ids[2:]))
        )
    async with consent_db.connect() as connection:
        alone = await audit.verify(connection, CHAIN)
        against = await audit.verify(connection, CHAIN, [anchored])
    assert alone == audit.Verdict(2), "the chain alone cannot tell"
    assert against.broken_at == ids[3]
    assert f"names row {ids[3]} of 4, but the chain ends at row {ids[1]}" in against.why


async def test_a_chain_rewritten_without_a_key_or_even_with_it_does_not_hold(
    consent_db: AsyncEngine,
) -> None:
    await changes(consent_db)
    anchored = await _anchor_now(consent_db)
    ids = await _ids(consent_db)
    # Every row rewritten without a key (as the chain was before it had one): refused.
    await _rechain(consent_db, None, None, edit_row=ids[1])
    async with consent_db.connect() as connection:
        verdict = await audit.verify(connection, CHAIN)
    assert (verdict.broken_at, verdict.why) == (ids[0], "it names no chain key")
    # With the key itself (stolen), the chain holds again; the anchor still does not.
    await _rechain(consent_db, CHAIN.current, CHAIN.current_id, edit_row=ids[1])
    async with consent_db.connect() as connection:
        assert (await audit.verify(connection, CHAIN)).broken_at is None
        assert (await audit.verify(connection, CHAIN, [anchored])).broken_at == ids[3]


async def test_a_forged_anchor_is_ignored_and_a_rotated_key_still_verifies(
    consent_db: AsyncEngine,
) -> None:
    await changes(consent_db)
    ids = await _ids(consent_db)
    forged = (await _anchor_now(consent_db)).model_copy(update={"head_hash": "f" * 64})
    async with consent_db.connect() as connection:
        verdict = await audit.verify(connection, CHAIN, [forged])
    assert verdict == audit.Verdict(4), "an anchor whose signature fails counts for nothing"
    # Rotation: a new key writes, the old one still verifies the rows it made.
    rotated = Keyring.parse("2:the-new-chain-key,1:test-audit-chain-key")
    async with consent_db.begin() as connection:
        await OptOutRegister(connection, KEY, chain=rotated).add(
            "customer_id", "C-78", source="customer_service", reason="uusi", actor="cs"
        )
    newest = await _anchor_now(consent_db, rotated)
    async with consent_db.connect() as connection:
        key_ids = list(await connection.scalars(sa.select(tables.register_audit.c.key_id)))
        assert key_ids == ["1", "1", "1", "1", "2"]
        assert await audit.verify(connection, rotated, [newest]) == audit.Verdict(5, None, "", 1)
        dropped = await audit.verify(connection, Keyring.parse("2:the-new-chain-key"))
    assert (dropped.broken_at, dropped.why) == (ids[0], "its chain key '1' is not configured")


@pytest.mark.broker
async def test_the_service_anchors_the_head_on_kafka_and_verify_finds_deleted_rows(
    kafka: str, tmp_path: Path
) -> None:
    """Consent running on the real broker anchors the chain's head on its schedule; after
    the newest change is deleted from the database it anchors nothing more, and
    `palaute-consent optout verify` (its own process, reading the anchors from Kafka) names
    the anchored row the chain lost."""
    chain_key = f"7:{uuid.uuid4().hex}"  # this test's own: other tests' anchors are ignored
    settings = ConsentSettings(
        kafka_bootstrap=kafka,
        data_dir=tmp_path,
        audit_chain_key=chain_key,
        audit_anchor_seconds=0.2,
    )
    runtime, service = build_consent(settings)
    await runtime.start()
    try:
        async with service.engine.begin() as connection:
            register = service.register(connection)
            for n in range(3):
                await register.add(
                    "customer_id", f"C-A{n}", source="privacy_officer", reason="kirje", actor="po"
                )

        async def anchored_three() -> list[AuditAnchored] | None:
            found = [
                AuditAnchored.model_validate_json(record.value or b"")
                async for record in read_records(kafka, [AUDIT_ANCHORED.name], until_end=True)
            ]
            return found if any(a.rows == 3 and a.key_id == "7" for a in found) else None

        anchors = await wait_until(anchored_three, within=20, what="three rows anchored")
        async with service.engine.connect() as connection:  # the intact chain holds them
            holds = await audit.verify(connection, settings.chain_keys, anchors)
        assert (holds.rows, holds.broken_at) == (3, None)
        assert holds.anchors_checked >= 1, "other tests' anchors (other keys) are ignored"
        env = {"PALAUTE_KAFKA_BOOTSTRAP": kafka, "PALAUTE_AUDIT_CHAIN_KEY": chain_key}
        async with service.engine.begin() as connection:
            newest = await connection.scalar(sa.select(sa.func.max(tables.register_audit.c.id)))
            await connection.execute(
                tables.register_audit.delete().where(tables.register_audit.c.id == newest)
            )
        assert await service.anchor_audit_chain() is None, "the loss is not anchored"
    finally:
        await runtime.stop()
    broken = consent_cli(tmp_path, "optout", "verify", env=env)
    assert broken.returncode == 1
    assert f"names row {newest} of 3, but the chain ends at row {newest - 1}" in broken.stderr


@pytest.mark.broker
async def test_a_chain_anchored_before_fails_verify_when_kafka_has_lost_its_anchors(
    kafka: str, tmp_path: Path
) -> None:
    """Consent keeps a copy of each anchor it publishes. A Kafka whose anchors topic no
    longer holds any of this chain's anchors (lost, emptied, or a replaced database) fails
    `optout verify`, unless the operator says --anchors-lost: then consent's own copies are
    the anchors, and a deleted newest row is still named."""
    chain_key = f"8:{uuid.uuid4().hex}"  # no anchor on this broker is signed with it
    env = {"PALAUTE_KAFKA_BOOTSTRAP": kafka, "PALAUTE_AUDIT_CHAIN_KEY": chain_key}
    for n in range(2):
        added = consent_cli(
            tmp_path, "optout", "add", "--customer-id", f"C-L{n}", "--reason", "kirje", env=env
        )
        assert added.returncode == 0, added.stderr
    settings = ConsentSettings(data_dir=tmp_path, audit_chain_key=chain_key)
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            kept = await audit.anchor(connection, settings.chain_keys, datetime.now(UTC))
            await audit.keep_anchor(connection, kept)
    finally:
        await engine.dispose()
    lost = consent_cli(tmp_path, "optout", "verify", env=env)
    assert (lost.returncode, lost.stderr.count("\n")) == (1, 1), lost.stderr
    assert "the chain was anchored 1 time(s)" in lost.stderr
    assert "yet Kafka holds no anchor" in lost.stderr
    said = consent_cli(tmp_path, "optout", "verify", "--anchors-lost", env=env)
    assert said.returncode == 0, said.stderr
    assert "checked against consent's own copies of 1 anchor(s) (--anchors-lost)" in said.stdout
    with sqlite3.connect(tmp_path / "consent.db") as database:
        database.execute("DELETE FROM register_audit WHERE id = ?", (kept.head_id,))
    cut = consent_cli(tmp_path, "optout", "verify", "--anchors-lost", env=env)
    assert cut.returncode == 1
    assert f"names row {kept.head_id} of 2, but the chain ends at row" in cut.stderr


async def test_a_rotated_identifier_key_still_finds_old_rows_and_honours_kept_objections(
    consent_db: AsyncEngine,
) -> None:
    async with consent_db.begin() as connection:
        old = OptOutRegister(connection, "1:old-identifier-key", chain=CHAIN)
        await old.add("phone", PHONE, source="sms_stop", reason="STOP", actor="sms_stop")
        await old.keep_hashed("email", EMAIL, reason="erased", actor="po")
    async with consent_db.begin() as connection:
        rotated = OptOutRegister(
            connection, "2:new-identifier-key,1:old-identifier-key", chain=CHAIN
        )
        await rotated.remove("phone", PHONE, reason="asked back", actor="po")
        trail = await rotated.audit_trail("phone", PHONE)
        assert [row["action"] for row in trail] == ["add", "remove"], "both keys' rows found"
        assert await rotated.forbids(email=EMAIL), "an objection kept hashed stays honoured"
        assert not await OptOutRegister(connection, "2:new-identifier-key", chain=CHAIN).forbids(
            email=EMAIL
        ), "(only while the old key stays listed)"
