"""The lifecycle every Palaute service shares: schema, broker, background loops, HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

import structlog
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_runtime.database import SqliteClaim, claim_sqlite_database
from palaute_runtime.health import Health
from palaute_runtime.http import HttpServer
from palaute_runtime.migrations import migrate

log = structlog.get_logger("palaute.service")

Loop = Callable[[], Coroutine[Any, Any, None]]


class Startable(Protocol):
    """Anything a process runs until told to stop."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class ServiceRuntime:
    """Starts a service's parts in dependency order and stops them in reverse."""

    def __init__(
        self,
        name: str,
        *,
        engine: AsyncEngine,
        migrations: Path,
        broker: KafkaBroker,
        health: Health | None = None,
        loops: list[Loop] | None = None,
        http: HttpServer | None = None,
        closers: list[Loop] | None = None,
    ) -> None:
        self.name = name
        self.engine = engine
        self.migrations = migrations
        self.broker = broker
        self.health = health or Health(name)
        self.http = http
        self._loops = loops or []
        self._closers = closers or []
        self._tasks: list[asyncio.Task[None]] = []
        self._database_claim: SqliteClaim | None = None

    async def start(self) -> None:
        """Migrate the database, connect to Kafka, start loops and the HTTP server."""
        self._database_claim = claim_sqlite_database(self.engine, self.name)
        await migrate(self.engine, self.migrations)
        await self.broker.start()
        self._tasks = [
            asyncio.create_task(loop(), name=f"{self.name}:{loop.__qualname__}")
            for loop in self._loops
        ]
        if self.http is not None:
            await self.http.start()
        log.info("service_started", service=self.name, http=self.http.url if self.http else None)

    async def stop(self) -> None:
        """Stop taking work, finish what is in hand, release connections."""
        if self.http is not None:
            await self.http.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.broker.stop()
        for close in self._closers:
            await close()
        await self.engine.dispose()
        if self._database_claim is not None:
            self._database_claim.release()
        log.info("service_stopped", service=self.name)


async def run_when_woken(
    step: Callable[[], Awaitable[int]], wake: asyncio.Event, *, poll_seconds: float, name: str
) -> None:
    """Run `step` until cancelled: again at once while it finds work, else after a wake-up
    or `poll_seconds`. A failing step is logged and retried after the poll interval."""
    while True:
        wake.clear()
        try:
            done = await step()
        except Exception as exc:
            log.error("loop_step_failed", loop=name, error=type(exc).__name__)
            done = 0
        if done:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), poll_seconds)


async def run_until_signalled(*services: Startable) -> None:
    """Run services until SIGINT or SIGTERM, then stop them cleanly, last started first."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    started: list[Startable] = []
    try:
        for service in services:
            await service.start()
            started.append(service)
        await stop.wait()
    finally:
        for service in reversed(started):
            await service.stop()
