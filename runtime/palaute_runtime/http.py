"""Serving a Starlette app with uvicorn inside an asyncio program, stoppable."""

from __future__ import annotations

import asyncio

import uvicorn
from starlette.types import ASGIApp


class HttpServer:
    """One uvicorn server on loopback (or any host), started and stopped by its owner."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None
        self.url = f"http://{host}:{port}"

    async def start(self) -> None:
        """Begin serving and return once the socket listens."""
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError(f"HTTP server on {self.url} stopped at start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop serving and wait for open requests to finish."""
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
