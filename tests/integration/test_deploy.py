"""The production shape: docker-compose.yml parses, and each service starts on PostgreSQL
with the settings the compose file gives it (hosts pointed at this machine)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from palaute_collector.settings import CollectorSettings
from palaute_consent.settings import ConsentSettings
from palaute_dispatcher.settings import DispatcherSettings
from palaute_runtime.local_broker import free_port
from palaute_runtime.settings import EMBEDDED_BOOTSTRAP
from palaute_schemas import CONTACT_CLOSED, ContactClosed
from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SERVICES = ("consent", "dispatcher", "collector")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


# What an operator puts in the environment: the settings compose requires (every one), and
# the optional ones a production deployment with Twilio sets.
OPERATOR_ENV = {
    "POSTGRES_PASSWORD": "operator-db-password",
    "PALAUTE_RECIPIENT_PEPPER": "operator-pepper-0123456789abcdef",
    "PALAUTE_TOKEN_SECRET": "operator-token-secret",
    "PALAUTE_UNSUBSCRIBE_KEY": "operator-unsubscribe-key",
    "PALAUTE_ANSWER_SEAL_KEY": "operator-answer-seal-key",
    "PALAUTE_REGISTER_AUDIT_KEY": "operator-register-audit-key",
    "PALAUTE_AUDIT_CHAIN_KEY": "operator-audit-chain-key",
    "PALAUTE_OFFICER_SESSION_KEY": "operator-officer-session-key",
    "PALAUTE_STAFF_API_TOKEN": "operator-staff-api-token",
    "PALAUTE_SURVEY_ORIGIN": "https://kysely.example.fi",
    "PALAUTE_ORGANIZATION_NAME": "Esimerkki Oy",
    "PALAUTE_SMS_SENDER": "+358405550100",
    "PALAUTE_EMAIL_SENDER": "Esimerkki <kysely@example.fi>",
    "PALAUTE_SMS_PROVIDER": "twilio",
    "PALAUTE_PARTNER_SMTP_HOST": "smtp.example.fi",
}
OPTIONAL_ENV = {
    "PALAUTE_TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "PALAUTE_TWILIO_AUTH_TOKEN": "operator-twilio-token",
    "PALAUTE_TWILIO_STATUS_CALLBACK_URL": "https://palaute.example.fi/partner/twilio/status",
    "PALAUTE_TWILIO_INBOUND_URL": "https://palaute.example.fi/partner/twilio/inbound",
}
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]*\}")
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"  # compose-spec/compose-spec, schema/


def interpolate(value: str) -> str:
    """Compose's ${NAME:?error} and ${NAME:-default} from the operator's environment."""
    given = OPERATOR_ENV | OPTIONAL_ENV
    value = REQUIRED.sub(lambda m: given[m.group(1)], value)
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: given.get(m.group(1), m.group(2)), value)


def test_compose_is_valid_by_the_compose_specification() -> None:
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(compose()), key=lambda e: list(e.path)
    )
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors]


def test_compose_takes_every_secret_from_the_operator_and_keeps_the_sandbox_out() -> None:
    text = COMPOSE.read_text()
    assert set(REQUIRED.findall(text)) == set(OPERATOR_ENV), "each of these is required"
    for development_default in (
        "sandbox-key",
        "sandbox-webhook-secret",
        "sandbox-receipt-secret",
        "change-me",
        "http://sandbox",
    ):
        assert development_default not in text.split("# (with PALAUTE_SANDBOX")[1]
    services = compose()["services"]
    assert services["sandbox"]["profiles"] == ["local-testing"]
    assert all(port.startswith("127.0.0.1:") for port in services["sandbox"]["ports"])
    assert "PALAUTE_SANDBOX_ADMIN_TOKEN" in services["sandbox"]["environment"]
    # Apache Kafka's data on its volume (the image ignores its own config once KAFKA_* is set).
    kafka = services["kafka"]
    assert kafka["environment"]["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"
    assert "kafka-data:/var/lib/kafka/data" in kafka["volumes"]
    assert any(port.endswith(":8001") for port in services["consent"]["ports"]), "officer"


def dockerfile_env(name: str) -> set[str]:
    """The variables a service's image sets itself (host, ports, log format)."""
    text = (ROOT / "services" / name / "Dockerfile").read_text()
    return {
        pair.split("=", 1)[0]
        for line in text.splitlines()
        if line.startswith("ENV ")
        for pair in line[4:].split()
    }


def unsafe_in_production(field: str, default: object) -> bool:
    """A default that only makes sense on a developer's machine: this machine, the
    sandbox, a development secret, the local broker, SQLite, a placeholder domain."""
    text = str(default)
    return (
        (default is None and field.endswith("database_url"))
        or any(
            marker in text
            for marker in (
                "127.0.0.1",
                "localhost",
                "sandbox",
                "palaute.invalid",
                "local-development",
            )
        )
        or text == EMBEDDED_BOOTSTRAP
        or field in ("organization_name", "sms_provider", "sms_sender")
    )


@pytest.mark.parametrize("name", SERVICES)
def test_every_setting_a_service_reads_in_production_is_passed_or_safe(name: str) -> None:
    """Each setting whose default is a development one is passed by the compose file (or set
    by the service's image); the others' defaults are production's."""
    settings_class = {
        "consent": ConsentSettings,
        "dispatcher": DispatcherSettings,
        "collector": CollectorSettings,
    }[name]
    passed = set(compose()["services"][name]["environment"]) | dockerfile_env(name)
    sandbox_only = {*settings_class.SANDBOX_SECRETS, "partner_sms_url", "sandbox_admin_token"}
    missing = [
        f"PALAUTE_{field.upper()}"
        for field, info in settings_class.model_fields.items()
        if unsafe_in_production(field, info.default)
        and f"PALAUTE_{field.upper()}" not in passed
        and field not in sandbox_only
    ]
    assert not missing, f"{name} would run in production with development defaults: {missing}"
    # And what compose passes when the operator sets only what it requires is no stand-in.
    required_only = {
        key: REQUIRED.sub(
            lambda m: OPERATOR_ENV[m.group(1)],
            re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m.group(2), str(value)),
        )
        for key, value in compose()["services"][name]["environment"].items()
    }
    stand_ins = [k for k, v in required_only.items() if unsafe_in_production(k.lower(), v)]
    assert not stand_ins, f"{name}'s compose defaults point at a stand-in: {stand_ins}"


def test_compose_file_parses_and_wires_kafka_postgres_topics_and_services() -> None:
    services = compose()["services"]
    assert set(services) >= {"kafka", "postgres", "topics", *SERVICES, "sandbox"}
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller", "KRaft"
    assert services["topics"]["entrypoint"][0] == "palaute-create-topics"
    for name in (*SERVICES, "sandbox"):
        build = services[name]["build"]
        assert (ROOT / build["dockerfile"]).is_file()
    for name in SERVICES:
        env = services[name]["environment"]
        assert env["PALAUTE_KAFKA_ENABLE_IDEMPOTENCE"] == "true", "on for Apache Kafka"
        assert env[f"PALAUTE_{name.upper()}_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert services[name]["depends_on"]["topics"]["condition"] == (
            "service_completed_successfully"
        )
    init = (ROOT / "deploy/postgres/init.sql").read_text()
    assert all(f"palaute_{name}" in init for name in SERVICES)


def local_env(name: str, kafka: str, database: str) -> dict[str, str]:
    """The compose environment of a service, with compose host names pointed at this machine."""
    env = {
        key: interpolate(str(value))
        for key, value in compose()["services"][name]["environment"].items()
    }
    url_key = f"PALAUTE_{name.upper()}_DATABASE_URL"
    env[url_key] = re.sub(
        r"//[^@]+@postgres:5432/palaute_\w+", f"//postgres@127.0.0.1:5432/{database}", env[url_key]
    )
    env["PALAUTE_KAFKA_BOOTSTRAP"] = kafka
    env["PALAUTE_KAFKA_ENABLE_IDEMPOTENCE"] = "false"  # Tansu fails InitProducerId
    env[f"PALAUTE_{name.upper()}_HOST"] = "127.0.0.1"
    env[f"PALAUTE_{name.upper()}_PORT"] = str(free_port())
    env[f"PALAUTE_{name.upper()}_OPS_PORT"] = str(free_port())
    return env


@pytest.mark.broker
@pytest.mark.postgres
async def test_services_start_on_postgresql_with_the_compose_settings(
    kafka: str, postgres_admin: str, tmp_path: Path
) -> None:
    databases = {name: f"palaute_{name}_{uuid.uuid4().hex[:8]}" for name in SERVICES}
    admin = await asyncpg.connect(postgres_admin)
    for database in databases.values():
        await admin.execute(f'CREATE DATABASE "{database}"')
    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: tmp_path / f"{name}.log" for name in SERVICES}
    local_env_of = {name: local_env(name, kafka, databases[name]) for name in SERVICES}
    try:
        for name in SERVICES:
            env = {
                "PATH": os.environ["PATH"],
                "HOME": os.environ.get("HOME", str(tmp_path)),
                **local_env_of[name],
            }
            with logs[name].open("wb") as log:
                # Popen only spawns; every wait on these processes happens in a thread.
                processes[name] = subprocess.Popen(  # noqa: ASYNC220
                    [sys.executable, "-m", f"palaute_{name}", "run"],
                    env=env,
                    cwd=tmp_path,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )

        async def all_started() -> bool:
            for name, process in processes.items():
                assert process.poll() is None, logs[name].read_text()[-2000:]
            return all('"service_started"' in path.read_text() for path in logs.values())

        await wait_until(all_started, within=60, what="the three services to start")
        # What each image's HEALTHCHECK runs: ready, with database, broker and migrations.
        for name in SERVICES:
            checked = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", f"palaute_{name}", "health"],
                env={"PATH": os.environ["PATH"], **local_env_of[name]},
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert checked.returncode == 0, checked.stderr
            assert checked.stdout.strip() == "ready"
        assert all(
            json.loads(line)["event"]
            for path in logs.values()
            for line in path.read_text().splitlines()
            if line.startswith("{")
        ), "JSON logs, as the compose file asks"

        event = ContactClosed(
            contact_id=f"K-{uuid.uuid4().hex[:8]}",
            customer_id="C-deploy",
            contact_channel="web_form",
            language="en",
            unit="Online",
            closed_at=datetime.now(UTC),
            phone="+358401234567",
        )
        producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                CONTACT_CLOSED.name, event.model_dump_json().encode(), key=b"C-deploy"
            )
        finally:
            await producer.stop()
        consent_db = await asyncpg.connect(
            postgres_admin.rsplit("/", 1)[0] + f"/{databases['consent']}"
        )
        try:

            async def decided() -> str | None:
                outcome: str | None = await consent_db.fetchval(
                    "SELECT outcome FROM decisions WHERE contact_id = $1", event.contact_id
                )
                return outcome

            # The compose file runs the real release rules: planned for later, not sent now.
            outcome = await wait_until(decided, within=30, what="the decision in PostgreSQL")
            assert outcome == "planned"
            release_at = await consent_db.fetchval(
                "SELECT release_at FROM plans WHERE contact_id = $1", event.contact_id
            )
            assert release_at >= event.closed_at + timedelta(hours=1)
        finally:
            await consent_db.close()
        for database in databases.values():
            conn = await asyncpg.connect(postgres_admin.rsplit("/", 1)[0] + f"/{database}")
            try:
                assert (
                    await conn.fetchval(
                        "SELECT count(*) FROM information_schema.tables "
                        "WHERE table_name IN ('inbox', 'outbox')"
                    )
                    == 2
                )
            finally:
                await conn.close()
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for name, process in processes.items():
            code = await asyncio.to_thread(process.wait, 30)
            assert code == 0, logs[name].read_text()[-2000:]
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        for database in databases.values():
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
