"""The partner deletion jobs an erasure leaves (deletions.py works them off): every
statement on their table, inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_dispatcher.tables import partner_deletions
from palaute_runtime.database import Row


class Deletions:
    """The partner deletion jobs in one transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add(
        self,
        now: datetime,
        addresses: Sequence[str],
        request_id: uuid.UUID | None,
        erased: dict[str, int] | None,
    ) -> None:
        await self.connection.execute(
            partner_deletions.insert().values(
                id=uuid.uuid4(),
                request_id=request_id,
                addresses=sorted(set(addresses)),
                erased=erased or {},
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )

    async def claim_due(self, now: datetime, limit: int, claim_seconds: float) -> list[Row]:
        """Take the due jobs for one claim period; a job another replica took at the same
        moment is left to it."""
        rows = (
            await self.connection.execute(
                sa.select(partner_deletions)
                .where(partner_deletions.c.next_attempt_at <= now)
                .order_by(partner_deletions.c.next_attempt_at)
                .limit(limit)
            )
        ).all()
        claimed = []
        for row in rows:
            taken = await self.connection.execute(
                partner_deletions.update()
                .where(
                    partner_deletions.c.id == row.id,
                    partner_deletions.c.next_attempt_at == row.next_attempt_at,
                )
                .values(next_attempt_at=now + timedelta(seconds=claim_seconds))
            )
            if taken.rowcount == 1:
                claimed.append(row)
        return claimed

    async def done(self, job_id: uuid.UUID) -> None:
        await self.connection.execute(
            partner_deletions.delete().where(partner_deletions.c.id == job_id)
        )

    async def retry_at(self, job_id: uuid.UUID, attempts: int, at: datetime, error: str) -> None:
        await self.connection.execute(
            partner_deletions.update()
            .where(partner_deletions.c.id == job_id)
            .values(attempts=attempts, next_attempt_at=at, last_error=error[:200])
        )
