"""What every part of the dispatcher shares: its database, settings, clock and outbox, and
the signal that wakes the delivery loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_dispatcher.settings import DispatcherSettings
from palaute_dispatcher.tables import outbox
from palaute_runtime.clock import Clock
from palaute_runtime.outbox import Outbox


@dataclass
class Core:
    """The dispatcher's database, settings, clock and outbox, handed to each part."""

    engine: AsyncEngine
    settings: DispatcherSettings
    clock: Clock
    outbox: Outbox = field(default_factory=lambda: Outbox(outbox))
    # Set when an invitation may have become due: the delivery loop looks at once.
    due: asyncio.Event = field(default_factory=asyncio.Event)
