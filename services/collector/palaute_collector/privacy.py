"""The collector's part of the person's rights and of retention: erasure and access requests
(by customer id or SMS number), and the scheduled purge of what is no longer needed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_collector.core import Core
from palaute_collector.tables import (
    erased_people,
    held_replies,
    inbound_messages,
    inbox,
    invitation_tokens,
    invitations,
    responses,
)
from palaute_runtime.database import as_utc, insert_ignoring_conflicts
from palaute_runtime.messaging import Inbox
from palaute_runtime.privacy import table_rows
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
    recipient_ref,
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

    def _ref_of(self, request: ErasureRequested | AccessRequested) -> str | None:
        """The pseudonym the collector knows an SMS number by."""
        pepper = self.core.settings.recipient_pepper
        return recipient_ref(pepper, request.phone) if request.phone else None

    async def _invitations_of(
        self, connection: AsyncConnection, request: ErasureRequested | AccessRequested
    ) -> list[uuid.UUID]:
        """The invitations to the person: by customer id (named surveys) or SMS number."""
        conditions = []
        if request.customer_id:
            conditions.append(invitations.c.customer_id == request.customer_id)
        ref = self._ref_of(request)
        if ref:
            conditions.append(invitations.c.recipient_ref == ref)
        if not conditions:
            return []
        return list(
            await connection.scalars(sa.select(invitations.c.id).where(sa.or_(*conditions)))
        )

    @staticmethod
    def _responses_of(
        request: ErasureRequested | AccessRequested, ids: list[uuid.UUID]
    ) -> sa.ColumnElement[bool]:
        conditions: list[sa.ColumnElement[bool]] = [responses.c.invitation_id.in_(ids)]
        if request.customer_id:
            conditions.append(responses.c.customer_id == request.customer_id)
        return sa.or_(*conditions)

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
        remembered = [
            {"pseudonym": p, "erased_at": self.core.clock.now()}
            for p in self.core.pseudonyms(request.customer_id, self._ref_of(request))
        ]
        if remembered:
            await connection.execute(
                insert_ignoring_conflicts(connection, erased_people), remembered
            )
        ids = await self._invitations_of(connection, request)
        statements = {
            "responses": responses.delete().where(self._responses_of(request, ids)),
            "tokens": invitation_tokens.delete().where(invitation_tokens.c.invitation_id.in_(ids)),
            "invitations": invitations.delete().where(invitations.c.id.in_(ids)),
            "held_replies": held_replies.delete().where(
                held_replies.c.recipient_ref == self._ref_of(request)
            ),
        }
        return {
            name: int((await connection.execute(statement)).rowcount or 0)
            for name, statement in statements.items()
        }

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
        ids = await self._invitations_of(connection, request)
        held = await connection.execute(
            sa.select(held_replies).where(held_replies.c.recipient_ref == self._ref_of(request))
        )
        return {
            "invitations": table_rows(
                await connection.execute(sa.select(invitations).where(invitations.c.id.in_(ids)))
            ),
            "responses": table_rows(
                await connection.execute(
                    sa.select(responses).where(self._responses_of(request, ids))
                )
            ),
            "held_replies": [
                {
                    "received_at": as_utc(row.received_at).isoformat(),
                    **(unseal(self.core.settings.answer_seal_key, row.sealed) or {}),
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
        old = sa.select(invitations.c.id).where(invitations.c.expires_at < closed_before)
        statements = {
            "invitations": invitations.delete().where(invitations.c.expires_at < closed_before),
            "tokens": invitation_tokens.delete().where(invitation_tokens.c.invitation_id.in_(old)),
            "response_links": responses.update()
            .where(responses.c.answered_at < linked_before)
            .values(invitation_id=None, customer_id=None, answered_at=None, comment=""),
            "held_replies": held_replies.delete().where(
                held_replies.c.received_at < self.core.hold_cutoff()
            ),
            "inbound_ids": inbound_messages.delete().where(
                inbound_messages.c.received_at < now - _REMEMBER_INBOUND
            ),
            "erased_people": erased_people.delete().where(
                erased_people.c.erased_at < closed_before
            ),
        }
        async with self.core.engine.begin() as connection:
            # Tokens first: they are found through the invitations the next step deletes.
            counts = {
                "tokens": int((await connection.execute(statements.pop("tokens"))).rowcount or 0)
            }
            for name, statement in statements.items():
                counts[name] = int((await connection.execute(statement)).rowcount or 0)
            counts["inbox"] = await purge_inbox(connection, inbox, now)
        report("collector", counts)
        return counts
