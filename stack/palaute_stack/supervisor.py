"""Runs each Palaute service as its own process, as production does, and keeps it running.

Every process is started through its production entry point (`python -m palaute_consent
run`, ...) with PALAUTE_* settings in its environment. Its log lines are prefixed with its
name and written to one sink; a process that dies is said to have died and is started
again, with a growing pause if it keeps dying.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import structlog

log = structlog.get_logger("palaute.supervisor")

STOP_GRACE_SECONDS = 10.0
RESTART_FIRST_SECONDS = 0.5
RESTART_LONGEST_SECONDS = 15.0
HEALTHY_AFTER_SECONDS = 30.0  # running this long resets the restart pause


class ServiceFailedToStart(RuntimeError):
    """A service process exited before it said it had started."""


@dataclass
class ServiceProcess:
    """One supervised service: how to start it, and its current process."""

    name: str
    module: str
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    restarts: int = 0
    last_lines: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        """The running process's id."""
        return self.process.pid if self.process is not None else None


class Supervisor:
    """Starts, watches, restarts and stops the service processes."""

    def __init__(
        self,
        services: list[ServiceProcess],
        log_sink: TextIO,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.services = {service.name: service for service in services}
        self._sink = log_sink
        self._say = say or (lambda _line: None)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()  # a process started or exited

    async def start(self, wait_seconds: float = 60.0) -> None:
        """Start every process and wait until each has said it started."""
        for service in self.services.values():
            self._tasks.append(asyncio.create_task(self._keep_running(service), name=service.name))
        try:
            async with asyncio.timeout(wait_seconds):
                for service in self.services.values():
                    await self._wait_started(service)
        except BaseException:
            await self.stop()
            raise

    async def _wait_started(self, service: ServiceProcess) -> None:
        await self._wait_for(lambda: service.started.is_set() or service.restarts > 0)
        if not service.started.is_set():
            tail = " / ".join(service.last_lines[-3:]) or "no output"
            raise ServiceFailedToStart(f"{service.name} exited while starting: {tail}")

    async def _wait_for(self, condition: Callable[[], bool]) -> None:
        while not condition():
            self._changed.clear()
            if condition():
                return
            await self._changed.wait()

    async def _keep_running(self, service: ServiceProcess) -> None:
        pause = RESTART_FIRST_SECONDS
        while not self._stopping.is_set():
            began = time.monotonic()
            code = await self._run_once(service)
            if self._stopping.is_set():
                return
            service.restarts += 1
            self._changed.set()
            if time.monotonic() - began > HEALTHY_AFTER_SECONDS:
                pause = RESTART_FIRST_SECONDS
            self._say(
                f"{service.name} exited with code {code}; restarting in {pause:g} s "
                f"(restart {service.restarts})"
            )
            log.warning(
                "service_exited", service=service.name, code=code, restarts=service.restarts
            )
            await asyncio.sleep(pause)
            pause = min(RESTART_LONGEST_SECONDS, pause * 2)

    async def _run_once(self, service: ServiceProcess) -> int:
        service.started.clear()
        service.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            service.module,
            "run",
            env={**os.environ, **service.env, "PALAUTE_LOG_FORMAT": "json"},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the supervisor, which stops them in order
            limit=1 << 20,  # a long log line (a traceback) must not stop the reader
        )
        assert service.process.stdout is not None
        async for raw in service.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self._sink.write(f"{service.name:<10} | {line}\n")
            service.last_lines = [*service.last_lines[-9:], line]
            if not service.started.is_set() and _event_of(line) in (
                "service_started",
                "sandbox_started",
            ):
                service.started.set()
                self._changed.set()
        code = await service.process.wait()
        service.started.clear()
        return code

    def kill(self, name: str, signum: int = signal.SIGKILL) -> None:
        """Send a signal to one service's process (the supervisor restarts it if it dies)."""
        process = self.services[name].process
        if process is not None and process.returncode is None:
            process.send_signal(signum)

    async def wait_restarted(self, name: str, restarts: int, within: float = 60.0) -> None:
        """Wait until `name` has been restarted `restarts` times in all and is up again."""
        service = self.services[name]
        async with asyncio.timeout(within):
            await self._wait_for(lambda: service.restarts >= restarts and service.started.is_set())

    async def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after a grace period), last first."""
        self._stopping.set()
        for service in reversed(self.services.values()):
            process = service.process
            if process is None or process.returncode is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
            except TimeoutError:
                log.warning("service_killed_after_grace", service=service.name)
                process.kill()
                await process.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


def _event_of(line: str) -> str | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    event = record.get("event") if isinstance(record, dict) else None
    return event if isinstance(event, str) else None
