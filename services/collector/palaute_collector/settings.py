"""The collector's settings."""

from __future__ import annotations

from pydantic import Field, field_validator

from palaute_collector.figures import (
    DEFAULT_LAYOUT,
    DEFAULT_WEEK_AFTER_DAYS,
    Rule,
    layout_text,
    parse_layout,
)
from palaute_runtime.settings import STAFF_API_TOKEN_DEFAULT, CommonSettings


class CollectorSettings(CommonSettings):
    """Where the survey page listens, the partner webhook's secret, the minimum group size."""

    SECRETS = (
        *CommonSettings.SECRETS,
        "partner_webhook_secret",
        "answer_seal_key",
        "staff_api_token",
    )

    collector_database_url: str | None = None
    # The survey page and the partner's webhook; operations (health, metrics) apart.
    collector_host: str = "127.0.0.1"
    collector_port: int = 18000
    collector_ops_port: int = Field(default=18100, ge=0, le=65535)
    # A development default (S105 is right in general): production sets its own.
    partner_webhook_secret: str = "sandbox-webhook-secret"  # noqa: S105
    min_group_size: int = Field(default=5, ge=2)
    # The consent service's comment reader asks with this (development default).
    staff_api_token: str = STAFF_API_TOKEN_DEFAULT
    # Seals anonymous answers while they wait for their batch (development default).
    answer_seal_key: str = "palaute-local-development-answer-seal-key"
    # Unknown survey links one client address may ask for per minute before a 429.
    token_guesses_per_minute: int = Field(default=20, ge=1, le=100_000)
    # How long a scored SMS reply waits for an invitation the collector has not seen yet.
    reply_hold_minutes: int = Field(default=60, ge=0)

    # Retention: invitations (and their tokens) this many days after their survey closed;
    # the link of a named answer to its invitation and customer, and its comment, after
    # this many months (the scores stay in the counts).
    keep_invitations_days: int = Field(default=30, ge=1, le=3650)
    keep_response_links_months: int = Field(default=24, ge=1, le=240)
    # How often changed funnel cells are published.
    funnel_publish_seconds: float = Field(default=30.0, gt=0, le=3600)
    # How often waiting answers are looked at for release into the figures.
    figures_publish_seconds: float = Field(default=60.0, gt=0, le=3600)
    # A contact day is final (no survey of it can be answered any more) once none of its
    # invitations is open and it is this many days old: consent releases a contact within
    # 7 days (stale after that), the dispatcher sends within hours.
    figures_final_after_days: int = Field(default=8, ge=1, le=90)
    # The breakdowns published at each grain (the total always is): `grain=breakdowns;...`,
    # `*` for every one. docs/figures.md says what each choice costs.
    figures_breakdowns: str = layout_text(DEFAULT_LAYOUT)
    # Days an answer waits for its day's figures before its week's may take it.
    figures_week_after_days: int = Field(default=DEFAULT_WEEK_AFTER_DAYS, ge=0, le=7)

    @field_validator("figures_breakdowns")
    @classmethod
    def _layout(cls, value: str) -> str:
        parse_layout(value)  # its ValueError says what is wrong
        return value

    @property
    def figures_rule(self) -> Rule:
        """The release rule these settings choose."""
        return Rule(
            self.min_group_size,
            parse_layout(self.figures_breakdowns),
            self.figures_week_after_days,
        )

    @property
    def database_url(self) -> str:
        """The database this service uses."""
        return self.collector_database_url or self.sqlite_url("collector")
