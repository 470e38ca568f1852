"""Delivery reports that never came, asked for: Twilio posts a status callback once and never
again when it fails, so an SMS still without a report PALAUTE_DELIVERY_REPORT_WAIT_MINUTES
after it was sent is looked up (`GET Messages/{sid}`) and its final status recorded as a
report would be. Every PALAUTE_DELIVERY_REPORT_POLL_SECONDS, for a week after the send."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

import structlog

from palaute_dispatcher.core import Core
from palaute_dispatcher.receipts import Receipts
from palaute_dispatcher.repository import Invitations
from palaute_runtime.faults import DependencyUnavailable
from palaute_runtime.twilio import report_of

log = structlog.get_logger("palaute.dispatcher")

ASKED_FOR = timedelta(days=7)  # older than this, a missing report is no longer asked for
PER_ROUND = 200


class StatusSource(Protocol):
    """A provider that tells a message's status when asked (Twilio)."""

    async def status_of(self, sid: str) -> tuple[str, str] | None: ...


class MissingReports:
    """Asks the provider for the reports it did not send."""

    def __init__(self, core: Core, provider: StatusSource, receipts: Receipts) -> None:
        self.core, self.provider, self.receipts = core, provider, receipts

    async def ask(self) -> int:
        """One round: look up the SMS waiting too long for a report, outside any
        transaction, and record each final status; returns how many were recorded."""
        now = self.core.clock.now()
        waited = timedelta(minutes=self.core.settings.delivery_report_wait_minutes)
        async with self.core.engine.connect() as connection:
            sids = await Invitations(connection).awaiting_report(
                sent_before=now - waited,
                sent_after=now - ASKED_FOR,
                limit=PER_ROUND,
                provider="twilio",
            )
        recorded = 0
        for sid in sids:
            try:
                found = await self.provider.status_of(sid)
            except DependencyUnavailable as exc:
                log.warning("delivery_reports_unavailable", error=str(exc))
                break  # the provider cannot answer now: the next round asks again
            report = None if found is None else report_of(*found)
            if report is not None:
                recorded += await self.receipts.record_receipt(sid, *report) == "recorded"
        if sids:
            log.info("delivery_reports_asked_for", asked=len(sids), recorded=recorded)
        return recorded
