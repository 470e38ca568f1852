"""The dispatcher's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from palaute_runtime.keys import Keyring
from palaute_runtime.settings import CommonSettings

LOOPBACK = ("127.0.0.1", "::1", "localhost")


class DispatcherSettings(CommonSettings):
    """Partner endpoints, the survey origin and delivery limits."""

    SECRETS = (
        *CommonSettings.SECRETS,
        "partner_api_key",
        "partner_receipt_secret",
        "token_secret",
    )

    dispatcher_database_url: str | None = None
    # Where its own HTTP surface is served; operations (health, metrics) on the ops port.
    dispatcher_host: str = "127.0.0.1"
    dispatcher_port: int = Field(default=18002, ge=0, le=65535)
    dispatcher_ops_port: int = Field(default=18102, ge=0, le=65535)
    partner_sms_url: str = "http://127.0.0.1:18080"
    partner_api_key: str = "sandbox-key"
    # Bearer secret the partner sends with its delivery receipts (development default).
    partner_receipt_secret: str = "sandbox-receipt-secret"  # noqa: S105
    partner_smtp_host: str = "127.0.0.1"
    partner_smtp_port: int = 18025
    # TLS to the relay: starttls (submission, 587: STARTTLS required), tls (implicit TLS,
    # 465) or none (a relay on this machine only, such as the sandbox). The relay's
    # certificate is always verified: against the system's CAs, or only the CA in
    # PALAUTE_PARTNER_SMTP_CA_FILE (PEM) when set. A user logs in (AUTH) over TLS only.
    partner_smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    partner_smtp_ca_file: Path | None = None
    partner_smtp_username: str | None = None
    partner_smtp_password: str | None = None
    # Key that seals a survey token (random) while its message waits for the partner, so a
    # retry sends the same link; dropped once the partner has it.
    token_secret: str = "palaute-local-development-token-secret"  # noqa: S105
    survey_origin: str = "http://127.0.0.1:18000"
    invitation_valid_days: int = Field(default=14, ge=1, le=90)
    delivery_concurrency: int = Field(default=32, ge=1, le=256)
    # Invitations claimed per round; each round is one claim and one record transaction.
    # Kept small enough that a round of slow partner calls ends well within its claim.
    delivery_batch_size: int = Field(default=64, ge=1, le=1000)
    # An invitation not taken by the partner this long after it was requested is given up
    # (expired), however long the outage; never later than its survey closes.
    max_send_delay_hours: float = Field(default=48, gt=0, le=24 * 90)
    # The partner's contracted rate per channel, for the whole deployment: the dispatcher
    # replicas running share it (each sends 1/n of it). Twilio's and 46elks's own, when they
    # differ (unset: the SMS rate).
    partner_sms_rate_per_second: float = Field(default=50.0, gt=0, le=10_000)
    partner_email_rate_per_second: float = Field(default=20.0, gt=0, le=10_000)
    twilio_rate_per_second: float | None = Field(default=None, gt=0, le=10_000)
    elks_rate_per_second: float | None = Field(default=None, gt=0, le=10_000)
    # How long one call to an SMS provider may take before its answer counts as lost.
    partner_sms_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Each replica says it is alive this often; one not heard of for three beats is gone
    # and its share of the rates goes back to the others.
    replica_heartbeat_seconds: float = Field(default=5.0, gt=0, le=300)
    # Several SMS providers (failover.py): a provider's share falls at most once per
    # cool-down, and drifts back a step after each quiet period without a fall. Its reports
    # are slow when of the SMS it took between the window's start and the slowness
    # threshold ago (at least 10), 30 % or more were reported later than the threshold or
    # not yet; checked this often.
    sms_failover_cool_down_seconds: float = Field(default=60.0, ge=0, le=86_400)
    sms_failover_quiet_seconds: float = Field(default=600.0, gt=0, le=86_400)
    sms_slow_report_seconds: float = Field(default=240.0, gt=0, le=86_400)
    sms_slow_window_seconds: float = Field(default=600.0, gt=0, le=86_400)
    sms_slow_check_seconds: float = Field(default=60.0, gt=0, le=86_400)
    # The circuit breaker: open after this many transient failures in a row; the first
    # cool-down, doubled after each failed probe up to the longest.
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    breaker_cool_down_seconds: float = Field(default=2.0, gt=0, le=600)
    breaker_longest_cool_down_seconds: float = Field(default=30.0, gt=0, le=3600)
    # How long one delivery round holds the invitations it claimed: a dispatcher killed
    # mid-round leaves them to another round after this long (tests shorten it).
    claim_seconds: float = Field(default=60.0, gt=0, le=3600)
    # The partner's deletion on instruction, retried through an outage: first wait, doubled
    # after each failure up to the longest.
    partner_deletion_retry_seconds: float = Field(default=2.0, gt=0, le=600)
    partner_deletion_longest_retry_seconds: float = Field(default=300.0, gt=0, le=86_400)

    # Email bounces (RFC 3464 DSNs). Each email leaves with its own return path,
    # local+<invitation>-<tag>@domain of this address (VERP; empty: no return path of our
    # own, bounces unread); the tag is a MAC under this key (ID:SECRET list, current first).
    bounce_address: str = Field(default="", max_length=200)
    bounce_secret: str = ""
    # The mailbox the bounces land in, read over IMAP (empty host: not read). TLS is
    # verified against the system's CAs, or only PALAUTE_BOUNCE_IMAP_CA_FILE when set.
    bounce_imap_host: str = ""
    bounce_imap_port: int = Field(default=993, ge=1, le=65535)
    bounce_imap_security: Literal["tls", "starttls", "none"] = "tls"
    bounce_imap_username: str = ""
    bounce_imap_password: str = ""
    bounce_imap_mailbox: str = Field(default="INBOX", min_length=1, max_length=200)
    bounce_imap_ca_file: Path | None = None
    # Twilio calls a status callback once: an SMS with no delivery report this long after it
    # was sent is asked for (GET Messages/{sid}), in rounds this often, for a week at most.
    delivery_report_wait_minutes: float = Field(default=60.0, gt=0, le=7 * 24 * 60)
    delivery_report_poll_seconds: float = Field(default=300.0, gt=0, le=86_400)
    bounce_poll_seconds: float = Field(default=60.0, gt=0, le=86_400)

    def rate_of(self, channel: str, lane: str) -> float:
        """The contracted rate of one way out: a provider's own, else the channel's."""
        if channel == "email":
            return self.partner_email_rate_per_second
        own = {"twilio": self.twilio_rate_per_second, "46elks": self.elks_rate_per_second}
        return own.get(lane) or self.partner_sms_rate_per_second

    @property
    def database_url(self) -> str:
        """The database this service uses."""
        return self.dispatcher_database_url or self.sqlite_url("dispatcher")

    @model_validator(mode="after")
    def _a_real_relay_in_production(self) -> DispatcherSettings:
        stand_ins = ("sandbox", "127.0.0.1", "localhost", "::1")
        if self.env == "production" and not self.local_testing:
            if self.partner_smtp_host in stand_ins:
                raise ValueError(
                    f"PALAUTE_PARTNER_SMTP_HOST is {self.partner_smtp_host!r}, the sandbox or "
                    "this machine, in production: set your email relay's host (or "
                    "PALAUTE_LOCAL_TESTING=true for a test run against the sandbox)"
                )
            if self.partner_smtp_security == "none":
                raise ValueError(
                    "PALAUTE_PARTNER_SMTP_SECURITY=none in production: mail would cross the "
                    "network in clear; use starttls or tls"
                )
        return self

    @model_validator(mode="after")
    def _login_over_tls_only(self) -> DispatcherSettings:
        if self.partner_smtp_username and self.partner_smtp_security == "none":
            raise ValueError(
                "PALAUTE_PARTNER_SMTP_USERNAME needs PALAUTE_PARTNER_SMTP_SECURITY starttls or "
                "tls: without TLS the password would cross the network in clear"
            )
        if self.partner_smtp_ca_file is not None and not self.partner_smtp_ca_file.is_file():
            raise ValueError(f"PALAUTE_PARTNER_SMTP_CA_FILE {self.partner_smtp_ca_file} is no file")
        return self

    @model_validator(mode="after")
    def _bounces_readable(self) -> DispatcherSettings:
        local, at, domain = self.bounce_address.rpartition("@")
        if self.bounce_address and not (at and local and "." in domain and "+" not in local):
            raise ValueError(
                "PALAUTE_BOUNCE_ADDRESS must be an address like bounces@example.fi (no '+')"
            )
        if len(local) > 64 - 50:  # the VERP part adds 50 characters; a local part holds 64
            raise ValueError("PALAUTE_BOUNCE_ADDRESS's local part must be 14 characters or fewer")
        if self.bounce_address:
            try:
                Keyring.parse(self.bounce_secret)
            except ValueError as exc:
                raise ValueError(
                    "PALAUTE_BOUNCE_ADDRESS needs PALAUTE_BOUNCE_SECRET, the key of its tags: "
                    f"{exc}"
                ) from exc
        if self.bounce_imap_host:
            if not self.bounce_address:
                raise ValueError(
                    "PALAUTE_BOUNCE_IMAP_HOST needs PALAUTE_BOUNCE_ADDRESS: without a return "
                    "path of ours no bounce can be tied to its invitation"
                )
            if not self.bounce_imap_username or not self.bounce_imap_password:
                raise ValueError(
                    "PALAUTE_BOUNCE_IMAP_HOST needs PALAUTE_BOUNCE_IMAP_USERNAME and "
                    "PALAUTE_BOUNCE_IMAP_PASSWORD"
                )
            if self.bounce_imap_security == "none" and self.bounce_imap_host not in LOOPBACK:
                raise ValueError(
                    "PALAUTE_BOUNCE_IMAP_SECURITY=none only for a mailbox on this machine: "
                    "the password would cross the network in clear"
                )
        if self.bounce_imap_ca_file is not None and not self.bounce_imap_ca_file.is_file():
            raise ValueError(f"PALAUTE_BOUNCE_IMAP_CA_FILE {self.bounce_imap_ca_file} is no file")
        return self
