"""What an operator and an orchestrator see of the running stack: every process live and
ready, Prometheus metrics that move with the traffic, and every HTTP response hardened."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from tests.conftest import wait_until
from tests.e2e.conftest import Pipeline, contact, e164, mobile

HARDENING = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus sample over every series whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"{name}(?:\{{(.*)\}})? (\S+)$", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            total += float(match.group(2))
    return total


async def test_every_process_is_live_and_ready(pipeline: Pipeline) -> None:
    stack = pipeline.stack
    urls = {**stack.ops_urls, "sandbox": stack.sandbox_url}
    assert set(urls) == {"consent", "dispatcher", "collector", "sandbox"}
    for name, url in urls.items():
        live = await pipeline.http.get(f"{url}/health/live")
        assert live.status_code == 200, name

        async def ready(url: str = url) -> bool:
            return (await pipeline.http.get(f"{url}/health/ready")).status_code == 200

        await wait_until(ready, what=f"{name} to be ready")
        body = (await pipeline.http.get(f"{url}/health/ready")).json()
        assert body["status"] == "ready"


async def test_health_and_metrics_are_on_the_operations_port_never_the_public_one(
    pipeline: Pipeline,
) -> None:
    stack = pipeline.stack
    for name in ("consent", "dispatcher", "collector"):
        for path in ("/metrics", "/health/ready", "/health/live"):
            public = await pipeline.http.get(f"{stack.http_urls[name]}{path}")
            assert public.status_code == 404, f"{name}{path} on the public port"
            assert (await pipeline.http.get(f"{stack.ops_urls[name]}{path}")).status_code == 200
        assert stack.ops_urls[name] != stack.http_urls[name]


async def test_metrics_follow_a_contact_from_decision_to_partner(pipeline: Pipeline) -> None:
    urls = pipeline.stack.ops_urls

    async def scrape(service: str) -> str:
        answer = await pipeline.http.get(f"{urls[service]}/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        return answer.text

    before_sent = metric(
        await scrape("dispatcher"), "palaute_invitations_total", channel="sms", status="sent"
    )
    phone = mobile()
    await pipeline.publish(contact(phone=phone))
    await pipeline.messages_to(e164(phone))

    async def counted() -> bool:
        sent = metric(
            await scrape("dispatcher"), "palaute_invitations_total", channel="sms", status="sent"
        )
        return sent >= before_sent + 1

    await wait_until(counted, what="the dispatcher to count the sent invitation")
    consent = await scrape("consent")
    assert metric(consent, "palaute_decisions_total", outcome="requested", reason="sms") >= 1
    assert metric(consent, "palaute_messages_consumed_total", topic="crm.contact-closed.v1") >= 1
    assert metric(consent, "palaute_outbox_depth", service="consent") >= 0
    dispatcher = await scrape("dispatcher")
    assert metric(dispatcher, "palaute_partner_request_seconds_count", channel="sms") >= 1
    assert "palaute_consumer_lag" in dispatcher
    collector = await scrape("collector")
    assert metric(collector, "palaute_messages_consumed_total", service="collector") >= 1


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/openapi.json", 200),
        ("GET", "/no/such/page", 404),
        ("GET", "/s/not-a-real-token", 404),
        ("DELETE", "/s/not-a-real-token", 405),
        ("POST", "/partner/sms-inbound", 401),
    ],
)
async def test_every_collector_response_carries_the_security_headers(
    pipeline: Pipeline, method: str, path: str, status: int
) -> None:
    answer = await pipeline.http.request(method, f"{pipeline.stack.collector_url}{path}")
    assert answer.status_code == status
    for header, value in HARDENING.items():
        assert answer.headers.get(header) == value, header
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert "server" not in answer.headers, "no banner naming the server software"


async def test_a_body_over_the_limit_is_refused_unread(pipeline: Pipeline) -> None:
    for url in (
        f"{pipeline.stack.collector_url}/partner/sms-inbound",
        f"{pipeline.stack.sandbox_url}/v1/sms",
    ):
        # Just over the limit: a client writing much more meets a closed connection.
        answer = await pipeline.http.post(url, content=b"x" * 100_000)
        assert answer.status_code == 413
        assert "larger than" in answer.json()["error"]
        assert answer.headers["x-content-type-options"] == "nosniff"

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"y" * 10_000

        streamed = await pipeline.http.post(url, content=chunks())  # no Content-Length
        assert streamed.status_code == 413


def test_the_health_command_reports_a_service_that_is_not_there() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "palaute_consent", "health"],
        env={"PALAUTE_CONSENT_OPS_PORT": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: nothing answers at http://127.0.0.1:1/health/ready")
    assert len(done.stderr.strip().splitlines()) == 1
