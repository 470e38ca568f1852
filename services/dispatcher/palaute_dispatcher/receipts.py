"""What became of a message the partner took: its delivery receipts, whose status moves
forward once from sent (a late, replayed or reordered receipt changes nothing). A receipt
for a sid not stored yet (the provider called before we read its answer) is held and applied
when the round that sent it is recorded (apply_held_receipts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal, cast

from palaute_dispatcher.core import Core
from palaute_dispatcher.early_receipts import EarlyReceipts
from palaute_dispatcher.messages import delivery_of
from palaute_dispatcher.repository import Invitations
from palaute_runtime.metrics import INVITATIONS
from palaute_runtime.unit_of_work import UnitOfWork, uow
from palaute_schemas import DELIVERY_STATUS, DeliveryStatus, Message

# An early receipt no sent message claimed within this long is forgotten.
EARLY_RECEIPTS_KEPT = timedelta(days=1)


class Receipts:
    """Records the partner's delivery receipts."""

    def __init__(self, core: Core) -> None:
        self.core = core

    async def record_receipt(
        self, partner_message_id: str, status: DeliveryStatus, reason: str
    ) -> Literal["recorded", "unchanged", "held"]:
        """The partner's delivery receipt for a message it took. The status moves forward
        once, from sent; a late or replayed receipt changes nothing; one for a sid we have
        not stored yet is held for the round that sent it."""
        now = self.core.clock.now()
        async with uow(self.core.engine, self.core.outbox) as work:
            outcome = await apply_receipt(work, partner_message_id, status, reason, now)
            if outcome == "unknown":
                await EarlyReceipts(work.connection).hold(partner_message_id, status, reason, now)
                return "held"
        return outcome


async def apply_receipt(
    work: UnitOfWork[Message],
    partner_message_id: str,
    status: DeliveryStatus,
    reason: str,
    now: datetime,
) -> Literal["recorded", "unchanged", "unknown"]:
    """Move one invitation's delivery forward once, in the caller's transaction, and announce
    it (a reminder's is kept, not published)."""
    row = await Invitations(work.connection).receipt(partner_message_id, status, reason, now)
    if isinstance(row, bool):
        return "unchanged" if row else "unknown"
    if row.reminder_of is None:
        await work.publish(DELIVERY_STATUS, delivery_of(dict(row._mapping), status, reason, now))
    INVITATIONS.labels(channel=row.channel, status=status).inc()
    return "recorded"


async def apply_held_receipts(
    work: UnitOfWork[Message], partner_message_ids: Sequence[str], now: datetime
) -> int:
    """Apply, in the transaction that stores these sids, the receipts that came first."""
    applied = 0
    for sid, status, reason in await EarlyReceipts(work.connection).claim(partner_message_ids):
        kept = cast(DeliveryStatus, status)  # as record_receipt held it
        applied += await apply_receipt(work, sid, kept, reason, now) == "recorded"
    return applied
