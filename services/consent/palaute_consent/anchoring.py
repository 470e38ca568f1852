"""The audit chain's head, anchored outside consent's database on a schedule.

Whoever can write the database could delete the chain's newest rows and leave a chain that
still holds; an anchor (the head's id and hash, signed with the chain key) published on
`consent.audit-anchors.v1` and written to the log puts the head where that writer cannot
reach it. `palaute-consent optout verify` checks the chain against the newest anchor.
"""

from __future__ import annotations

import structlog

from palaute_consent import audit
from palaute_consent.core import Core
from palaute_runtime.metrics import AUDIT_CHAIN_HOLDS
from palaute_runtime.unit_of_work import uow
from palaute_schemas import AUDIT_ANCHORED, AuditAnchored

log = structlog.get_logger("palaute.consent")


class AuditAnchoring:
    """Publishes the chain's head when it has moved since the last anchor (at start once)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._last: tuple[int, str] | None = None

    async def anchor_and_check(self) -> AuditAnchored | None:
        """The scheduled round: anchor the head, then check the whole chain and record what
        the check found (the officer's overview shows the newest)."""
        anchored = await self.anchor_once()
        await self.check_once()
        return anchored

    async def check_once(self) -> audit.Verdict:
        """Verify the chain (keys and links; the anchors are `optout verify`'s) and record
        the result; a broken chain is logged as an error."""
        async with self.core.engine.begin() as connection:
            verdict = await audit.verify(connection, self.core.settings.chain_keys)
            if verdict.broken_at is None:
                differs = await self.core.register(connection).differences_said()
                if differs is not None:  # row 0: no row of the log, the register itself
                    log.error("register_differs_from_audit_log")
                    verdict = audit.Verdict(verdict.rows, 0, differs)
            await audit.record_check(connection, verdict, self.core.clock.now())
        AUDIT_CHAIN_HOLDS.set(verdict.broken_at is None)
        if verdict.broken_at is not None:
            log.error("audit_chain_broken", row=verdict.broken_at, why=verdict.why)
        return verdict

    async def anchor_once(self) -> AuditAnchored | None:
        """Anchor the head now, unless it is the one anchored last; returns the anchor. A
        chain that no longer holds the head this process anchored last is not anchored again
        (that would vouch for the loss): an error is logged, and verify names the row."""
        chain = self.core.settings.chain_keys
        async with uow(self.core.engine, self.core.outbox) as work:
            anchor = await audit.anchor(work.connection, chain, self.core.clock.now())
            if (anchor.head_id, anchor.head_hash) == self._last:
                return None
            if self._last is not None and not await audit.holds_anchor(
                work.connection, *self._last
            ):
                log.error("audit_chain_lost_its_anchor", anchored_head_id=self._last[0])
                return None
            await work.publish(AUDIT_ANCHORED, anchor)
            await audit.keep_anchor(work.connection, anchor)
        self._last = (anchor.head_id, anchor.head_hash)
        log.info(
            "audit_chain_anchored",
            head_id=anchor.head_id,
            head_hash=anchor.head_hash,
            rows=anchor.rows,
            key_id=anchor.key_id,
        )
        return anchor
