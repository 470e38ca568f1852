"""Delivery receipts from the partner sandbox to the dispatcher's webhook, over real HTTP,
with the real broker: the status moves forward once, replayed and reordered receipts change
nothing, and each change is published once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from palaute_dispatcher import tables
from palaute_dispatcher.bootstrap import build
from palaute_dispatcher.service import DispatcherService
from palaute_dispatcher.settings import DispatcherSettings
from palaute_runtime.local_broker import free_port
from palaute_runtime.service import ServiceRuntime
from palaute_runtime.topic_reader import read_records
from palaute_sandbox.server import PartnerSandbox
from palaute_sandbox.settings import SandboxSettings
from palaute_schemas import DELIVERY_STATUS
from palaute_stack.stack import LOCAL_RELEASE_RULES
from tests.conftest import local_broker_with_topics, sms_requests, wait_until

SECRET = "receipt-secret-for-tests"
COUNT = 30


@pytest.fixture
async def own_kafka() -> AsyncIterator[str]:
    """A broker of this test's own: the session's holds other tests' SurveyRequested."""
    async with local_broker_with_topics() as bootstrap:
        yield bootstrap


@pytest.fixture
async def running(
    own_kafka: str, tmp_path: Path
) -> AsyncIterator[tuple[ServiceRuntime, DispatcherService, PartnerSandbox]]:
    kafka = own_kafka
    dispatcher_port = free_port()
    sandbox = PartnerSandbox(
        SandboxSettings(
            sandbox_http_port=free_port(),
            sandbox_smtp_port=free_port(),
            sandbox_receipt_url=f"http://127.0.0.1:{dispatcher_port}/partner/delivery-receipts",
            partner_receipt_secret=SECRET,
            sandbox_receipt_delay_seconds=0.2,
            sandbox_receipt_mix="delivered=50,undelivered=30,expired=20",
        )
    )
    runtime, service = build(
        DispatcherSettings(
            kafka_bootstrap=kafka,
            data_dir=tmp_path,
            dispatcher_port=dispatcher_port,
            partner_sms_url=f"http://127.0.0.1:{sandbox.settings.sandbox_http_port}",
            partner_smtp_port=sandbox.settings.sandbox_smtp_port,
            partner_receipt_secret=SECRET,
            **LOCAL_RELEASE_RULES,
        )
    )
    await sandbox.start()
    await runtime.start()
    try:
        yield runtime, service, sandbox
    finally:
        await runtime.stop()
        await sandbox.stop()


async def deliveries(service: DispatcherService) -> Counter[str | None]:
    async with service.engine.connect() as connection:
        return Counter((await connection.scalars(sa.select(tables.invitations.c.delivery))).all())


async def published(kafka: str, ids: set[str]) -> list[dict[str, str]]:
    return [
        value
        async for record in read_records(kafka, [DELIVERY_STATUS.name], idle_timeout=2.0)
        if (value := json.loads(record.value or b"{}"))["invitation_id"] in ids
    ]


@pytest.mark.broker
async def test_receipts_move_the_status_forward_once_whatever_order_and_replays(
    own_kafka: str, running: tuple[ServiceRuntime, DispatcherService, PartnerSandbox]
) -> None:
    kafka = own_kafka
    runtime, service, sandbox = running
    await service.handle_survey_requests(sms_requests("Receipts", COUNT, 505000000))

    async def all_reported() -> bool:
        return sum((await deliveries(service)).values()) == COUNT and None not in (
            await deliveries(service)
        )

    await wait_until(all_reported, within=60, what="a receipt for every message")
    first = await deliveries(service)
    assert set(first) == {"delivered", "undelivered", "expired"}, first
    messages = {m["id"]: m for m in sandbox.recorder.sms}
    assert {m["delivery"] for m in messages.values()} == set(first), "the sandbox shows it too"
    async with service.engine.connect() as connection:
        ids = {str(i) for i in (await connection.scalars(sa.select(tables.invitations.c.id)))}

    async def announced() -> bool:
        return len(await published(kafka, ids)) == COUNT

    await wait_until(announced, within=30, what="one DeliveryStatusChanged per invitation")

    async with httpx.AsyncClient(base_url=sandbox.http.url) as client:
        page = await client.get("/sandbox/")
        assert page.status_code == 200
        assert page.text.count("<tr><td>") == COUNT
        assert all(f"<td>{status}</td>" in page.text for status in first if status)
        replay = (await client.post("/sandbox/receipts/replay")).json()
    assert replay == {"replayed": 2 * COUNT, "answers": {"200": 2 * COUNT}}
    assert await deliveries(service) == first, "replayed, reordered receipts change nothing"
    assert len(await published(kafka, ids)) == COUNT, "and publish nothing more"

    async with httpx.AsyncClient(base_url=runtime.http.url) as client:
        some_id = next(iter(messages))
        late = {"id": some_id, "status": "delivered", "reason": ""}
        auth = {"Authorization": f"Bearer {SECRET}"}
        answer = await client.post("/partner/delivery-receipts", json=late, headers=auth)
        assert answer.json() == {"status": "unchanged"}
        forged = await client.post("/partner/delivery-receipts", json=late)
        assert forged.status_code == 401
        unknown = {"id": "sms-nobody", "status": "delivered"}
        answer = await client.post("/partner/delivery-receipts", json=unknown, headers=auth)
        assert answer.json() == {"status": "held"}, "kept until a message with that id is sent"
        for bad in ({"id": some_id, "status": "read"}, {"id": 5, "status": "delivered"}, []):
            answer = await client.post("/partner/delivery-receipts", json=bad, headers=auth)
            assert answer.status_code == 400, bad
            assert answer.json()["error"]
