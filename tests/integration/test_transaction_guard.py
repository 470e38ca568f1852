"""The guard that keeps network calls out of database transactions catches one, and lets a
call after commit pass."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import sqlalchemy as sa

from palaute_runtime.database import create_engine
from palaute_runtime.local_broker import free_port
from tests.transaction_guard import guarding


async def call(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        try:
            async with session.get(url):
                pass
        except aiohttp.ClientError:
            pass  # nobody listens: what counts is that the call started


async def test_an_http_call_inside_a_transaction_is_caught_and_one_after_commit_is_not(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/guard.db")
    url = f"http://127.0.0.1:{free_port()}/"
    try:
        with guarding() as inside:
            async with engine.begin() as connection:
                await connection.execute(sa.text("SELECT 1"))
                await call(url)
        with guarding() as after:
            async with engine.begin() as connection:
                await connection.execute(sa.text("SELECT 1"))
            await call(url)
    finally:
        await engine.dispose()
    assert len(inside) == 1
    assert "an HTTP call started inside a database transaction" in inside[0]
    assert after == []
