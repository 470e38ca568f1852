"""The partner sandbox never shows its messages, tokens or inbound-SMS injection beyond this
machine without a token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from palaute_runtime.errors import RefusedStart
from palaute_runtime.local_broker import free_port
from palaute_sandbox.server import PartnerSandbox
from palaute_sandbox.settings import SandboxSettings


def test_listening_beyond_loopback_without_a_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RefusedStart, match="PALAUTE_SANDBOX_ADMIN_TOKEN"):
        PartnerSandbox(SandboxSettings(sandbox_host="0.0.0.0", data_dir=tmp_path))  # noqa: S104
    done = subprocess.run(
        [sys.executable, "-m", "palaute_sandbox", "run"],
        env={"PATH": os.environ["PATH"], "PALAUTE_SANDBOX_HOST": "0.0.0.0"},  # noqa: S104
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: the sandbox listens on 0.0.0.0")
    assert len(done.stderr.strip().splitlines()) == 1


async def test_with_a_token_the_sandbox_endpoints_answer_only_to_it(tmp_path: Path) -> None:
    sandbox = PartnerSandbox(
        SandboxSettings(
            data_dir=tmp_path,
            sandbox_http_port=free_port(),
            sandbox_smtp_port=free_port(),
            sandbox_admin_token="let-me-in",
        )
    )
    await sandbox.start()
    try:
        async with httpx.AsyncClient(base_url=sandbox.http.url) as client:
            for method, path in (
                ("GET", "/sandbox/messages"),
                ("GET", "/sandbox/stats"),
                ("POST", "/sandbox/inbound-sms"),
                ("POST", "/sandbox/faults"),
            ):
                refused = await client.request(method, path, json={})
                assert refused.status_code == 401, path
                wrong = await client.request(
                    method, path, json={}, headers={"Authorization": "Bearer nope"}
                )
                assert wrong.status_code == 401, path
            allowed = await client.get(
                "/sandbox/messages", headers={"Authorization": "Bearer let-me-in"}
            )
            assert allowed.status_code == 200
            assert allowed.json()["sms"] == []
            assert (await client.get("/health/ready")).status_code == 200
    finally:
        await sandbox.stop()


@pytest.mark.parametrize(
    "fault",
    [
        {"hang_seconds": "nan"},
        {"hang_for_seconds": "-inf"},
        {"report_delay_seconds": "inf"},
        {"fail_for_seconds": "NaN"},
        {"provider": "vonage"},
    ],
)
async def test_a_fault_of_no_duration_or_of_no_such_provider_is_refused(
    sandbox: PartnerSandbox, fault: dict[str, object]
) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{sandbox.http.url}/sandbox/faults", json=fault)
        assert answer.status_code == 400, answer.text
        assert "expected JSON" in answer.json()["error"]
        # An outage whose end was computed as past is simply over.
        kept = await client.post(
            f"{sandbox.http.url}/sandbox/faults",
            json={"provider": "twilio", "fail_for_seconds": -0.5, "hang_for_seconds": -1},
        )
    assert kept.status_code == 200
    assert kept.json()["twilio"]["outage_seconds_left"] == 0
