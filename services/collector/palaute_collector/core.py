"""What every part of the collector shares: its database, settings, clock and outbox, and
how an erased person is remembered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_collector.settings import CollectorSettings
from palaute_collector.tables import outbox
from palaute_runtime.clock import Clock
from palaute_runtime.outbox import Outbox


@dataclass
class Core:
    """The collector's database, settings, clock and outbox, handed to each part."""

    engine: AsyncEngine
    settings: CollectorSettings
    clock: Clock
    outbox: Outbox = field(default_factory=lambda: Outbox(outbox))

    def pseudonyms(self, customer_id: str | None, refs: Sequence[str]) -> list[str]:
        """How an erased person is remembered: keyed pseudonyms (under every pepper still
        listed), never the identifiers."""
        named = self.settings.pseudonyms(f"customer:{customer_id}") if customer_id else []
        return named + list(refs)

    def hold_cutoff(self) -> datetime:
        """SMS replies held since before this are past their hold."""
        return self.clock.now() - timedelta(minutes=self.settings.reply_hold_minutes)
