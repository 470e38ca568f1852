"""Runs every Python process of a test run as if at another moment (`./dev test --at`).

`./dev test --at MOMENT` puts this folder first on PYTHONPATH and sets
PALAUTE_TEST_CLOCK_OFFSET to MOMENT minus the real time at the run's start, in seconds. Each
Python process that starts with that environment (pytest's workers, the services and commands
a test runs) then reads the wall clock moved by the same offset, so they agree with each other
and tick at real speed: datetime.now, time.time and everything built on them. Monotonic clocks,
sleeps and timeouts are untouched. Programs that are not Python (PostgreSQL, the broker,
Chromium, Dovecot, stunnel) keep the real time.
"""

from __future__ import annotations

import os

_offset = os.environ.get("PALAUTE_TEST_CLOCK_OFFSET")
if _offset:
    from datetime import UTC, datetime, timedelta

    import time_machine

    _moved = time_machine.travel(datetime.now(UTC) + timedelta(seconds=float(_offset)), tick=True)
    _moved.start()
    # time-machine starts ticking at the first reading, not at start(): read it now, or a
    # process that first asks after its imports runs behind the others by that long.
    datetime.now(UTC)
