"""The dispatcher's part of the person's rights and of retention: erasure (with the
partner's deletion as a job after commit, deletions.py), access requests, and the scheduled
purge of what is no longer needed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import structlog

from palaute_dispatcher.core import Core
from palaute_dispatcher.deletion_jobs import Deletions
from palaute_dispatcher.deletions import PartnerDeletions
from palaute_dispatcher.deletions import completed as erasure_completed
from palaute_dispatcher.early_receipts import EarlyReceipts
from palaute_dispatcher.processors import Processors
from palaute_dispatcher.receipts import EARLY_RECEIPTS_KEPT
from palaute_dispatcher.repository import Invitations
from palaute_dispatcher.tables import inbox
from palaute_runtime.outbox import Inbox
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

    def __init__(
        self, core: Core, deletions: PartnerDeletions | None, processors: Processors | None = None
    ) -> None:
        self.core = core
        self.deletions = deletions
        self.processors = deletions.processor if deletions is not None else processors
        self._erasure_inbox = Inbox(inbox, "dispatcher.erasure-requested", core.clock)
        self._access_inbox = Inbox(inbox, "dispatcher.access-requested", core.clock)

    async def handle_erasure_requests(self, batch: Sequence[ErasureRequested]) -> None:
        """Delete every invitation and reminder to the person, with its address, and leave
        the partner's deletion of every address they were sent to as a job for after commit
        (its answer completes the erasure); without one, report the counts at once."""
        async with uow(self.core.engine, self.core.outbox, self._erasure_inbox, batch) as work:
            for request in work.fresh:
                given = (request.phone, request.email)
                held, count = await Invitations(work.connection).erase(request.customer_id, given)
                addresses = {*held, *(a for a in given if a)}
                erased = {"invitations": count}
                if addresses and self.deletions is not None:
                    await Deletions(work.connection).add(
                        self.core.clock.now(), sorted(addresses), request.request_id, erased
                    )
                else:
                    await work.publish(
                        ERASURE_COMPLETED,
                        erasure_completed(
                            request.request_id,
                            erased,
                            partner_deleted=None,
                            processors=self.processors,
                        ),
                    )
        if self.deletions is not None:
            self.deletions.due.set()
        log.info("erasure_requests_done", requests=len(work.fresh))

    async def handle_access_requests(self, batch: Sequence[AccessRequested]) -> None:
        """Report every invitation and reminder to the person (token hashes left out)."""
        async with uow(self.core.engine, self.core.outbox, self._access_inbox, batch) as work:
            connection, fresh = work.connection, work.fresh
            for request in fresh:
                held = await Invitations(connection).of_person(
                    request.customer_id, (request.phone, request.email)
                )
                await work.publish(
                    ACCESS_REPORTED,
                    AccessReported(
                        request_id=request.request_id,
                        service="dispatcher",
                        held={"invitations": held},
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
            counts = await Invitations(connection).purge(cutoff, oldest_survey)
            counts["early_receipts"] = await EarlyReceipts(connection).purge(
                self.core.clock.now() - EARLY_RECEIPTS_KEPT
            )
            counts["inbox"] = await purge_inbox(connection, inbox, self.core.clock.now())
        report("dispatcher", counts)
        return counts
