"""What happens to a SurveyRequested event: a pending invitation, then one delivery.

The consumer only records the invitation as pending; the delivery loop hands pending
invitations to the partner with the invitation id as idempotency key, so a partner outage
or a restart delays an invitation but never drops or doubles it.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_dispatcher.content_policy import ContentPolicyViolation, enforce
from palaute_dispatcher.partner import (
    HttpSmsPartner,
    Outgoing,
    Partner,
    PartnerError,
    SmtpEmailPartner,
)
from palaute_dispatcher.settings import DispatcherSettings
from palaute_dispatcher.tables import MIGRATIONS, inbox, invitations, outbox
from palaute_dispatcher.templates import render, survey_url
from palaute_dispatcher.tokens import issue_token
from palaute_runtime.database import as_utc, create_engine
from palaute_runtime.messaging import Handler, Inbox, Outbox, OutboxRelay, consume, create_broker
from palaute_runtime.service import ServiceRuntime, run_when_woken
from palaute_schemas import INVITATION_SENT, SURVEY_REQUESTED, InvitationSent, SurveyRequested
from palaute_schemas.identifiers import recipient_ref

log = structlog.get_logger("palaute.dispatcher")

# SurveyRequested fields the invitation keeps as they are.
_COPIED_FROM_REQUEST = {
    "channel",
    "address",
    "language",
    "contact_channel",
    "unit",
    "contact_day",
    "anonymous",
    "customer_id",
}

CLAIM_SECONDS = 60  # how long one delivery attempt holds an invitation


class DispatcherService:
    """Records requested invitations and delivers them through the partner."""

    def __init__(
        self, engine: AsyncEngine, settings: DispatcherSettings, partners: dict[str, Partner]
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.partners = partners
        self.outbox = Outbox(outbox)
        self.due = asyncio.Event()
        self._inbox = Inbox(inbox, "dispatcher.survey-requested")

    async def handle_survey_requested(self, request: SurveyRequested) -> None:
        """Record one pending invitation per request (a redelivered request adds nothing)."""
        now = datetime.now(UTC)
        async with self.engine.begin() as connection:
            if not await self._inbox.first_delivery(connection, request.event_id):
                log.info("survey_requested_redelivered", event_id=str(request.event_id))
                return
            await connection.execute(
                invitations.insert().values(
                    id=uuid.uuid4(),
                    request_event_id=request.event_id,
                    **request.model_dump(include=_COPIED_FROM_REQUEST),
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    token_hashes=[],
                    created_at=now,
                    expires_at=now + timedelta(days=self.settings.invitation_valid_days),
                )
            )
        self.due.set()
        log.info("invitation_pending", event_id=str(request.event_id), channel=request.channel)

    async def deliver_due(self, limit: int = 200) -> int:
        """Try every pending invitation whose time has come; returns how many were tried."""
        now = datetime.now(UTC)
        async with self.engine.connect() as connection:
            rows = (
                await connection.execute(
                    sa.select(invitations)
                    .where(invitations.c.status == "pending", invitations.c.next_attempt_at <= now)
                    .order_by(invitations.c.next_attempt_at)
                    .limit(limit)
                )
            ).all()
        if not rows:
            return 0
        gate = asyncio.Semaphore(self.settings.delivery_concurrency)

        async def attempt(row: Row[tuple[object, ...]]) -> None:
            async with gate:
                await self._deliver(row)

        results = await asyncio.gather(*(attempt(row) for row in rows), return_exceptions=True)
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, Exception):
                # Claimed, so retried after the claim expires; the others went on regardless.
                log.error(
                    "delivery_attempt_failed",
                    invitation_id=str(row.id),
                    error=type(result).__name__,
                )
        return len(rows)

    async def _deliver(self, row: Row[tuple[object, ...]]) -> None:
        invitation = row._mapping
        token: str | None = None
        token_hashes: list[str] = list(invitation["token_hashes"])
        if invitation["channel"] == "email":
            token, token_hash = issue_token()
            token_hashes.append(token_hash)
        # Pending-before-call: the claim (and the token's hash) is stored before the partner
        # sees anything; a claim lost to another worker means that worker delivers it.
        async with self.engine.begin() as connection:
            claimed = await connection.execute(
                invitations.update()
                .where(
                    invitations.c.id == invitation["id"],
                    invitations.c.status == "pending",
                    invitations.c.next_attempt_at == invitation["next_attempt_at"],
                )
                .values(
                    next_attempt_at=datetime.now(UTC) + timedelta(seconds=CLAIM_SECONDS),
                    token_hashes=token_hashes,
                )
            )
        if claimed.rowcount != 1:
            return
        origin = self.settings.survey_origin
        message = render(
            invitation["channel"],
            invitation["language"],
            organization=self.settings.organization_name,
            survey_url=survey_url(origin, token) if token else None,
            valid_days=self.settings.invitation_valid_days,
        )
        try:
            enforce(message, allow_links_to=origin if token else None)
        except ContentPolicyViolation as exc:
            # Settings feed the text (organization name, origin): never send, never retry.
            await self._record_failure(
                invitation["id"],
                invitation["attempts"] + 1,
                f"content policy: {exc}",
                transient=False,
            )
            return
        outgoing = Outgoing(
            address=invitation["address"],
            subject=message.subject,
            text=message.text,
            idempotency_key=str(invitation["id"]),
        )
        try:
            partner_id = await self.partners[invitation["channel"]].send(outgoing)
        except PartnerError as exc:
            await self._record_failure(
                invitation["id"],
                invitation["attempts"] + 1,
                str(exc),
                transient=exc.transient,
                retry_after=exc.retry_after,
            )
            return
        await self._record_sent(invitation, token_hashes, partner_id)

    async def _record_sent(
        self, invitation: sa.RowMapping, token_hashes: list[str], partner_id: str
    ) -> None:
        now = datetime.now(UTC)
        channel = invitation["channel"]
        sent = InvitationSent(
            invitation_id=invitation["id"],
            channel=channel,
            language=invitation["language"],
            contact_channel=invitation["contact_channel"],
            unit=invitation["unit"],
            contact_day=invitation["contact_day"],
            anonymous=invitation["anonymous"],
            customer_id=None if invitation["anonymous"] else invitation["customer_id"],
            token_hashes=token_hashes,
            recipient_ref=(
                recipient_ref(self.settings.recipient_pepper, invitation["address"])
                if channel == "sms"
                else None
            ),
            expires_at=as_utc(invitation["expires_at"]),
        )
        async with self.engine.begin() as connection:
            await connection.execute(
                invitations.update()
                .where(invitations.c.id == invitation["id"])
                .values(
                    status="sent",
                    sent_at=now,
                    partner_message_id=partner_id,
                    attempts=invitation["attempts"] + 1,
                )
            )
            await self.outbox.add(connection, INVITATION_SENT, sent)
        self.outbox.committed()
        log.info("invitation_sent", invitation_id=str(invitation["id"]), channel=channel)

    async def _record_failure(
        self,
        invitation_id: uuid.UUID,
        attempts: int,
        error: str,
        *,
        transient: bool,
        retry_after: float | None = None,
    ) -> None:
        give_up = not transient or attempts >= self.settings.delivery_max_attempts
        # Exponential backoff with full jitter, capped at ten minutes; Retry-After wins.
        delay = retry_after or random.uniform(0, min(600.0, 2.0**attempts))
        async with self.engine.begin() as connection:
            await connection.execute(
                invitations.update()
                .where(invitations.c.id == invitation_id)
                .values(
                    status="failed" if give_up else "pending",
                    attempts=attempts,
                    last_error=error[:500],
                    next_attempt_at=datetime.now(UTC) + timedelta(seconds=delay),
                )
            )
        log.warning(
            "invitation_not_delivered",
            invitation_id=str(invitation_id),
            attempts=attempts,
            error=error,
            gave_up=give_up,
        )

    async def run_delivery(self, poll_seconds: float = 0.5) -> None:
        """Deliver until cancelled; wakes when a request arrives or every poll interval."""
        await run_when_woken(self.deliver_due, self.due, poll_seconds=poll_seconds, name="delivery")


def build(settings: DispatcherSettings) -> tuple[ServiceRuntime, DispatcherService]:
    """Wire the dispatcher: database, partner adapters, consumer, delivery loop, relay."""
    engine = create_engine(settings.database_url)
    sms = HttpSmsPartner(settings.partner_sms_url, settings.partner_api_key, settings.sms_sender)
    email = SmtpEmailPartner(
        settings.partner_smtp_host, settings.partner_smtp_port, settings.email_sender
    )
    service = DispatcherService(engine, settings, {"sms": sms, "email": email})
    broker = create_broker(settings, client_id="palaute-dispatcher")
    consume(
        broker,
        Handler(SURVEY_REQUESTED, service.handle_survey_requested),
        group_id="palaute-dispatcher",
        settings=settings,
    )
    relay = OutboxRelay(engine, service.outbox, outbox, broker)
    runtime = ServiceRuntime(
        "dispatcher",
        engine=engine,
        migrations=MIGRATIONS,
        broker=broker,
        loops=[relay.run, service.run_delivery],
        closers=[sms.close],
    )
    return runtime, service
