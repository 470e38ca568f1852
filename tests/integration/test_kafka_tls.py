"""Kafka over TLS, end to end: the local broker behind a TLS-terminating proxy (Debian's
stunnel, with a CA made for the test, and a client certificate required), advertising the
proxy's address so that no client ever reaches the broker in clear. Consent runs on it with
PALAUTE_KAFKA_SECURITY_PROTOCOL=SSL: its consumer and its outbox relay; the topic job and
`palaute tail` (its own process) use the same settings; a client that does not present a
certificate, or does not trust the proxy's, gets nothing.

SASL is not proven here: the local broker's `--authentication` is undocumented (see
LOCAL_BROKER.md); the settings are passed to every client the same way (unit-tested)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from palaute_consent.bootstrap import build as build_consent
from palaute_consent.settings import ConsentSettings
from palaute_runtime.kafka_security import client_options, security_options
from palaute_runtime.local_broker import (
    LocalBroker,
    accepts,
    create_topics,
    free_port,
    palaute_topics,
)
from palaute_runtime.topic_reader import read_records
from palaute_schemas import CONTACT_CLOSED, SURVEY_REQUESTED, ContactClosed
from palaute_stack.stack import LOCAL_RELEASE_RULES
from tests.conftest import wait_until
from tests.tls import Certificates, make_certificates

pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(
        shutil.which("stunnel4") is None and not os.environ.get("PALAUTE_REQUIRE_TLS_PROXY"),
        reason="needs Debian's stunnel4 (apt-get install stunnel4); CI requires it",
    ),
]


@pytest.fixture
async def tls_kafka(tmp_path: Path) -> AsyncIterator[tuple[str, Certificates]]:
    """A broker reachable only through TLS with a client certificate: its address, the
    certificates."""
    certificates = make_certificates(tmp_path)
    proxy_port = free_port()
    broker = LocalBroker(advertised_port=proxy_port)
    config = tmp_path / "stunnel.conf"
    config.write_text(
        "foreground = yes\npid =\ndebug = 3\n"
        f"[kafka]\naccept = 127.0.0.1:{proxy_port}\nconnect = 127.0.0.1:{broker.port}\n"
        f"cert = {certificates.cert}\nkey = {certificates.key}\n"
        f"CAfile = {certificates.ca}\nverifyChain = yes\nrequireCert = yes\n"
    )
    await broker.start()
    # Popen only spawns; the proxy is waited for by polling its port.
    stunnel = shutil.which("stunnel4") or "stunnel4"
    proxy = subprocess.Popen(  # noqa: ASYNC220 - a fixed program and the test's file
        [stunnel, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        await wait_until(lambda: accepts(proxy_port), within=10, what="the TLS proxy")
        yield broker.bootstrap, certificates
    finally:
        proxy.terminate()
        await asyncio.to_thread(proxy.wait)
        await broker.stop()


def tls_settings(bootstrap: str, certificates: Certificates) -> dict[str, Any]:
    return {
        "kafka_bootstrap": bootstrap,
        "kafka_security_protocol": "SSL",
        "kafka_ssl_ca_file": certificates.ca,
        "kafka_ssl_cert_file": certificates.client_cert,
        "kafka_ssl_key_file": certificates.client_key,
    }


async def test_consent_the_topic_job_and_tail_work_over_tls_and_nothing_in_clear(
    tls_kafka: tuple[str, Certificates], tmp_path: Path
) -> None:
    bootstrap, certificates = tls_kafka
    settings = ConsentSettings(
        **tls_settings(bootstrap, certificates), data_dir=tmp_path, **LOCAL_RELEASE_RULES
    )
    await create_topics(bootstrap, palaute_topics(), client=security_options(settings))
    runtime, _ = build_consent(settings)
    await runtime.start()
    event = ContactClosed(
        contact_id=f"TLS-{uuid.uuid4().hex[:8]}",
        customer_id="C-tls",
        contact_channel="phone",
        language="fi",
        unit="Kotka",
        closed_at=datetime.now(UTC),
        phone="+358401112233",
    )
    try:
        producer = AIOKafkaProducer(**client_options(settings), acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                CONTACT_CLOSED.name, event.model_dump_json().encode(), key=b"C-tls"
            )
        finally:
            await producer.stop()

        async def requested() -> bool:
            async for record in read_records(
                bootstrap,
                [SURVEY_REQUESTED.name],
                until_end=True,
                client=security_options(settings),
            ):
                if event.contact_id.encode() in (record.value or b""):
                    return True
            return False

        # Consent consumed it and its relay published the request, both over TLS.
        await wait_until(requested, within=30, what="consent's SurveyRequested over TLS")
    finally:
        await runtime.stop()
    # The command line reads the same settings: `palaute tail`, in its own process.
    env = os.environ | {
        f"PALAUTE_{name.upper()}": str(value)
        for name, value in tls_settings(bootstrap, certificates).items()
    }
    tail = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "palaute_stack", "tail", SURVEY_REQUESTED.name],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tail.returncode == 0, tail.stderr
    assert event.contact_id in tail.stdout


@pytest.mark.parametrize("missing", ["client certificate", "trust in the proxy", "TLS at all"])
async def test_a_client_without_its_certificate_or_trust_gets_nothing(
    tls_kafka: tuple[str, Certificates], missing: str
) -> None:
    bootstrap, certificates = tls_kafka
    options = tls_settings(bootstrap, certificates)
    if missing == "client certificate":
        options |= {"kafka_ssl_cert_file": None, "kafka_ssl_key_file": None}
    elif missing == "trust in the proxy":
        options |= {"kafka_ssl_ca_file": None}
    else:
        options |= {"kafka_security_protocol": "PLAINTEXT"}
    producer = AIOKafkaProducer(
        **client_options(ConsentSettings(**options)), request_timeout_ms=3000
    )
    try:
        with pytest.raises((KafkaConnectionError, OSError)):
            await producer.start()
    finally:
        await producer.stop()


async def test_a_wrong_ca_is_one_clear_sentence_from_a_service_and_from_tail(
    tls_kafka: tuple[str, Certificates], tmp_path: Path
) -> None:
    """Another CA than the one that signed the proxy's certificate: `palaute tail` and a
    service's `run` exit 1 with one sentence that names the setting to check."""
    bootstrap, certificates = tls_kafka
    (tmp_path / "other").mkdir()
    other = make_certificates(tmp_path / "other")
    env = os.environ | {
        f"PALAUTE_{name.upper()}": str(value)
        for name, value in tls_settings(bootstrap, certificates).items()
    }
    env |= {"PALAUTE_KAFKA_SSL_CA_FILE": str(other.ca), "PALAUTE_DATA_DIR": str(tmp_path)}
    for command in (
        ["palaute_stack", "tail", SURVEY_REQUESTED.name],
        ["palaute_consent", "run"],
    ):
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert done.returncode == 1, done.stderr[-2000:]
        assert len(lines) == 1, done.stderr[-2000:]
        assert "PALAUTE_KAFKA_SSL_CA_FILE" in lines[0]
