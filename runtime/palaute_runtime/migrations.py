"""Alembic migrations, one history per service, run by the service itself at start.

palaute-migrations revision SERVICE -m "what changed"   (autogenerates from the models)
"""

from __future__ import annotations

import asyncio
import importlib
import tempfile
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_runtime.database import create_engine

# Replicas of one service may start together: on PostgreSQL one migrates, the others wait.
_MIGRATION_LOCK = 0x7061_6C61_7574_65  # "palaute"


def run_environment(metadata: sa.MetaData) -> None:
    """The body of every service's migrations/env.py: migrate on the handed connection."""
    from alembic import context

    context.configure(
        connection=context.config.attributes["connection"],
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def outbox_ids_never_reused(direction: Literal["upgrade", "downgrade"]) -> None:
    """One migration in every service: outbox ids are never handed out twice.

    Without AUTOINCREMENT SQLite hands a deleted row's id to the next row, and a relay that
    read the old row would delete the new one unpublished; on PostgreSQL the id is widened
    to BIGINT so that it cannot run out.
    """
    from alembic import op

    sqlite = op.get_bind().dialect.name == "sqlite"
    if direction == "upgrade" and sqlite:
        with op.batch_alter_table(
            "outbox", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
    elif not sqlite:
        old, new = (
            (sa.Integer(), sa.BigInteger())
            if direction == "upgrade"
            else (sa.BigInteger(), sa.Integer())
        )
        with op.batch_alter_table("outbox") as batch_op:
            batch_op.alter_column("id", existing_type=old, type_=new)


def _config(location: Path, connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(location))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: sa.Connection, location: Path) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    command.upgrade(_config(location, connection), "head")


# Alembic keeps its environment in a module global: two migrations interleaving in one
# process (the local stack starts its services concurrently) would swap it under each other.
_ONE_AT_A_TIME = asyncio.Lock()


async def migrate(engine: AsyncEngine, location: Path) -> None:
    """Bring a service's database to the newest schema."""
    async with _ONE_AT_A_TIME, engine.begin() as connection:
        await connection.run_sync(_upgrade, location)


def differences(connection: sa.Connection, metadata: sa.MetaData) -> list[object]:
    """What the migrated database lacks or has beyond the models (empty when in step)."""
    from alembic.autogenerate import compare_metadata

    return list(compare_metadata(MigrationContext.configure(connection), metadata))


async def revision(service: str, message: str) -> None:
    tables = importlib.import_module(f"palaute_{service}.tables")
    location: Path = tables.MIGRATIONS
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite+aiosqlite:///{scratch}/scratch.db")
        try:
            await migrate(engine, location)
            async with engine.begin() as connection:
                await connection.run_sync(
                    lambda sync: command.revision(
                        _config(location, sync), message=message, autogenerate=True
                    )
                )
        finally:
            await engine.dispose()
