"""Opt-outs: from the privacy officer, STOP replies and unsubscribe links (by message), and
the withdrawal of what was already released to the person."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_consent.core import Core
from palaute_consent.plans import Plans
from palaute_consent.register import EntryKind, register_key, serialize_with_opt_outs
from palaute_consent.tables import inbox
from palaute_runtime.outbox import Inbox
from palaute_runtime.unit_of_work import uow
from palaute_schemas import SURVEY_WITHDRAWN, OptOutRequested, OptOutSource, SurveyWithdrawn

log = structlog.get_logger("palaute.consent")


class OptOuts:
    """Puts identifiers in the register (audited) and withdraws surveys released to them."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._inbox = Inbox(inbox, "consent.opt-out-requested", core.clock)

    async def handle_opt_out_requests(self, requests: Sequence[OptOutRequested]) -> None:
        """Put every identifier of each opt-out request into the register, and withdraw
        the surveys already released to any of them."""
        core = self.core
        async with uow(core.engine, core.outbox, self._inbox, requests) as work:
            connection, fresh = work.connection, work.fresh
            withdrawn = 0
            for request in fresh:
                given: list[tuple[EntryKind, str | None]] = [
                    ("customer_id", request.customer_id),
                    ("phone", request.phone),
                    ("email", request.email),
                ]
                for kind, value in given:
                    if value is not None:
                        withdrawn += await self.register_opt_out(
                            connection,
                            kind,
                            value,
                            source=request.source,
                            reason=request.reason,
                            actor=request.source,
                        )
        for request in fresh:
            log.info("opt_out_registered", event_id=str(request.event_id), source=request.source)
        if withdrawn:
            log.info("surveys_withdrawn", count=withdrawn)

    async def add_opt_out(
        self, kind: EntryKind, value: str, *, source: OptOutSource, reason: str, actor: str
    ) -> int:
        """Put one identifier in the register (audited) and withdraw what was released to
        it; how many surveys were withdrawn."""
        async with uow(self.core.engine, self.core.outbox) as work:
            return await self.register_opt_out(
                work.connection, kind, value, source=source, reason=reason, actor=actor
            )

    async def remove_opt_out(
        self, kind: EntryKind, value: str, *, reason: str, actor: str, source: str | None = None
    ) -> bool:
        """Lift an opt-out (audited, through `source` when given); False when there was
        none."""
        async with uow(self.core.engine, self.core.outbox) as work:
            return await self.core.register(work.connection).remove(
                kind, value, reason=reason, actor=actor, source=source
            )

    async def register_opt_out(
        self,
        connection: AsyncConnection,
        kind: EntryKind,
        value: str,
        *,
        source: OptOutSource,
        reason: str,
        actor: str,
    ) -> int:
        """Add one register entry (audited) and withdraw the surveys released to it that may
        not be sent yet; returns how many were withdrawn. Runs in the caller's transaction."""
        core = self.core
        await serialize_with_opt_outs(connection, opting_out=True)
        await core.register(connection).add(kind, value, source=source, reason=reason, actor=actor)
        since = core.clock.now() - timedelta(days=core.settings.withdraw_within_days)
        contact_ids = await Plans(connection).released_to(kind, register_key(kind, value), since)
        await core.outbox.add_all(
            connection,
            SURVEY_WITHDRAWN,
            [
                SurveyWithdrawn(contact_id=contact_id, reason="opted_out")
                for contact_id in contact_ids
            ],
        )
        return len(contact_ids)
