"""The one clock of a service: real time, or real time moved to a chosen start.

A moved clock (PALAUTE_CLOCK_START) lets a person or a test run "tomorrow at 08:59" without
waiting; it still runs at real speed from there. Production leaves it unset.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Tells the time; every rule that depends on the time asks this, never datetime.now."""

    def __init__(self, start: datetime | None = None) -> None:
        self._offset = start - datetime.now(UTC) if start is not None else timedelta(0)

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        return datetime.now(UTC) + self._offset
