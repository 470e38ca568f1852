"""What became of a message the partner took: its delivery receipts, whose status moves
forward once from sent (a late, replayed or reordered receipt changes nothing)."""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa

from palaute_dispatcher.core import Core
from palaute_dispatcher.messages import delivery_of
from palaute_dispatcher.tables import invitations
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
            connection = work.connection
            row = (
                await connection.execute(
                    invitations.update()
                    .where(
                        invitations.c.partner_message_id == partner_message_id,
                        invitations.c.status == "sent",
                        invitations.c.delivery.is_(None),
                    )
                    .values(delivery=status, delivery_reason=reason[:200], delivery_reported_at=now)
                    .returning(*invitations.c)
                )
            ).first()
            if row is None:
                known = await connection.scalar(
                    sa.select(sa.func.count())
                    .select_from(invitations)
                    .where(invitations.c.partner_message_id == partner_message_id)
                )
                return "unchanged" if known else "unknown"
            if row.reminder_of is None:  # a reminder's receipt is kept, not published
                await work.publish(
                    DELIVERY_STATUS,
                    delivery_of(dict(row._mapping), status, reason, now),
                )
        INVITATIONS.labels(channel=row.channel, status=status).inc()
        return "recorded"
