"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from palaute_runtime.local_broker import free_port
from palaute_sandbox.server import PartnerSandbox
from palaute_sandbox.settings import SandboxSettings


@pytest.fixture
async def sandbox() -> AsyncIterator[PartnerSandbox]:
    """The partner sandbox on free ports: real HTTP SMS API and real SMTP server."""
    sandbox = PartnerSandbox(
        SandboxSettings(sandbox_http_port=free_port(), sandbox_smtp_port=free_port())
    )
    await sandbox.start()
    yield sandbox
    await sandbox.stop()
