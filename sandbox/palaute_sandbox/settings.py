"""The partner sandbox's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from palaute_runtime.settings import CommonSettings


class SandboxSettings(CommonSettings):
    """Where the sandbox listens and where it forwards inbound SMS replies."""

    SECRETS = (
        *CommonSettings.SECRETS,
        "partner_api_key",
        "partner_webhook_secret",
        "partner_receipt_secret",
        "sandbox_bounce_imap_password",
    )

    sandbox_host: str = "127.0.0.1"
    sandbox_http_port: int = 18080
    sandbox_smtp_port: int = 18025
    # The SMTP server as a real relay: STARTTLS required (starttls) or TLS from the first
    # byte (tls), with this certificate chain and key (PEM); and AUTH (PLAIN, LOGIN) required,
    # over TLS only, when a user is set. Plain and open by default (this machine only).
    sandbox_smtp_security: Literal["none", "starttls", "tls"] = "none"
    sandbox_smtp_cert_file: Path | None = None
    sandbox_smtp_key_file: Path | None = None
    sandbox_smtp_username: str | None = None
    sandbox_smtp_password: str | None = None
    partner_api_key: str = "sandbox-key"
    # The contracted SMS rate the sandbox enforces (429 above it); 0: no limit.
    sandbox_sms_rate_per_second: float = Field(default=0.0, ge=0, le=100_000)
    # How long the SMS API takes to answer each send, as a real partner's does (the bench
    # measures the dispatcher at 50, 150 and 400 ms); 0: at once.
    sandbox_response_ms: float = Field(default=0.0, ge=0, le=30_000)
    collector_webhook_url: str = "http://127.0.0.1:18000/partner/sms-inbound"
    # As 46elks (PALAUTE_SMS_PROVIDER=46elks): the number's sms_url, with its Basic auth.
    sandbox_elks_inbound_url: str = ""
    # A development default (S105 is right in general): production sets its own.
    partner_webhook_secret: str = "sandbox-webhook-secret"  # noqa: S105
    # Required when the sandbox listens beyond loopback: /sandbox/* (every message and token,
    # inbound SMS injection, faults) then answers only `Authorization: Bearer <token>`.
    sandbox_admin_token: str | None = None
    # Delivery receipts for SMS: where to send them (unset: none), with which secret, after
    # how long, and in what mix of outcomes ("delivered=90,undelivered=7,expired=3").
    sandbox_receipt_url: str | None = None
    partner_receipt_secret: str = "sandbox-receipt-secret"  # noqa: S105
    sandbox_receipt_delay_seconds: float = Field(default=0.5, ge=0, le=3600)
    sandbox_receipt_mix: str = "delivered=100"
    # As Twilio: a message's status callback may come before the create call has answered
    # (Twilio calls once per status change and never again): the share of messages (0-1)
    # whose final callback is posted before the sandbox answers the create call.
    sandbox_twilio_callback_first: float = Field(default=0.0, ge=0, le=1)
    # The relay's bounces (see bounces.py for the simulated addresses): filed as RFC 3464
    # DSNs in this IMAP mailbox (IMAPS, the certificate verified against the CA file or the
    # system's), after this delay; unset host: simulated addresses are simply delivered.
    sandbox_bounce_imap_host: str = ""
    sandbox_bounce_imap_port: int = Field(default=993, ge=1, le=65535)
    sandbox_bounce_imap_username: str = ""
    sandbox_bounce_imap_password: str = ""
    sandbox_bounce_imap_mailbox: str = "INBOX"
    sandbox_bounce_imap_ca_file: Path | None = None
    sandbox_bounce_delay_seconds: float = Field(default=0.2, ge=0, le=3600)

    @model_validator(mode="after")
    def _tls_needs_a_certificate(self) -> SandboxSettings:
        if self.sandbox_smtp_security != "none" and not (
            self.sandbox_smtp_cert_file and self.sandbox_smtp_key_file
        ):
            raise ValueError(
                "PALAUTE_SANDBOX_SMTP_SECURITY starttls or tls needs "
                "PALAUTE_SANDBOX_SMTP_CERT_FILE and PALAUTE_SANDBOX_SMTP_KEY_FILE"
            )
        return self

    @field_validator("sandbox_receipt_mix")
    @classmethod
    def _mix(cls, value: str) -> str:
        receipt_mix(value)
        return value


OUTCOMES = ("delivered", "undelivered", "expired")


def receipt_mix(text: str) -> list[tuple[str, int]]:
    """'delivered=90,undelivered=7,expired=3' as [(outcome, weight)]; weights sum over 0."""
    mix: list[tuple[str, int]] = []
    for part in text.split(","):
        outcome, _, weight = part.strip().partition("=")
        if outcome not in OUTCOMES or not weight.isdigit():
            raise ValueError(
                f"expected outcome=weight pairs of {', '.join(OUTCOMES)}, e.g. delivered=90"
            )
        mix.append((outcome, int(weight)))
    if sum(weight for _, weight in mix) <= 0:
        raise ValueError("the weights must add up to more than 0")
    return mix
