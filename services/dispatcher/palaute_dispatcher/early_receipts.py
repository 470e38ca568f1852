"""The repository of delivery reports that came before their message's sid was stored: a
provider may call before we have read its answer to the send (Twilio does, and never calls
again), so such a report is kept and applied when the round that sent it is recorded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_dispatcher.tables import early_receipts
from palaute_runtime.database import rowcount, upsert


class EarlyReceipts:
    """Reports waiting for their sid, one per sid (the first final report wins)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def hold(self, partner_message_id: str, status: str, reason: str, now: datetime) -> None:
        """Keep a report for a sid we do not know (yet); a second one changes nothing (two
        replicas taking the same report never collide)."""
        await self.connection.execute(
            upsert(self.connection, early_receipts)
            .values(
                partner_message_id=partner_message_id,
                status=status,
                reason=reason[:200],
                received_at=now,
            )
            .on_conflict_do_nothing(index_elements=[early_receipts.c.partner_message_id])
        )

    async def claim(self, partner_message_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """Take the reports held for these sids: (sid, status, reason) each."""
        if not partner_message_ids:
            return []
        rows = await self.connection.execute(
            early_receipts.delete()
            .where(early_receipts.c.partner_message_id.in_(partner_message_ids))
            .returning(
                early_receipts.c.partner_message_id,
                early_receipts.c.status,
                early_receipts.c.reason,
            )
        )
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def purge(self, before: datetime) -> int:
        """Forget reports no sent message claimed (not ours after all, or long gone)."""
        gone = await self.connection.execute(
            early_receipts.delete().where(early_receipts.c.received_at < before)
        )
        return rowcount(gone)
