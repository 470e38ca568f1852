"""The repository of delivery reports that came before their message's sid was stored: a
provider may call before we have read its answer to the send (Twilio does, and never calls
again), so such a report is kept and applied when the round that sent it is recorded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_dispatcher.tables import early_receipts
from palaute_runtime.database import rowcount


class EarlyReceipts:
    """Reports waiting for their sid, one per sid (the first final report wins)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def hold(self, partner_message_id: str, status: str, reason: str, now: datetime) -> None:
        """Keep a report for a sid we do not know (yet); a second one changes nothing."""
        exists = await self.connection.scalar(
            sa.select(sa.func.count())
            .select_from(early_receipts)
            .where(early_receipts.c.partner_message_id == partner_message_id)
        )
        if not exists:
            await self.connection.execute(
                early_receipts.insert().values(
                    partner_message_id=partner_message_id,
                    status=status,
                    reason=reason[:200],
                    received_at=now,
                )
            )

    async def claim(self, partner_message_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """Take the reports held for these sids: (sid, status, reason) each."""
        if not partner_message_ids:
            return []
        chosen = early_receipts.c.partner_message_id.in_(partner_message_ids)
        rows = (
            await self.connection.execute(
                sa.select(
                    early_receipts.c.partner_message_id,
                    early_receipts.c.status,
                    early_receipts.c.reason,
                ).where(chosen)
            )
        ).all()
        if rows:
            await self.connection.execute(early_receipts.delete().where(chosen))
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def purge(self, before: datetime) -> int:
        """Forget reports no sent message claimed (not ours after all, or long gone)."""
        gone = await self.connection.execute(
            early_receipts.delete().where(early_receipts.c.received_at < before)
        )
        return rowcount(gone)
