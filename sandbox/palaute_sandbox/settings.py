"""The partner sandbox's settings."""

from __future__ import annotations

from pydantic import Field

from palaute_runtime.settings import CommonSettings


class SandboxSettings(CommonSettings):
    """Where the sandbox listens and where it forwards inbound SMS replies."""

    SECRETS = (*CommonSettings.SECRETS, "partner_api_key", "partner_webhook_secret")

    sandbox_host: str = "127.0.0.1"
    sandbox_http_port: int = 18080
    sandbox_smtp_port: int = 18025
    partner_api_key: str = "sandbox-key"
    # The contracted SMS rate the sandbox enforces (429 above it); 0: no limit.
    sandbox_sms_rate_per_second: float = Field(default=0.0, ge=0, le=100_000)
    collector_webhook_url: str = "http://127.0.0.1:18000/partner/sms-inbound"
    # A development default (S105 is right in general): production sets its own.
    partner_webhook_secret: str = "sandbox-webhook-secret"  # noqa: S105
    # Required when the sandbox listens beyond loopback: /sandbox/* (every message and token,
    # inbound SMS injection, faults) then answers only `Authorization: Bearer <token>`.
    sandbox_admin_token: str | None = None
