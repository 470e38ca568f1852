"""What an orchestrator and an operator ask of a running service: is it alive, is it ready
for work, and its Prometheus metrics. Every service serves these on its operations port
(PALAUTE_OPS_HOST, PALAUTE_<SERVICE>_OPS_PORT), never on its public one.

- `/health/live`: 200 while the process runs its event loop.
- `/health/ready`: 200 only when the database answers, the broker answers, migrations are
  applied and no consumer is pausing on a fault; else 503 with what is wrong.
- `/metrics`: Prometheus text format.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import sqlalchemy as sa
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.schemas import SchemaGenerator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from palaute_runtime.health import Health
from palaute_runtime.metrics import OUTBOX_DEPTH, PAGE_RESPONSES

PROBE_SECONDS = 2.0


@dataclass
class Readiness:
    """The parts readiness looks at; `started` is set once migrations ran and loops run."""

    service: str
    engine: AsyncEngine
    broker: KafkaBroker
    health: Health
    started: bool = False

    async def problems(self) -> dict[str, str]:
        """What keeps the service from working now; empty when ready."""
        problems = dict(self.health.problems)
        if not self.started:
            problems["service"] = "starting: migrations or consumers not yet running"
            return problems
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                async with self.engine.connect() as connection:
                    await connection.execute(sa.text("SELECT 1"))
        except Exception as exc:  # any failure to answer is "not ready", said by its type
            problems["database"] = f"not answering ({type(exc).__name__})"
        if not await self.broker.ping(PROBE_SECONDS):
            problems["broker"] = "not answering"
        return problems

    async def outbox_depth(self) -> None:
        """Rows waiting in this service's outbox, for the outbox depth gauge."""
        async with self.engine.connect() as connection:
            depth = await connection.scalar(sa.text("SELECT count(*) FROM outbox"))
        OUTBOX_DEPTH.labels(service=self.service).set(int(depth or 0))


def ops_routes(readiness: Readiness) -> list[Route]:
    """The three operations endpoints and their OpenAPI document, for the operations app."""

    async def live(_: Request) -> Response:
        """
        ---
        summary: Liveness
        description: 200 while the process runs its event loop.
        responses:
          "200": {description: alive}
        """
        return JSONResponse({"status": "live", "service": readiness.service})

    async def ready(_: Request) -> Response:
        """
        ---
        summary: Readiness
        description: >-
          200 when the database and the broker answer, migrations are applied and no
          consumer is pausing on a fault; 503 with the problems otherwise.
        responses:
          "200": {description: ready}
          "503": {description: "not ready: `problems` names each part and why"}
        """
        problems = await readiness.problems()
        if problems:
            return JSONResponse(
                {"status": "not ready", "service": readiness.service, "problems": problems},
                status_code=503,
            )
        return JSONResponse({"status": "ready", "service": readiness.service})

    async def metrics(_: Request) -> Response:
        """
        ---
        summary: Prometheus metrics
        responses:
          "200": {description: metrics in the Prometheus text format}
        """
        if readiness.started:
            try:
                await readiness.outbox_depth()
            except Exception:  # a scrape still answers with what it has
                OUTBOX_DEPTH.labels(service=readiness.service).set(float("nan"))
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [
        *openapi_routes(f"Palaute {readiness.service}: operations"),
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def openapi_routes(title: str) -> list[Route]:
    """`/openapi.json`: the OpenAPI document of the app it is mounted in, from the YAML after
    `---` in each endpoint's docstring."""
    generator = SchemaGenerator(
        {
            "openapi": "3.0.3",
            "info": {"title": title, "version": "1"},
            # The scheme an operation names with `security: [{bearer: []}]`.
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        }
    )

    async def document(request: Request) -> Response:
        schema = generator.get_schema(routes=request.app.routes)
        return JSONResponse(schema)

    return [Route("/openapi.json", document, methods=["GET"], include_in_schema=False)]


class CountResponses:
    """ASGI middleware: counts responses by route family and status for `/metrics`.

    The route is the first path segment only (`/s`, `/partner`, `/health`): a survey token
    in the path never becomes a label.
    """

    KNOWN = frozenset({"s", "u", "partner", "health", "metrics", "sandbox", "v1", "officer", "api"})

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        first = str(scope.get("path", "/")).split("/")[1]
        route = f"/{first}" if first in self.KNOWN else "other"

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start":
                PAGE_RESPONSES.labels(
                    service=self.service, route=route, status=str(message["status"])
                ).inc()
            await send(message)

        await self.app(scope, receive, counting)
