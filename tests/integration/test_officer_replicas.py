"""Two consent replicas on one PostgreSQL database share the sign-in throttles: a guesser who
spreads the attempts over both gets the allowance of one, not two."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx

from palaute_consent import officers
from palaute_consent.bootstrap import build
from palaute_consent.settings import ConsentSettings
from palaute_runtime.service import ServiceRuntime


async def wrong_password(client: httpx.AsyncClient, replica: ServiceRuntime) -> int:
    """One sign-in with a wrong password through a replica, as a browser makes it."""
    form = await client.get(f"{replica.http.url}/officer/sign-in")
    match = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert match is not None, form.text
    answer = await client.post(
        f"{replica.http.url}/officer/sign-in",
        data={"username": "anna", "password": "not the password", "csrf": match.group(1)},
    )
    return answer.status_code


async def test_replicas_share_one_allowance_of_failed_sign_ins(
    kafka: str, tmp_path: Path, postgres_url: str
) -> None:
    replicas = []
    for n in range(2):
        runtime, service = build(
            ConsentSettings(
                kafka_bootstrap=kafka,
                data_dir=tmp_path / f"replica-{n}",
                consent_port=0,
                consent_database_url=postgres_url,
                # Per account 2, then slowed (by 0.1 s here); per address 8, then 429.
                officer_sign_in_attempts=2,
                officer_sign_in_slowdown_seconds=0.1,
            )
        )
        await runtime.start()
        replicas.append(runtime)
    try:
        async with service.engine.begin() as connection:
            await officers.add_account(
                connection, "anna", "pitkä-salasana-anna", "officer", now=datetime.now(UTC)
            )
        async with httpx.AsyncClient(timeout=10) as client:
            statuses = [await wrong_password(client, replicas[n % 2]) for n in range(10)]
        assert statuses == [401] * 8 + [429] * 2, "both replicas refuse once the limit is met"
    finally:
        for runtime in replicas:
            await runtime.stop()
