"""The consent service's settings: its database and the release rules."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator, model_validator

from palaute_consent.release import ReleaseRules
from palaute_runtime.keys import Keyring
from palaute_runtime.programmes import Programme
from palaute_runtime.settings import STAFF_API_TOKEN_DEFAULT, CommonSettings


class ConsentSettings(CommonSettings):
    """PALAUTE_CONSENT_DATABASE_URL picks PostgreSQL; unset, a SQLite file in the data folder.

    The release rules' defaults are the real ones; the local stack opens them up.
    """

    SECRETS = (
        *CommonSettings.SECRETS,
        "register_audit_key",
        "audit_chain_key",
        "officer_session_key",
        "staff_api_token",
    )

    consent_database_url: str | None = None
    # The collector, which the comment reader asks for comments (its staff API), with the
    # token the two share (development default: set your own for both).
    collector_url: str = "http://127.0.0.1:18000"
    staff_api_token: str = STAFF_API_TOKEN_DEFAULT
    # Key of the audit log's identifier hashes (development default: set your own).
    register_audit_key: str = "palaute-local-development-audit-key"
    # Key of the audit chain's hashes and anchors, never stored in the database (development
    # default: set your own; ID:SECRET pairs rotate it, see the README). The chain's head is
    # anchored outside the database (a Kafka topic and the log) this often, when it moved.
    audit_chain_key: str = "palaute-local-development-audit-chain-key"
    audit_anchor_seconds: float = Field(default=300.0, gt=0, le=86_400)
    # Operating-system accounts the register commands refuse to run under, comma-separated:
    # shared ones that name nobody in the audit log. Unset: none, and `root` in production.
    cli_refused_accounts: str | None = None
    # Where its own HTTP surface is served; operations (health, metrics) on the ops port.
    consent_host: str = "127.0.0.1"
    consent_port: int = Field(default=18001, ge=0, le=65535)
    consent_ops_port: int = Field(default=18101, ge=0, le=65535)
    # The officer's workspace (pages and API on the consent port): the key that signs
    # session cookies (development default: set your own), how long a session lasts, failed
    # sign-ins allowed per address and per account within 15 minutes, and single sign-on:
    # the identity header an authenticating proxy sets, trusted only from these addresses.
    officer_session_key: str = "palaute-local-development-officer-session-key"
    officer_session_hours: int = Field(default=8, ge=1, le=24 * 7)
    # Failed sign-ins per account within 15 minutes before each further attempt at it is
    # slowed down by officer_sign_in_slowdown_seconds; four times as many per client address
    # before that address gets 429s.
    officer_sign_in_attempts: int = Field(default=5, ge=1, le=1000)
    officer_sign_in_slowdown_seconds: float = Field(default=3.0, ge=0, le=60)
    officer_sso_header: str = ""
    officer_sso_proxies: str = ""
    # An access request's document is kept this long for the officer to download.
    keep_access_reports_days: int = Field(default=7, ge=1, le=90)
    max_contact_age_days: int = Field(default=7, ge=1, le=365)
    # An email address the mail system bounced for good (a 5.x.x DSN), or this many times
    # in a row for now (4.x.x, none more than the period apart), is not mailed for this
    # many days (the contact gets an SMS when it has a mobile number, else nothing).
    bounce_suppression_days: int = Field(default=180, ge=1, le=3650)
    soft_bounces_to_suppress: int = Field(default=3, ge=1, le=100)
    # How long a released survey can still be withdrawn by an opt-out (its invitation may be
    # retrying that long); at least the dispatcher's invitation validity.
    withdraw_within_days: int = Field(default=15, ge=1, le=365)
    # A programme's reminder (PALAUTE_REMINDER_AFTER_DAYS for the default) goes that many
    # days after its survey's release, inside the send window, unless it was answered,
    # withdrawn or opted out of. Keep it well inside the dispatcher's
    # PALAUTE_INVITATION_VALID_DAYS: the dispatcher skips a reminder whose survey closes
    # within a day.

    @property
    def refused_cli_accounts(self) -> set[str]:
        """The accounts the CLI refuses (PALAUTE_CLI_REFUSED_ACCOUNTS; production: root)."""
        if self.cli_refused_accounts is None:
            return {"root"} if self.env == "production" else set()
        return {name.strip() for name in self.cli_refused_accounts.split(",") if name.strip()}

    @model_validator(mode="after")
    def _reminder_within_withdrawal(self) -> ConsentSettings:
        for programme in self.programmes.all:
            if programme.reminder_after_days >= self.withdraw_within_days:
                raise ValueError(
                    f"the reminder of programme {programme.name!r} "
                    f"({programme.reminder_after_days} days; PALAUTE_REMINDER_AFTER_DAYS for "
                    "the default) must come sooner than PALAUTE_WITHDRAW_WITHIN_DAYS (an "
                    "opt-out must still withdraw the survey when its reminder is due)"
                )
        return self

    @field_validator("audit_chain_key")
    @classmethod
    def _chain_key(cls, value: str) -> str:
        Keyring.parse(value)
        return value

    @property
    def chain_keys(self) -> Keyring:
        """The audit chain's keys (the first writes)."""
        return Keyring.parse(self.audit_chain_key)

    @property
    def database_url(self) -> str:
        """The database this service uses."""
        return self.consent_database_url or self.sqlite_url("consent")

    def release_rules(self, programme: Programme | None = None) -> ReleaseRules:
        """The release rules of a programme (the default one's when none is named)."""
        programme = programme or self.programmes.default
        return ReleaseRules(
            delay=timedelta(minutes=programme.release_delay_minutes),
            max_age=timedelta(days=self.max_contact_age_days),
            sending=programme.send_window_rules(self.send_window_rules()),
        )

    @property
    def remember_released(self) -> timedelta:
        """How long a released survey is remembered (every programme's cap, withdrawal)."""
        longest_cap = max(p.frequency_cap_days for p in self.programmes.all)
        return timedelta(days=max(longest_cap, self.withdraw_within_days))
