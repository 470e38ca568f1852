"""The collector's public HTTP surface under hostile input, over real HTTP: the inputs that
once answered 500 now get a 4xx with a message, token guessing is slowed to a 429, and
HEAD never records an answer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from palaute_collector.bootstrap import build
from palaute_collector.service import CollectorService
from palaute_collector.settings import CollectorSettings
from palaute_runtime.service import ServiceRuntime
from palaute_schemas import InvitationSent, token_hash

SECRET = "test-webhook-secret"


@pytest.fixture
async def collector(
    kafka: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[ServiceRuntime, CollectorService, httpx.AsyncClient]]:
    more: dict[str, object] = getattr(request, "param", {})  # settings a test adds
    settings = CollectorSettings(
        kafka_bootstrap=kafka,
        data_dir=tmp_path,
        collector_port=0,
        partner_webhook_secret=SECRET,
        token_guesses_per_minute=5,
        **more,
    )
    runtime, service = build(settings)
    await runtime.start()
    try:
        async with httpx.AsyncClient(base_url=runtime.http.url, timeout=10) as client:
            yield runtime, service, client
    finally:
        await runtime.stop()


async def open_survey(service: CollectorService) -> str:
    """An invitation the collector knows, and its survey token."""
    token = uuid.uuid4().hex + uuid.uuid4().hex
    await service.handle_invitations_sent(
        [
            InvitationSent(
                invitation_id=uuid.uuid4(),
                channel="email",
                language="en",
                contact_channel="phone",
                unit="Test",
                contact_day=datetime.now(UTC).date(),
                anonymous=False,
                customer_id="C-http",
                token_hashes=[token_hash(token)],
                recipient_ref=None,
                expires_at=datetime.now(UTC) + timedelta(days=7),
            )
        ]
    )
    return token


WEBHOOK_BODIES = [
    b"\xff\xfe not utf-8 \x80",
    b"[" * 30_000 + b"]" * 30_000,  # deep nesting, within the size limit
    b'{"from": "+358401234567", "text": "\\ud800"}',  # a lone surrogate
    b'{"from": "\\udfff", "text": "9"}',
    b'{"from": "+358401234567", "text": 9}',
    b"[]",
    b'{"from": "+358401234567"}',
    b"",
]


@pytest.mark.broker
async def test_a_hostile_webhook_body_gets_a_4xx_with_a_message(
    collector: tuple[ServiceRuntime, CollectorService, httpx.AsyncClient],
) -> None:
    _, _, client = collector
    for body in WEBHOOK_BODIES:
        answer = await client.post(
            "/partner/sms-inbound",
            content=body,
            headers={"Authorization": f"Bearer {SECRET}", "content-type": "application/json"},
        )
        assert 400 <= answer.status_code < 500, (body[:40], answer.text)
        assert answer.json()["error"]


@pytest.mark.broker
async def test_a_webhook_secret_with_non_ascii_characters_is_refused_not_crashed(
    collector: tuple[ServiceRuntime, CollectorService, httpx.AsyncClient],
) -> None:
    _, _, client = collector
    answer = await client.post(
        "/partner/sms-inbound",
        json={"from": "+358401234567", "text": "9"},
        headers={"Authorization": "Bearer s\u00e4\u00e4".encode()},
    )
    assert answer.status_code == 401


@pytest.mark.broker
async def test_an_impossible_score_is_a_400_and_records_nothing(
    collector: tuple[ServiceRuntime, CollectorService, httpx.AsyncClient],
) -> None:
    _, service, client = collector
    token = await open_survey(service)
    for score in ["²", "٣", "9" * 5000, "-1", "11", " 9", "", "1e1"]:
        answer = await client.post(
            f"/s/{token}",
            content=f"score={quote(score)}&comment=%ED%A0%80".encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert answer.status_code == 400, score[:10]
        assert (await client.get(f"/s/{token}?score={score}")).status_code == 200, "still open"


@pytest.mark.broker
async def test_a_lone_surrogate_in_the_comment_does_not_break_the_answer(
    collector: tuple[ServiceRuntime, CollectorService, httpx.AsyncClient],
) -> None:
    _, service, client = collector
    token = await open_survey(service)
    answer = await client.post(
        f"/s/{token}",
        content=b"score=8&comment=ok%ED%A0%80ok",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200
    assert (await client.get(f"/s/{token}")).status_code == 409, "answered once"


@pytest.mark.broker
async def test_head_never_records_an_answer(
    collector: tuple[ServiceRuntime, CollectorService, httpx.AsyncClient],
) -> None:
    _, service, client = collector
    token = await open_survey(service)
    head = await client.request(
        "HEAD",
        f"/s/{token}",
        content=b"score=9",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert head.status_code == 200
    assert (await client.get(f"/s/{token}")).status_code == 200, "still open"


@pytest.mark.broker
async def guesses_from(client: httpx.AsyncClient, addresses: int) -> list[int]:
    """One unknown link asked for in the name of each of `addresses` forwarded clients."""
    return [
        (
            await client.get(
                f"/s/guess-{uuid.uuid4().hex}", headers={"X-Forwarded-For": f"10.0.0.{n + 1}"}
            )
        ).status_code
        for n in range(addresses)
    ]


async def test_a_forged_forwarded_address_does_not_escape_the_throttle(
    collector: tuple[ServiceRuntime, CollectorService, httpx.AsyncClient],
) -> None:
    _, _, client = collector
    # No proxy is trusted: the address that connected is the client, whatever it claims.
    statuses = await guesses_from(client, 10)
    assert statuses.count(404) == 5
    assert statuses.count(429) == 5


@pytest.mark.parametrize("collector", [{"trusted_proxies": "127.0.0.1"}], indirect=True)
async def test_a_trusted_proxy_names_each_client_to_the_throttle(
    collector: tuple[ServiceRuntime, CollectorService, httpx.AsyncClient],
) -> None:
    _, _, client = collector
    # Behind a trusted proxy each forwarded client has its own allowance.
    assert await guesses_from(client, 10) == [404] * 10


async def test_replicas_share_one_allowance_of_unknown_links(
    kafka: str, tmp_path: Path, postgres_url: str
) -> None:
    """Two collectors on one PostgreSQL database: a guesser who spreads the guesses over
    both gets the allowance of one, not two."""
    runtimes = []
    for n in range(2):
        runtime, _ = build(
            CollectorSettings(
                kafka_bootstrap=kafka,
                data_dir=tmp_path / f"replica-{n}",
                collector_port=0,
                collector_database_url=postgres_url,
                partner_webhook_secret=SECRET,
                token_guesses_per_minute=5,
            )
        )
        await runtime.start()
        runtimes.append(runtime)
    try:
        statuses = []
        async with httpx.AsyncClient(timeout=10) as client:
            for n in range(10):
                replica = runtimes[n % 2].http.url
                statuses.append(
                    (await client.get(f"{replica}/s/guess-{uuid.uuid4().hex}")).status_code
                )
        assert statuses.count(404) == 5, statuses
        assert statuses[5:] == [429] * 5, "both replicas refuse once the shared limit is met"
    finally:
        for runtime in runtimes:
            await runtime.stop()


async def test_a_thousand_token_guesses_are_slowed_to_429s(
    collector: tuple[ServiceRuntime, CollectorService, httpx.AsyncClient],
) -> None:
    _, service, client = collector
    real = await open_survey(service)
    statuses: list[int] = []
    for n in range(1000):
        answer = await client.get(f"/s/guess-{n:04d}-{uuid.uuid4().hex}")
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            assert int(answer.headers["Retry-After"]) >= 1
    assert statuses.count(404) == 5, "the limit is 5 unknown links a minute"
    assert statuses.count(429) == 995
    # The guesser is held back even with a real token in hand.
    assert (await client.get(f"/s/{real}")).status_code == 429
