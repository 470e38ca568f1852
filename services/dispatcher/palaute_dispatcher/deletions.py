"""The partner's deletion on instruction, as a job worked off after commit.

An erasure deletes the dispatcher's own rows in one transaction and leaves a job with every
address the partner may hold for the person (from the request and from the invitations and
reminders it deleted). The worker calls the partner's deletion API with no transaction open,
retries through an outage with backoff, and reports the outcome in `ErasureCompleted`: a
confirmation, or a permanent refusal with the partner's reason, never a dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_dispatcher.deletion_jobs import Deletions
from palaute_dispatcher.partner import DataProcessor, PartnerError
from palaute_dispatcher.processors import Processors
from palaute_dispatcher.settings import DispatcherSettings
from palaute_runtime.clock import Clock
from palaute_runtime.faults import DependencyUnavailable
from palaute_runtime.outbox import Outbox
from palaute_runtime.unit_of_work import uow
from palaute_schemas import ERASURE_COMPLETED, ErasureCompleted

log = structlog.get_logger("palaute.dispatcher")

# The partner's deletion API takes this many addresses a call; deleting is idempotent, so a
# job that fails part-way is simply instructed again whole.
ADDRESSES_PER_CALL = 10


@dataclass(frozen=True)
class DeletionJob:
    """One instruction for the partner, as claimed by a worker."""

    id: uuid.UUID
    request_id: uuid.UUID | None
    addresses: list[str]
    erased: dict[str, int]
    attempts: int


def completed(
    request_id: uuid.UUID,
    erased: dict[str, int],
    *,
    partner_deleted: bool | None,
    reason: str | None = None,
    processors: Processors | None = None,
) -> ErasureCompleted:
    """The dispatcher's answer to an erasure request, with each processor's story."""
    reason = reason[:200] if reason else None
    return ErasureCompleted(
        request_id=request_id,
        service="dispatcher",
        erased=erased,
        partner_deleted=partner_deleted,
        partner_reason=reason,
        processors=processors.story(deleted=partner_deleted, reason=reason)
        if processors is not None
        else {},
    )


class PartnerDeletions:
    """Works off the deletion jobs: claim, call the partner outside any transaction, then
    finish (report) or reschedule the job."""

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Outbox,
        processor: DataProcessor | Processors,
        settings: DispatcherSettings,
        clock: Clock,
    ) -> None:
        self.engine = engine
        self.outbox = outbox
        # Every processor asked in turn (a lone partner is one).
        self.processor = (
            processor if isinstance(processor, Processors) else Processors({"sms": processor})
        )
        self.settings = settings
        self.clock = clock
        self.due = asyncio.Event()

    async def _claim(self, limit: int) -> list[DeletionJob]:
        """Take the due jobs for one claim period (a worker killed mid-call leaves them to
        be taken again when it ends; replicas never take the same job at once)."""
        async with self.engine.begin() as connection:
            rows = await Deletions(connection).claim_due(
                self.clock.now(), limit, self.settings.claim_seconds
            )
        return [
            DeletionJob(row.id, row.request_id, list(row.addresses), dict(row.erased), row.attempts)
            for row in rows
        ]

    async def work_off(self, limit: int = 20) -> int:
        """Instruct the partner for every due job; returns how many were finished."""
        finished = 0
        for job in await self._claim(limit):
            try:
                for first in range(0, len(job.addresses), ADDRESSES_PER_CALL):
                    await self.processor.delete_data(
                        job.addresses[first : first + ADDRESSES_PER_CALL]
                    )
            except DependencyUnavailable as exc:
                await self._retry_later(job, str(exc))
                continue
            except PartnerError as exc:
                await self._finish(job, deleted=False, reason=str(exc))
            else:
                await self._finish(job, deleted=True)
            finished += 1
        return finished

    async def _finish(self, job: DeletionJob, *, deleted: bool, reason: str | None = None) -> None:
        async with uow(self.engine, self.outbox) as work:
            await Deletions(work.connection).done(job.id)
            if job.request_id is not None:
                await work.publish(
                    ERASURE_COMPLETED,
                    completed(
                        job.request_id,
                        job.erased,
                        partner_deleted=deleted,
                        reason=reason,
                        processors=self.processor,
                    ),
                )
        if deleted:
            log.info("partner_deletion_done", addresses=len(job.addresses))
        else:
            log.error("partner_deletion_refused", error=reason, addresses=len(job.addresses))

    async def _retry_later(self, job: DeletionJob, error: str) -> None:
        wait = min(
            self.settings.partner_deletion_retry_seconds * 2**job.attempts,
            self.settings.partner_deletion_longest_retry_seconds,
        )
        async with self.engine.begin() as connection:
            await Deletions(connection).retry_at(
                job.id, job.attempts + 1, self.clock.now() + timedelta(seconds=wait), error
            )
        log.warning("partner_deletion_retrying", error=error, attempts=job.attempts + 1)

    async def run(self, poll_seconds: float = 1.0) -> None:
        """Work off jobs until cancelled: when an erasure leaves one, and every poll."""
        while True:
            self.due.clear()
            try:
                if await self.work_off(limit=20) == 20:
                    continue  # more may be due at once
            except Exception as exc:
                log.error("loop_step_failed", loop="partner_deletions", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.due.wait(), poll_seconds)
