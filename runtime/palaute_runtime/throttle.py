"""Counting failures per key (a client address, an account) within a sliding window."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque


class Throttle:
    """Failures per key within a window, and how long a key must wait once it has had too
    many: unknown survey links per client address, failed sign-ins per address and per
    account. Memory is bounded: past `max_keys` the longest-quiet key is forgotten first."""

    def __init__(
        self, per_window: int, *, window_seconds: float = 60.0, max_keys: int = 100_000
    ) -> None:
        self.per_window = per_window
        self.window_seconds = window_seconds
        self.max_keys = max_keys
        self._misses: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> int | None:
        """Seconds this key must wait, or None if it may try now."""
        misses = self._misses.get(key)
        if misses is None:
            return None
        now = time.monotonic()
        while misses and misses[0] <= now - self.window_seconds:
            misses.popleft()
        if len(misses) < self.per_window:
            return None
        return max(1, math.ceil(misses[0] + self.window_seconds - now))

    def missed(self, key: str) -> None:
        """Count one failure of this key."""
        self._misses.setdefault(key, deque()).append(time.monotonic())
        self._misses.move_to_end(key)
        if len(self._misses) > self.max_keys:
            self._misses.popitem(last=False)
