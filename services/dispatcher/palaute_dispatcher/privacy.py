"""The dispatcher's part of the person's rights and of retention: erasure (with the
partner's deletion as a job after commit, deletions.py), access requests, and the scheduled
purge of what is no longer needed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
import structlog

from palaute_dispatcher.core import Core
from palaute_dispatcher.deletions import PartnerDeletions
from palaute_dispatcher.deletions import completed as erasure_completed
from palaute_dispatcher.deletions import schedule as schedule_deletion
from palaute_dispatcher.tables import inbox, invitations, withdrawals
from palaute_runtime.messaging import Inbox
from palaute_runtime.privacy import table_rows
from palaute_runtime.retention import purge_inbox, report
from palaute_runtime.unit_of_work import uow
from palaute_schemas import (
    ACCESS_REPORTED,
    ERASURE_COMPLETED,
    AccessReported,
    AccessRequested,
    ErasureRequested,
)

log = structlog.get_logger("palaute.dispatcher")


class PrivacyRequests:
    """Erasure and access requests, and retention."""

    def __init__(self, core: Core, deletions: PartnerDeletions | None) -> None:
        self.core = core
        self.deletions = deletions
        self._erasure_inbox = Inbox(inbox, "dispatcher.erasure-requested", core.clock)
        self._access_inbox = Inbox(inbox, "dispatcher.access-requested", core.clock)

    @staticmethod
    def _of_person(request: ErasureRequested | AccessRequested) -> sa.ColumnElement[bool]:
        """The invitations (and reminders) to this person: by address or customer id."""
        conditions = [
            sa.func.lower(invitations.c.address) == address.lower()
            for address in (request.phone, request.email)
            if address
        ]
        if request.customer_id:
            conditions.append(invitations.c.customer_id == request.customer_id)
        return sa.or_(*conditions)

    async def handle_erasure_requests(self, batch: Sequence[ErasureRequested]) -> None:
        """Delete every invitation and reminder to the person, with its address, and leave
        the partner's deletion of every address they were sent to as a job for after commit
        (its answer completes the erasure); without one, report the counts at once."""
        async with uow(self.core.engine, self.core.outbox, self._erasure_inbox, batch) as work:
            for request in work.fresh:
                held = await work.connection.scalars(
                    sa.select(invitations.c.address).where(self._of_person(request))
                )
                addresses = {*held, *(a for a in (request.phone, request.email) if a)}
                gone = await work.connection.execute(
                    invitations.delete().where(self._of_person(request))
                )
                erased = {"invitations": int(gone.rowcount or 0)}
                if addresses and self.deletions is not None:
                    await schedule_deletion(
                        work.connection,
                        self.core.clock.now(),
                        sorted(addresses),
                        request_id=request.request_id,
                        erased=erased,
                    )
                else:
                    await work.publish(
                        ERASURE_COMPLETED,
                        erasure_completed(request.request_id, erased, partner_deleted=None),
                    )
        if self.deletions is not None:
            self.deletions.due.set()
        log.info("erasure_requests_done", requests=len(work.fresh))

    async def handle_access_requests(self, batch: Sequence[AccessRequested]) -> None:
        """Report every invitation and reminder to the person (token hashes left out)."""
        async with uow(self.core.engine, self.core.outbox, self._access_inbox, batch) as work:
            connection, fresh = work.connection, work.fresh
            for request in fresh:
                rows = await connection.execute(
                    sa.select(invitations)
                    .where(self._of_person(request))
                    .order_by(invitations.c.created_at)
                )
                await work.publish(
                    ACCESS_REPORTED,
                    AccessReported(
                        request_id=request.request_id,
                        service="dispatcher",
                        held={"invitations": table_rows(rows, leave_out=["token_hashes"])},
                    ),
                )
        log.info("access_requests_done", requests=len(fresh))

    async def purge(self) -> dict[str, int]:
        """Forget what is no longer needed: invitations (with their addresses) and reminders
        PALAUTE_KEEP_ADDRESSES_DAYS after their survey closed, withdrawals as old, consumed
        message ids. Logs the counts."""
        cutoff = self.core.clock.now() - timedelta(days=self.core.settings.keep_addresses_days)
        oldest_survey = cutoff - timedelta(days=self.core.settings.invitation_valid_days)
        async with self.core.engine.begin() as connection:
            gone = await connection.execute(
                invitations.delete().where(
                    invitations.c.expires_at < cutoff, invitations.c.status != "pending"
                )
            )
            forgotten = await connection.execute(
                withdrawals.delete().where(withdrawals.c.withdrawn_at < oldest_survey)
            )
            counts = {
                "invitations": int(gone.rowcount or 0),
                "withdrawals": int(forgotten.rowcount or 0),
                "inbox": await purge_inbox(connection, inbox, self.core.clock.now()),
            }
        report("dispatcher", counts)
        return counts
