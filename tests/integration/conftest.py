"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_collector import tables as collector_tables
from palaute_collector.service import CollectorService
from palaute_collector.settings import CollectorSettings
from palaute_consent import tables as consent_tables
from palaute_dispatcher import tables as dispatcher_tables
from palaute_runtime.clock import Clock
from palaute_runtime.database import create_engine
from palaute_runtime.local_broker import free_port
from palaute_runtime.migrations import migrate
from palaute_sandbox.server import PartnerSandbox
from palaute_sandbox.settings import SandboxSettings


@pytest.fixture
async def sandbox() -> AsyncIterator[PartnerSandbox]:
    """The partner sandbox on free ports: real HTTP SMS API and real SMTP server."""
    sandbox = PartnerSandbox(
        SandboxSettings(sandbox_http_port=free_port(), sandbox_smtp_port=free_port())
    )
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


@asynccontextmanager
async def migrated(url: str, migrations: Path) -> AsyncIterator[AsyncEngine]:
    """A service's database at `url`, migrated."""
    engine = create_engine(url)
    await migrate(engine, migrations)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def consent_db(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The consent service's database, migrated, on SQLite and on PostgreSQL."""
    async with migrated(database_url, consent_tables.MIGRATIONS) as engine:
        yield engine


@pytest.fixture
async def dispatcher_db(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The dispatcher's database, migrated, on SQLite and on PostgreSQL."""
    async with migrated(database_url, dispatcher_tables.MIGRATIONS) as engine:
        yield engine


@asynccontextmanager
async def collector_on(
    url: str, clock: Clock | None = None, **settings: Any
) -> AsyncIterator[CollectorService]:
    """A collector service on a migrated database (its HTTP and Kafka ends not started), on
    the given clock (else real time)."""
    engine = create_engine(url)
    await migrate(engine, collector_tables.MIGRATIONS)
    try:
        yield CollectorService(engine, CollectorSettings(**settings), clock)
    finally:
        await engine.dispose()
