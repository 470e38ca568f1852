"""The collector's part of the person's rights and of retention: erasure and access requests
(by customer id or SMS number), and the scheduled purge of what is no longer needed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_collector.core import Core
from palaute_collector.figure_store import SEALED_LENGTH
from palaute_collector.invitation_store import InvitationStore
from palaute_collector.tables import inbox
from palaute_runtime.database import as_utc
from palaute_runtime.outbox import Inbox
from palaute_runtime.retention import purge_inbox, report
from palaute_runtime.sealed import unseal
from palaute_runtime.unit_of_work import uow
from palaute_schemas import (
    ACCESS_REPORTED,
    ERASURE_COMPLETED,
    AccessReported,
    AccessRequested,
    ErasureCompleted,
    ErasureRequested,
)

log = structlog.get_logger("palaute.collector")

# How long the partner's message ids are remembered (its webhook retries within hours).
_REMEMBER_INBOUND = timedelta(days=7)


class PrivacyRequests:
    """Erasure and access requests, and retention."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._erasure_inbox = Inbox(inbox, "collector.erasure-requested", core.clock)
        self._access_inbox = Inbox(inbox, "collector.access-requested", core.clock)

    def _refs_of(self, request: ErasureRequested | AccessRequested) -> list[str]:
        """The pseudonyms the collector may know an SMS number by (one per listed pepper)."""
        return self.core.settings.pseudonyms(request.phone) if request.phone else []

    async def handle_erasure_requests(self, batch: Sequence[ErasureRequested]) -> None:
        """Delete the person's invitations and tokens, named answers with their comments, and
        held SMS replies. The figures stay: they hold no person (anonymous answers never had a
        row to find)."""
        async with uow(self.core.engine, self.core.outbox, self._erasure_inbox, batch) as work:
            for request in work.fresh:
                erased = await self._erase(work.connection, request)
                await work.publish(
                    ERASURE_COMPLETED,
                    ErasureCompleted(
                        request_id=request.request_id, service="collector", erased=erased
                    ),
                )
        log.info("erasure_requests_done", requests=len(work.fresh))

    async def _erase(
        self, connection: AsyncConnection, request: ErasureRequested
    ) -> dict[str, int]:
        """Erase one person; rows per table."""
        refs = self._refs_of(request)
        return await InvitationStore(connection).erase(
            request.customer_id,
            refs,
            self.core.pseudonyms(request.customer_id, refs),
            self.core.clock.now(),
        )

    async def handle_access_requests(self, batch: Sequence[AccessRequested]) -> None:
        """Report the person's invitations, named answers (scores and comments) and held
        SMS replies (opened)."""
        async with uow(self.core.engine, self.core.outbox, self._access_inbox, batch) as work:
            for request in work.fresh:
                held = await self._held_by_collector(work.connection, request)
                await work.publish(
                    ACCESS_REPORTED,
                    AccessReported(request_id=request.request_id, service="collector", held=held),
                )
        log.info("access_requests_done", requests=len(work.fresh))

    async def _held_by_collector(
        self, connection: AsyncConnection, request: AccessRequested
    ) -> dict[str, list[dict[str, str | int | float | bool | None]]]:
        tables, held = await InvitationStore(connection).of_person(
            request.customer_id, self._refs_of(request)
        )
        key = self.core.settings.answer_seal_key
        return {
            **tables,
            "held_replies": [
                {
                    # The hour after it came; the exact time, sealed, replaces it.
                    "received_at": as_utc(row.received_at).isoformat(),
                    **(unseal(key, row.sealed, longest=SEALED_LENGTH) or {}),
                }
                for row in held
            ],
        }

    async def purge(self) -> dict[str, int]:
        """Forget what is no longer needed: invitations and their tokens
        PALAUTE_KEEP_INVITATIONS_DAYS after their survey closed; a named answer's link to
        its invitation and customer, and its comment, after PALAUTE_KEEP_RESPONSE_LINKS_MONTHS;
        held SMS replies past their hold; the partner's message ids after a week; consumed
        message ids. Logs the counts."""
        settings = self.core.settings
        now = self.core.clock.now()
        closed_before = now - timedelta(days=settings.keep_invitations_days)
        linked_before = now - timedelta(days=30 * settings.keep_response_links_months)
        async with self.core.engine.begin() as connection:
            counts = await InvitationStore(connection).purge(
                closed_before=closed_before,
                linked_before=linked_before,
                held_before=self.core.hold_cutoff(),
                inbound_before=now - _REMEMBER_INBOUND,
            )
            counts["inbox"] = await purge_inbox(connection, inbox, now)
        report("collector", counts)
        return counts
