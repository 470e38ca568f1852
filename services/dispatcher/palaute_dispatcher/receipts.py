"""What became of a message the partner took: its delivery receipts, whose status moves
forward once from sent (a late, replayed or reordered receipt changes nothing)."""

from __future__ import annotations

from typing import Literal

from palaute_dispatcher.core import Core
from palaute_dispatcher.messages import delivery_of
from palaute_dispatcher.repository import Invitations
from palaute_runtime.metrics import INVITATIONS
from palaute_runtime.unit_of_work import uow
from palaute_schemas import DELIVERY_STATUS, DeliveryStatus


class Receipts:
    """Records the partner's delivery receipts."""

    def __init__(self, core: Core) -> None:
        self.core = core

    async def record_receipt(
        self, partner_message_id: str, status: DeliveryStatus, reason: str
    ) -> Literal["recorded", "unchanged", "unknown"]:
        """The partner's delivery receipt for a message it took. The status moves forward
        once, from sent; a late or replayed receipt changes nothing."""
        now = self.core.clock.now()
        async with uow(self.core.engine, self.core.outbox) as work:
            row = await Invitations(work.connection).receipt(
                partner_message_id, status, reason, now
            )
            if isinstance(row, bool):
                return "unchanged" if row else "unknown"
            if row.reminder_of is None:  # a reminder's receipt is kept, not published
                await work.publish(
                    DELIVERY_STATUS,
                    delivery_of(dict(row._mapping), status, reason, now),
                )
        INVITATIONS.labels(channel=row.channel, status=status).inc()
        return "recorded"
