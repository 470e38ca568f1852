"""Async SQLAlchemy engines, and the inbox and outbox tables every service keeps."""

from __future__ import annotations

import fcntl
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy import event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from palaute_runtime.errors import RefusedStart


def create_engine(url: str) -> AsyncEngine:
    """An engine for SQLite (embedded default) or PostgreSQL (production).

    A SQLite writer waits up to 30 s for a lock (`?timeout=SECONDS` in the URL changes it);
    past that the caller sees an infrastructure fault and pauses.
    """
    if url.startswith("sqlite"):
        parsed = make_url(url)
        connect_args = {} if "timeout" in parsed.query else {"timeout": 30.0}
        # One connection per process: SQLite takes one writer at a time anyway, and writers
        # of one process that meet at its lock back off in sleeps of up to 100 ms (the relay,
        # the consumer and a background loop meet all the time); waiting for the connection
        # in the event loop costs nothing instead.
        engine = create_async_engine(
            url,
            connect_args=connect_args,
            pool_size=1,
            max_overflow=0,
            pool_timeout=120,
            hide_parameters=True,  # errors travel to logs and dead letters: no personal data
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets readers go on while one writer commits; NORMAL is durable in WAL mode.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_async_engine(
        url, pool_size=10, max_overflow=10, pool_pre_ping=True, hide_parameters=True
    )


# BIGINT on PostgreSQL; SQLite's AUTOINCREMENT needs the column to be exactly INTEGER.
OUTBOX_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class DatabaseInUse(RefusedStart):
    """Another process already runs a service on this SQLite database."""


class SqliteClaim:
    """An exclusive lock on a SQLite database file, held while a service runs on it."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    def release(self) -> None:
        """Let another process run the service on this database."""
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


def claim_sqlite_database(engine: AsyncEngine, service: str) -> SqliteClaim | None:
    """Make sure this is the only process running `service` on its SQLite file.

    SQLite is one writer process per database: two relays of one outbox, or two delivery
    loops, would publish or send twice. PostgreSQL takes any number of replicas; SQLite
    refuses the second one here, cleanly, before it touches anything. Short-lived commands
    (the register CLI) do not claim the file and may write beside the running service.
    """
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    lock_path = Path(f"{database}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = lock_path.open("a+b")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DatabaseInUse(
            f"another {service} process is already running on {database}; SQLite takes one "
            "process per database (use PostgreSQL for replicas)"
        ) from None
    return SqliteClaim(handle)


def add_inbox_and_outbox(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """Add the inbox (consumer, event_id) and outbox tables to a service's metadata."""
    inbox = sa.Table(
        "inbox",
        metadata,
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column(
            "handled_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
            index=True,  # the purge deletes by it
        ),
    )
    outbox = sa.Table(
        "outbox",
        metadata,
        # Ids are never reused (a sequence; AUTOINCREMENT on SQLite): a relay deletes by id.
        sa.Column("id", OUTBOX_ID, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sqlite_autoincrement=True,
    )
    return inbox, outbox


def insert_ignoring_conflicts(
    connection: AsyncConnection, table: sa.Table
) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that skips a row whose key already exists, on either dialect."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def upsert(connection: AsyncConnection, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
    """A dialect-specific INSERT that can take ON CONFLICT DO UPDATE."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# A row as a statement returns it (its columns by name).
Row = sa.Row[tuple[Any, ...]]


def rowcount(result: sa.CursorResult[Any]) -> int:
    """How many rows a statement changed (0 where the driver cannot tell)."""
    return int(result.rowcount or 0)


def as_utc(moment: datetime) -> datetime:
    """A stored time as aware UTC (SQLite hands back naive datetimes; all stored are UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
