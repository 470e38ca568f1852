"""The collector's settings."""

from __future__ import annotations

from pydantic import Field

from palaute_runtime.settings import CommonSettings


class CollectorSettings(CommonSettings):
    """Where the survey page listens, the partner webhook's secret, the minimum group size."""

    SECRETS = (*CommonSettings.SECRETS, "partner_webhook_secret")

    collector_database_url: str | None = None
    collector_host: str = "127.0.0.1"
    collector_port: int = 18000
    # A development default (S105 is right in general): production sets its own.
    partner_webhook_secret: str = "sandbox-webhook-secret"  # noqa: S105
    min_group_size: int = Field(default=5, ge=2)
    # Unknown survey links one client address may ask for per minute before a 429.
    token_guesses_per_minute: int = Field(default=20, ge=1, le=100_000)
    # How long a scored SMS reply waits for an invitation the collector has not seen yet.
    reply_hold_minutes: int = Field(default=60, ge=0)

    @property
    def database_url(self) -> str:
        """The database this service uses."""
        return self.collector_database_url or self.sqlite_url("collector")
