"""Erasure and access requests as the service handles them: filed by the officer (consent's
part in the same transaction, the others' by message), the other services' answers, and
retention of what consent keeps. The SQL is in privacy.py, officers.py and plans.py."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import structlog

from palaute_consent import officers, privacy
from palaute_consent.bounces import BouncedAddresses
from palaute_consent.core import Core
from palaute_consent.opt_outs import OptOuts
from palaute_consent.plans import Plans
from palaute_consent.register import serialize_with_opt_outs
from palaute_consent.tables import inbox
from palaute_runtime.keys import Keyring
from palaute_runtime.outbox import Inbox
from palaute_runtime.retention import purge_inbox, report
from palaute_runtime.unit_of_work import uow
from palaute_schemas import (
    ACCESS_REQUESTED,
    ERASURE_REQUESTED,
    AccessReported,
    ErasureCompleted,
    ErasureRequested,
)

log = structlog.get_logger("palaute.consent")


class PrivacyRequests:
    """Files erasure and access requests and records the other services' answers."""

    def __init__(self, core: Core, opt_outs: OptOuts) -> None:
        self.core = core
        self.opt_outs = opt_outs
        self._erasure_inbox = Inbox(inbox, "consent.erasure-completed", core.clock)
        self._access_inbox = Inbox(inbox, "consent.access-reported", core.clock)

    async def file_privacy_request(
        self, kind: privacy.RequestKind, person: privacy.Person, *, reason: str, actor: str
    ) -> uuid.UUID:
        """File an erasure or access request: consent's part now, the others' by message."""
        core = self.core
        async with uow(core.engine, core.outbox) as work:
            connection = work.connection
            await serialize_with_opt_outs(connection, opting_out=True)
            register = core.register(connection)
            person = await privacy.with_known_customer(connection, person)
            if kind == "erasure":
                # First as an opt-out: surveys released to the person are withdrawn (one may
                # still be on its way to the dispatcher); the entries are then kept hashed.
                for entry_kind, value in person.identifiers():
                    await self.opt_outs.register_opt_out(
                        connection,
                        entry_kind,
                        value,
                        source="privacy_officer",
                        reason=f"erasure request: {reason.strip()}",
                        actor=actor,
                    )
            request_id, message = await privacy.file_request(
                connection, register, kind, person, reason=reason, actor=actor, now=core.clock.now()
            )
            if isinstance(message, ErasureRequested):
                await core.outbox.add(connection, ERASURE_REQUESTED, message)
            else:
                await core.outbox.add(connection, ACCESS_REQUESTED, message)
        log.info("privacy_request_filed", kind=kind, actor=actor)
        return request_id

    async def handle_erasures_completed(self, batch: Sequence[ErasureCompleted]) -> None:
        """The other services' answers to erasure requests."""
        async with uow(self.core.engine, self.core.outbox, self._erasure_inbox, batch) as work:
            for completed in work.fresh:
                await privacy.record_erasure(work.connection, completed)
        log.info("erasure_answers_recorded", answers=len(batch))

    async def handle_access_reports(self, batch: Sequence[AccessReported]) -> None:
        """The other services' parts of access documents."""
        async with uow(self.core.engine, self.core.outbox, self._access_inbox, batch) as work:
            for reported in work.fresh:
                await privacy.record_access(work.connection, reported, now=self.core.clock.now())
        log.info("access_parts_recorded", parts=len(batch))

    async def purge(self) -> dict[str, int]:
        """Forget decisions older than a replayed contact could still be surveyed (it is
        stale then), expired sessions, old access documents and consumed message ids. Logs
        the counts."""
        core = self.core
        now = core.clock.now()
        cutoff = now - timedelta(days=core.settings.max_contact_age_days + 7)
        async with core.engine.begin() as connection:
            counts = {
                "decisions": await Plans(connection).forget_decisions(cutoff),
                "officer_sessions": await officers.purge_sessions(connection, now=now),
                "access_parts": await privacy.purge(
                    connection, core.settings.keep_access_reports_days, now=now
                ),
                "inbox": await purge_inbox(connection, inbox, now),
                "bounced_addresses": await BouncedAddresses(
                    connection, Keyring.parse(core.settings.register_audit_key)
                ).purge(now, timedelta(days=core.settings.bounce_suppression_days)),
            }
        report("consent", counts)
        return counts
