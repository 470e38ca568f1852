"""The consent service's settings."""

from __future__ import annotations

from palaute_runtime.settings import CommonSettings


class ConsentSettings(CommonSettings):
    """PALAUTE_CONSENT_DATABASE_URL picks PostgreSQL; unset, a SQLite file in the data folder."""

    consent_database_url: str | None = None

    @property
    def database_url(self) -> str:
        """The database this service uses."""
        return self.consent_database_url or self.sqlite_url("consent")
