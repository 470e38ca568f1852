"""The lifecycle every Palaute service shares: schema, broker, background loops, HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Protocol

import structlog
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from palaute_runtime import i18n
from palaute_runtime.database import SqliteClaim, claim_sqlite_database
from palaute_runtime.health import Health
from palaute_runtime.http import HttpServer
from palaute_runtime.migrations import migrate
from palaute_runtime.ops import CountResponses, Readiness, openapi_routes, ops_routes

log = structlog.get_logger("palaute.service")

Loop = Callable[[], Coroutine[Any, Any, None]]


class Startable(Protocol):
    """Anything a process runs until told to stop."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class ServiceRuntime:
    """Starts a service's parts in dependency order and stops them in reverse.

    Every service serves its own `routes` (and their OpenAPI document) on `host:port`, and
    the operations endpoints (`/health/live`, `/health/ready`, `/metrics`) on an operations
    port of their own (`ops`: host and port), never beside a public page.
    """

    def __init__(
        self,
        name: str,
        *,
        engine: AsyncEngine,
        migrations: Path,
        broker: KafkaBroker,
        host: str,
        port: int,
        ops: tuple[str, int],
        routes: Sequence[BaseRoute] = (),
        health: Health | None = None,
        loops: list[Loop] | None = None,
        closers: list[Loop] | None = None,
        trusted_proxies: str = "",
    ) -> None:
        self.name = name
        self.engine = engine
        self.migrations = migrations
        self.broker = broker
        self.health = health or Health(name)
        self.readiness = Readiness(name, engine, broker, self.health)
        app = Starlette(routes=[*routes, *openapi_routes(f"Palaute {name}")])
        self.http = HttpServer(
            CountResponses(app, name), host, port, trusted_proxies=trusted_proxies
        )
        ops_app = Starlette(routes=ops_routes(self.readiness))
        self.ops = HttpServer(ops_app, *ops, trusted_proxies=trusted_proxies)
        self._loops = loops or []
        self._closers = closers or []
        self._tasks: list[asyncio.Task[None]] = []
        self._database_claim: SqliteClaim | None = None

    async def start(self) -> None:
        """Serve HTTP (live, not ready), migrate, connect to Kafka, start loops: ready."""
        self._database_claim = claim_sqlite_database(self.engine, self.name)
        await self.ops.start()
        await self.http.start()
        try:
            await migrate(self.engine, self.migrations)
            await self.broker.start()
        except BaseException:
            await self.http.stop()
            await self.ops.stop()
            if self._database_claim is not None:
                self._database_claim.release()
            raise
        self._tasks = [
            asyncio.create_task(loop(), name=f"{self.name}:{loop.__qualname__}")
            for loop in self._loops
        ]
        self.readiness.started = True
        known = i18n.languages()
        log.info(
            "service_started",
            service=self.name,
            http=self.http.url,
            ops=self.ops.url,
            languages=",".join(known.tags()),
        )
        for tag, problems in sorted(known.incomplete.items()):  # found, but not offered
            log.warning(
                "language_not_available",
                language=tag,
                problems=len(problems),
                first=problems[0],
                hint="palaute-i18n check names every problem",
            )

    async def stop(self) -> None:
        """Stop taking work, finish what is in hand, release connections."""
        self.readiness.started = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.broker.stop()
        for close in self._closers:
            await close()
        await self.http.stop()
        await self.ops.stop()
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
