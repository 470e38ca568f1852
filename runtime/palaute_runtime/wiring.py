"""The wiring every Palaute service shares: one batch consumer over its handlers, its outbox
relay, its HTTP surface and background loops, started and stopped as one runtime."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import BaseRoute

from palaute_runtime.health import Health
from palaute_runtime.messaging import Handler, consume, create_broker
from palaute_runtime.outbox import Outbox, OutboxRelay
from palaute_runtime.service import Loop, ServiceRuntime
from palaute_runtime.settings import CommonSettings


def assemble(
    name: str,
    settings: CommonSettings,
    *,
    engine: AsyncEngine,
    migrations: Path,
    outbox: Outbox,
    outbox_table: sa.Table,
    handlers: Sequence[Handler[Any]],
    health: Health,
    address: tuple[str, int],
    ops_port: int,
    routes: Sequence[BaseRoute],
    loops: Sequence[Loop] = (),
    closers: Sequence[Loop] = (),
) -> ServiceRuntime:
    """The runtime of service `name`: consumer group and client id `palaute-<name>`, the
    relay first among its loops."""
    broker = create_broker(settings, client_id=f"palaute-{name}")
    consume(broker, *handlers, group_id=f"palaute-{name}", settings=settings, health=health)
    relay = OutboxRelay(engine, outbox, outbox_table, settings, f"palaute-{name}")
    host, port = address
    return ServiceRuntime(
        name,
        engine=engine,
        migrations=migrations,
        broker=broker,
        host=host,
        port=port,
        ops=(settings.ops_host, ops_port),
        routes=routes,
        health=health,
        loops=[relay.run, *loops],
        closers=list(closers),
        trusted_proxies=settings.trusted_proxies,
    )
