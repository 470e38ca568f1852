"""What every part of the consent service shares: its database, settings, clock, release
rules and outbox, and the register on the service's clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from palaute_consent.register import OptOutRegister
from palaute_consent.release import ReleaseRules
from palaute_consent.settings import ConsentSettings
from palaute_consent.tables import outbox
from palaute_runtime.clock import Clock
from palaute_runtime.outbox import Outbox
from palaute_runtime.programmes import Programme


@dataclass
class Core:
    """The consent service's database, settings, clock and outbox, handed to each part."""

    engine: AsyncEngine
    settings: ConsentSettings
    clock: Clock
    outbox: Outbox = field(default_factory=lambda: Outbox(outbox))
    # Set when a plan is made that is not due yet: the release loop may need to wake sooner.
    planned: asyncio.Event = field(default_factory=asyncio.Event)

    rules: dict[str, ReleaseRules] = field(init=False)

    def __post_init__(self) -> None:
        self.rules = {p.name: self.settings.release_rules(p) for p in self.settings.programmes.all}

    def programme(self, unit: str) -> Programme:
        """The programme a unit's contacts are surveyed in."""
        return self.settings.programmes.for_unit(unit)

    def rules_of(self, unit: str) -> ReleaseRules:
        """The release rules of a unit's programme."""
        return self.rules[self.programme(unit).name]

    def register(self, connection: AsyncConnection) -> OptOutRegister:
        """The opt-out register inside the caller's transaction, on the service's clock."""
        settings = self.settings
        return OptOutRegister(
            connection, settings.register_audit_key, self.clock, chain=settings.chain_keys
        )
