"""The whole local stack in one process: broker, the three services, the partner sandbox.

`palaute up` and the end-to-end tests both start it through `LocalStack`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from palaute_collector.service import build as build_collector
from palaute_collector.settings import CollectorSettings
from palaute_consent.service import build as build_consent
from palaute_consent.settings import ConsentSettings
from palaute_dispatcher.service import build as build_dispatcher
from palaute_dispatcher.settings import DispatcherSettings
from palaute_runtime.local_broker import LocalBroker, create_topics, free_port, palaute_topics
from palaute_runtime.service import ServiceRuntime, Startable
from palaute_runtime.settings import EMBEDDED_BOOTSTRAP, CommonSettings
from palaute_sandbox.server import PartnerSandbox
from palaute_sandbox.settings import SandboxSettings

log = structlog.get_logger("palaute.stack")


class StackSettings(CommonSettings):
    """Where `palaute up` listens: PALAUTE_COLLECTOR_PORT, PALAUTE_SANDBOX_HTTP_PORT, ..."""

    collector_port: int = 18000
    sandbox_http_port: int = 18080
    sandbox_smtp_port: int = 18025


@dataclass
class StackOptions:
    """Where the stack keeps its files and listens. Port 0 picks a free one."""

    data_dir: Path = Path(".palaute")
    embedded_broker: bool = True
    kafka_bootstrap: str = EMBEDDED_BOOTSTRAP
    collector_port: int = 18000
    sandbox_http_port: int = 18080
    sandbox_smtp_port: int = 18025
    database_urls: dict[str, str] = field(default_factory=dict)  # service → URL; else SQLite

    @classmethod
    def from_settings(cls, settings: StackSettings, broker: str | None = None) -> StackOptions:
        """Options from PALAUTE_* settings; `broker` names an external Kafka to use instead."""
        return cls(
            data_dir=settings.data_dir,
            embedded_broker=broker is None,
            kafka_bootstrap=broker or settings.kafka_bootstrap,
            collector_port=settings.collector_port,
            sandbox_http_port=settings.sandbox_http_port,
            sandbox_smtp_port=settings.sandbox_smtp_port,
        )

    def resolved(self) -> StackOptions:
        """A copy whose port-0 entries name real free ports."""
        bootstrap = self.kafka_bootstrap
        if self.embedded_broker and bootstrap.endswith(":0"):
            bootstrap = f"127.0.0.1:{free_port()}"
        return StackOptions(
            data_dir=self.data_dir,
            embedded_broker=self.embedded_broker,
            kafka_bootstrap=bootstrap,
            collector_port=self.collector_port or free_port(),
            sandbox_http_port=self.sandbox_http_port or free_port(),
            sandbox_smtp_port=self.sandbox_smtp_port or free_port(),
            database_urls=dict(self.database_urls),
        )


class LocalStack:
    """Starts everything in order, stops it in reverse; exposes each part for demo and tests."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options.resolved()
        opts = self.options
        collector_url = f"http://127.0.0.1:{opts.collector_port}"
        self.sandbox_url = f"http://127.0.0.1:{opts.sandbox_http_port}"
        shared: dict[str, Any] = {
            "kafka_bootstrap": opts.kafka_bootstrap,
            "data_dir": opts.data_dir,
            "collector_port": opts.collector_port,
            "survey_origin": collector_url,
            "partner_sms_url": self.sandbox_url,
            "sandbox_http_port": opts.sandbox_http_port,
            "sandbox_smtp_port": opts.sandbox_smtp_port,
            "partner_smtp_port": opts.sandbox_smtp_port,
            "collector_webhook_url": f"{collector_url}/partner/sms-inbound",
        }
        for service, url in opts.database_urls.items():
            shared[f"{service}_database_url"] = url
        self.collector_url = collector_url
        self.broker = (
            LocalBroker(int(opts.kafka_bootstrap.rsplit(":", 1)[1]))
            if opts.embedded_broker
            else None
        )
        self.sandbox = PartnerSandbox(SandboxSettings(**shared))
        self.consent_runtime, self.consent = build_consent(ConsentSettings(**shared))
        self.dispatcher_runtime, self.dispatcher = build_dispatcher(DispatcherSettings(**shared))
        self.collector_runtime, self.collector = build_collector(CollectorSettings(**shared))
        self._started: list[Startable] = []

    @property
    def services(self) -> list[ServiceRuntime]:
        """The three services, in start order."""
        return [self.consent_runtime, self.dispatcher_runtime, self.collector_runtime]

    async def start(self) -> None:
        """Start broker, topics, sandbox and services; on a failure, stop what started."""
        self.options.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.broker is not None:
                await self.broker.start()
            await create_topics(self.options.kafka_bootstrap, palaute_topics())
            await self.sandbox.start()
            self._started.append(self.sandbox)
            # Concurrently: each consumer's first group join waits ~3 s on the local broker.
            results = await asyncio.gather(
                *(service.start() for service in self.services), return_exceptions=True
            )
            for service, result in zip(self.services, results, strict=True):
                if not isinstance(result, BaseException):
                    self._started.append(service)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop services, sandbox and broker, last started first."""
        while self._started:
            await self._started.pop().stop()
        if self.broker is not None:
            await self.broker.stop()

    def addresses(self) -> dict[str, str]:
        """What a person at the terminal wants to open or point a client at."""
        return {
            "kafka": self.options.kafka_bootstrap,
            "survey page": f"{self.collector_url}/s/<token>",
            "SMS webhook": f"{self.collector_url}/partner/sms-inbound",
            "partner sandbox": f"{self.sandbox_url}/sandbox/messages",
            "sandbox SMTP": f"127.0.0.1:{self.options.sandbox_smtp_port}",
            "data folder": str(self.options.data_dir.resolve()),
        }
