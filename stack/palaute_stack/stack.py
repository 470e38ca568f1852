"""The whole local stack: the broker, and the three services and the partner sandbox each
as its own process. `palaute up`, the end-to-end tests and the benchmark start it through
`LocalStack`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_collector.settings import CollectorSettings
from palaute_consent.settings import ConsentSettings
from palaute_consent.tables import plans
from palaute_dispatcher.settings import DispatcherSettings
from palaute_runtime.database import create_engine
from palaute_runtime.elks import with_credentials
from palaute_runtime.kafka_security import security_options
from palaute_runtime.local_broker import LocalBroker, create_topics, free_port, palaute_topics
from palaute_runtime.settings import EMBEDDED_BOOTSTRAP, CommonSettings, sms_providers
from palaute_stack.supervisor import ServiceProcess, Supervisor

log = structlog.get_logger("palaute.stack")


# Every process of the stack, in start order (the sandbox first: the others call it).
SERVICES = ("sandbox", "consent", "dispatcher", "collector")

# The local stack releases at once, whatever the hour or the day, so a newcomer's published
# contact reaches the sandbox at once; a PALAUTE_* variable set by the user wins.
LOCAL_RELEASE_RULES: dict[str, Any] = {
    "release_delay_minutes": 0,
    "send_window_weekdays": "00:00-24:00",
    "send_window_saturday": "00:00-24:00",
    "send_window_sunday": "00:00-24:00",
    "send_on_public_holidays": True,
}
# And shows the figures within seconds of the answers that make a group.
LOCAL_FIGURES_SECONDS = 2.0


class StackSettings(CommonSettings):
    """Where `palaute up` listens: PALAUTE_COLLECTOR_PORT, PALAUTE_SANDBOX_HTTP_PORT, ..."""

    consent_port: int = 18001
    dispatcher_port: int = 18002
    collector_port: int = 18000
    sandbox_http_port: int = 18080
    sandbox_smtp_port: int = 18025
    consent_ops_port: int = 18101
    dispatcher_ops_port: int = 18102
    collector_ops_port: int = 18100


@dataclass
class StackOptions:
    """Where the stack keeps its files and listens. Port 0 picks a free one."""

    data_dir: Path = Path(".palaute")
    embedded_broker: bool = True
    kafka_bootstrap: str = EMBEDDED_BOOTSTRAP
    consent_port: int = 18001
    dispatcher_port: int = 18002
    collector_port: int = 18000
    sandbox_http_port: int = 18080
    sandbox_smtp_port: int = 18025
    # Each service's operations port (health, metrics), apart from its own.
    consent_ops_port: int = 18101
    dispatcher_ops_port: int = 18102
    collector_ops_port: int = 18100
    database_urls: dict[str, str] = field(default_factory=dict)  # service → URL; else SQLite
    extra_settings: dict[str, Any] = field(default_factory=dict)  # more PALAUTE_* settings
    services: tuple[str, ...] = SERVICES  # which processes to run (a benchmark may want one)
    replicas: int = 1  # processes per service (more than one needs PostgreSQL)

    @classmethod
    def from_settings(cls, settings: StackSettings, broker: str | None = None) -> StackOptions:
        """Options from PALAUTE_* settings; `broker` names an external Kafka to use instead."""
        return cls(
            data_dir=settings.data_dir,
            embedded_broker=broker is None,
            kafka_bootstrap=broker or settings.kafka_bootstrap,
            consent_port=settings.consent_port,
            dispatcher_port=settings.dispatcher_port,
            collector_port=settings.collector_port,
            sandbox_http_port=settings.sandbox_http_port,
            sandbox_smtp_port=settings.sandbox_smtp_port,
            consent_ops_port=settings.consent_ops_port,
            dispatcher_ops_port=settings.dispatcher_ops_port,
            collector_ops_port=settings.collector_ops_port,
        )

    @classmethod
    def ephemeral(cls, data_dir: Path, **changes: Any) -> StackOptions:
        """A stack of its own: its own broker, every port picked free (tests, benchmarks)."""
        fields: dict[str, Any] = {
            "data_dir": data_dir,
            "kafka_bootstrap": "127.0.0.1:0",
            "consent_port": 0,
            "dispatcher_port": 0,
            "collector_port": 0,
            "sandbox_http_port": 0,
            "sandbox_smtp_port": 0,
            "consent_ops_port": 0,
            "dispatcher_ops_port": 0,
            "collector_ops_port": 0,
        }
        return cls(**(fields | changes))

    def resolved(self) -> StackOptions:
        """A copy whose port-0 entries name real free ports."""
        bootstrap = self.kafka_bootstrap
        if self.embedded_broker and bootstrap.endswith(":0"):
            bootstrap = f"127.0.0.1:{free_port()}"
        return StackOptions(
            data_dir=self.data_dir,
            embedded_broker=self.embedded_broker,
            kafka_bootstrap=bootstrap,
            consent_port=self.consent_port or free_port(),
            dispatcher_port=self.dispatcher_port or free_port(),
            collector_port=self.collector_port or free_port(),
            sandbox_http_port=self.sandbox_http_port or free_port(),
            sandbox_smtp_port=self.sandbox_smtp_port or free_port(),
            consent_ops_port=self.consent_ops_port or free_port(),
            dispatcher_ops_port=self.dispatcher_ops_port or free_port(),
            collector_ops_port=self.collector_ops_port or free_port(),
            database_urls=dict(self.database_urls),
            extra_settings=dict(self.extra_settings),
            services=self.services,
            replicas=self.replicas,
        )


# The local stack's Twilio account (the sandbox speaks Twilio's API with it).
LOCAL_TWILIO_ACCOUNT = "AC" + "0" * 31 + "1"
# A real provider takes replies only at a number (an alphanumeric sender is one-way): the
# local stack's SMS come from this one when it speaks Twilio's or 46elks's API.
LOCAL_SMS_NUMBER = "+358405550100"
LOCAL_TWILIO_TOKEN = "palaute-local-twilio-token"  # noqa: S105
# ... and its 46elks account (the sandbox speaks 46elks's API with it).
LOCAL_ELKS_USER = "u0000000000000000000000000000000"
LOCAL_ELKS_PASSWORD = "palaute-local-46elks-password"  # noqa: S105
LOCAL_ELKS_WEBHOOK_SECRET = "palaute-local-46elks-webhook-secret"  # noqa: S105


class LocalStack:
    """The broker, then each service and the sandbox as its own supervised process.

    Settings reach the processes as PALAUTE_* environment variables, exactly as in
    production; `consent_settings` and friends are the same settings as seen from here
    (database URLs, the pepper), for the demo and the tests.
    """

    def __init__(
        self,
        options: StackOptions,
        *,
        log_sink: TextIO | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.options = options.resolved()
        opts = self.options
        collector_url = f"http://127.0.0.1:{opts.collector_port}"
        self.sandbox_url = f"http://127.0.0.1:{opts.sandbox_http_port}"
        self.collector_url = collector_url
        data_dir = opts.data_dir.resolve()
        shared: dict[str, Any] = {
            "kafka_bootstrap": opts.kafka_bootstrap,
            "data_dir": data_dir,
            "consent_port": opts.consent_port,
            "dispatcher_port": opts.dispatcher_port,
            "collector_port": opts.collector_port,
            "consent_ops_port": opts.consent_ops_port,
            "dispatcher_ops_port": opts.dispatcher_ops_port,
            "collector_ops_port": opts.collector_ops_port,
            "survey_origin": collector_url,
            "partner_sms_url": self.sandbox_url,
            "sandbox_http_port": opts.sandbox_http_port,
            "sandbox_smtp_port": opts.sandbox_smtp_port,
            "partner_smtp_port": opts.sandbox_smtp_port,
            "collector_webhook_url": f"{collector_url}/partner/sms-inbound",
            "collector_url": collector_url,  # consent's comment reader asks it
        }
        if "dispatcher" in opts.services:
            # The sandbox reports SMS delivery to the (first) dispatcher, as a partner would.
            shared["sandbox_receipt_url"] = (
                f"http://127.0.0.1:{opts.dispatcher_port}/partner/delivery-receipts"
            )
        for service, url in opts.database_urls.items():
            shared[f"{service}_database_url"] = url
        shared.update(
            {
                name: value
                for name, value in LOCAL_RELEASE_RULES.items()
                if f"PALAUTE_{name.upper()}" not in os.environ
            }
        )
        if "PALAUTE_PARTNER_SMTP_SECURITY" not in os.environ:
            shared["partner_smtp_security"] = "none"  # the stack's sandbox: plain, loopback
        if "PALAUTE_FIGURES_PUBLISH_SECONDS" not in os.environ:
            shared["figures_publish_seconds"] = LOCAL_FIGURES_SECONDS
        shared.update(opts.extra_settings)
        providers = sms_providers(
            str(shared.get("sms_provider", os.environ.get("PALAUTE_SMS_PROVIDER", "sandbox")))
        )
        if "sandbox" not in providers and "PALAUTE_SMS_SENDER" not in os.environ:
            shared.setdefault("sms_sender", LOCAL_SMS_NUMBER)
        if "twilio" in providers:
            # The sandbox speaks Twilio's API; the webhooks Twilio would call are ours here.
            dispatcher_url = f"http://127.0.0.1:{opts.dispatcher_port}"
            for name, value in {
                "twilio_api_url": self.sandbox_url,
                "twilio_account_sid": LOCAL_TWILIO_ACCOUNT,
                "twilio_auth_token": LOCAL_TWILIO_TOKEN,
                "twilio_status_callback_url": f"{dispatcher_url}/partner/twilio/status",
                "twilio_inbound_url": f"{collector_url}/partner/twilio/inbound",
            }.items():
                if f"PALAUTE_{name.upper()}" not in os.environ:
                    shared.setdefault(name, value)
        if "46elks" in providers:
            # The sandbox speaks 46elks's API; the webhooks it would call are ours here.
            for name, value in {
                "elks_api_url": self.sandbox_url,
                "elks_username": LOCAL_ELKS_USER,
                "elks_password": LOCAL_ELKS_PASSWORD,
                "elks_webhook_secret": LOCAL_ELKS_WEBHOOK_SECRET,
                "elks_delivery_url": (
                    f"http://127.0.0.1:{opts.dispatcher_port}/partner/46elks/delivery"
                ),
            }.items():
                if f"PALAUTE_{name.upper()}" not in os.environ:
                    shared.setdefault(name, value)
            shared.setdefault(
                "sandbox_elks_inbound_url",
                with_credentials(
                    f"{collector_url}/partner/46elks/inbound", str(shared["elks_webhook_secret"])
                ),
            )
        self.consent_settings = ConsentSettings(**shared)
        self.dispatcher_settings = DispatcherSettings(**shared)
        self.collector_settings = CollectorSettings(**shared)
        env = {f"PALAUTE_{name.upper()}": str(value) for name, value in shared.items()}
        self.broker = (
            LocalBroker(int(opts.kafka_bootstrap.rsplit(":", 1)[1]))
            if opts.embedded_broker
            else None
        )
        self._own_sink = log_sink is None
        self._sink = log_sink
        self._say = say
        self._env = env
        self.supervisor: Supervisor | None = None
        # Each process's HTTP address (the survey page on the collector, the officer's pages
        # on consent), and each service process's operations address (health, metrics).
        self.http_urls: dict[str, str] = {}
        self.ops_urls: dict[str, str] = {}
        self._consent_db: AsyncEngine | None = None  # waiting_plans's reader

    def _processes(self) -> list[ServiceProcess]:
        processes = []
        for name in SERVICES:
            if name not in self.options.services:
                continue
            count = 1 if name == "sandbox" else self.options.replicas
            for replica in range(count):
                env = dict(self._env)
                port_key = f"PALAUTE_{name.upper()}_{'HTTP_' if name == 'sandbox' else ''}PORT"
                ops_key = f"PALAUTE_{name.upper()}_OPS_PORT"
                if replica > 0:
                    # The first replica serves the known ports; the others listen elsewhere.
                    env[port_key] = str(free_port())
                    env[ops_key] = str(free_port())
                label = name if count == 1 else f"{name}-{replica + 1}"
                self.http_urls[label] = f"http://127.0.0.1:{env[port_key]}"
                if name != "sandbox":  # the sandbox is the partner: its health is its own
                    self.ops_urls[label] = f"http://127.0.0.1:{env[ops_key]}"
                processes.append(ServiceProcess(label, f"palaute_{name}", env))
        return processes

    async def start(self) -> None:
        """Start broker, topics, then every service process; on a failure, stop them all."""
        self.options.data_dir.mkdir(parents=True, exist_ok=True)
        if self._sink is None:
            path = self.options.data_dir / "palaute.log"
            self._sink = await asyncio.to_thread(path.open, "a", encoding="utf-8", buffering=1)
        try:
            if self.broker is not None:
                await self.broker.start()
            await create_topics(
                self.options.kafka_bootstrap, palaute_topics(), client=self.kafka_client
            )
            self.supervisor = Supervisor(self._processes(), self._sink, self._say)
            await self.supervisor.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop the service processes, then the broker."""
        if self._consent_db is not None:
            await self._consent_db.dispose()
            self._consent_db = None
        if self.supervisor is not None:
            await self.supervisor.stop()
            self.supervisor = None
        if self.broker is not None:
            await self.broker.stop()
        if self._own_sink and self._sink is not None:
            self._sink.close()
            self._sink = None

    @property
    def kafka_client(self) -> dict[str, Any]:
        """aiokafka options for this stack's Kafka (TLS and SASL as the services connect)."""
        return security_options(self.consent_settings)

    def release_rules_note(self) -> str:
        """One line on the release rules in force, for the banner."""
        rules = self.consent_settings
        if all(getattr(rules, name) == value for name, value in LOCAL_RELEASE_RULES.items()):
            return (
                "release rules: local stack, sent at once at any hour (set "
                "PALAUTE_RELEASE_DELAY_MINUTES, PALAUTE_SEND_WINDOW_* and "
                "PALAUTE_SEND_ON_PUBLIC_HOLIDAYS for the real rules)"
            )
        holidays = "any day" if rules.send_on_public_holidays else "no public holidays"
        return (
            f"release rules: {rules.release_delay_minutes} min after the contact; "
            f"Mon-Fri {rules.send_window_weekdays or 'closed'}, "
            f"Sat {rules.send_window_saturday or 'closed'}, "
            f"Sun {rules.send_window_sunday or 'closed'} (recipient's time); {holidays}"
        )

    def programmes_note(self) -> str:
        """One line per programme of the programme file (none without one), for the banner."""
        return "\n".join(
            f"programme {p.name}: units {', '.join(p.units)} as {p.organization_name!r}; "
            f"asks {' and '.join(q.upper() for q in p.questions)} "
            f"in {', '.join(p.languages)}; "
            f"{round(p.sampling_share * 100)} % sampled; {p.release_delay_minutes} min after "
            f"the contact, Mon-Fri {p.send_window.weekdays or 'closed'}"
            + ("; anonymous" if p.anonymous else "")
            for p in self.consent_settings.programmes.others
        )

    async def waiting_plans(self) -> int:
        """Contacts consent has planned but not released yet (their window is closed)."""
        if self._consent_db is None:  # made once; the demo asks every quarter second
            self._consent_db = create_engine(self.consent_settings.database_url)
        async with self._consent_db.connect() as connection:
            return int(await connection.scalar(sa.select(sa.func.count()).select_from(plans)) or 0)

    def addresses(self) -> dict[str, str]:
        """What a person at the terminal wants to open or point a client at."""
        officer = {"officer page": f"{self.http_urls['consent']}/officer"}
        return {
            "kafka": self.options.kafka_bootstrap,
            "survey page": f"{self.collector_url}/s/<token>",
            "SMS webhook": f"{self.collector_url}/partner/sms-inbound",
            **(officer if "consent" in self.http_urls else {}),
            "partner sandbox": f"{self.sandbox_url}/sandbox/messages",
            "sandbox SMTP": f"127.0.0.1:{self.options.sandbox_smtp_port}",
            "data folder": str(self.options.data_dir.resolve()),
        }
