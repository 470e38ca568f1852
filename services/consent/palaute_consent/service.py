"""What happens to a ContactClosed event, and to an OptOutRequested one; the composition root."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_consent.register import EntryKind, OptOutRegister
from palaute_consent.rules import Survey, decide, outcome_message
from palaute_consent.settings import ConsentSettings
from palaute_consent.tables import MIGRATIONS, decisions, inbox, outbox
from palaute_runtime.database import create_engine
from palaute_runtime.messaging import Handler, Inbox, Outbox, OutboxRelay, consume, create_broker
from palaute_runtime.service import ServiceRuntime
from palaute_schemas import (
    CONTACT_CLOSED,
    OPT_OUT_REQUESTED,
    SURVEY_REQUESTED,
    SURVEY_SUPPRESSED,
    ContactClosed,
    OptOutRequested,
    SurveyRequested,
)

log = structlog.get_logger("palaute.consent")


class ConsentService:
    """The service layer: plain async functions over the consent database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.outbox = Outbox(outbox)
        self._contacts_inbox = Inbox(inbox, "consent.contact-closed")
        self._opt_out_inbox = Inbox(inbox, "consent.opt-out-requested")

    async def handle_contact_closed(self, contact: ContactClosed) -> None:
        """Decide whether and how to survey one closed contact, and announce the decision."""
        async with self.engine.begin() as connection:
            if not await self._contacts_inbox.first_delivery(connection, contact.event_id):
                log.info("contact_closed_redelivered", event_id=str(contact.event_id))
                return
            seen = await connection.scalar(
                sa.select(decisions.c.outcome).where(decisions.c.contact_id == contact.contact_id)
            )
            if seen is not None:
                log.info("contact_closed_duplicate", event_id=str(contact.event_id))
                return
            opted_out = await OptOutRegister(connection).forbids(
                customer_id=contact.customer_id, phone=contact.phone, email=contact.email
            )
            decision = decide(contact, opted_out=opted_out)
            message = outcome_message(contact, decision)
            outcome = decision.channel if isinstance(decision, Survey) else decision.reason
            await connection.execute(
                decisions.insert().values(
                    contact_id=contact.contact_id, outcome=outcome, decided_at=datetime.now(UTC)
                )
            )
            if isinstance(message, SurveyRequested):
                await self.outbox.add(connection, SURVEY_REQUESTED, message)
            else:
                await self.outbox.add(connection, SURVEY_SUPPRESSED, message)
        self.outbox.committed()
        log.info(
            "contact_closed_handled",
            event_id=str(contact.event_id),
            outcome=outcome,
            anonymous=contact.anonymous,
        )

    async def handle_opt_out_requested(self, request: OptOutRequested) -> None:
        """Put every identifier of an opt-out request into the register."""
        async with self.engine.begin() as connection:
            if not await self._opt_out_inbox.first_delivery(connection, request.event_id):
                return
            register = OptOutRegister(connection)
            identifiers: list[tuple[EntryKind, str | None]] = [
                ("customer_id", request.customer_id),
                ("phone", request.phone),
                ("email", request.email),
            ]
            for kind, value in identifiers:
                if value is not None:
                    await register.add(
                        kind,
                        value,
                        source=request.source,
                        reason=request.reason,
                        actor=request.source,
                    )
        log.info("opt_out_registered", event_id=str(request.event_id), source=request.source)


def build(settings: ConsentSettings) -> tuple[ServiceRuntime, ConsentService]:
    """Wire the consent service: database, broker, consumers, outbox relay."""
    engine = create_engine(settings.database_url)
    service = ConsentService(engine)
    broker = create_broker(settings, client_id="palaute-consent")
    consume(
        broker,
        Handler(CONTACT_CLOSED, service.handle_contact_closed),
        Handler(OPT_OUT_REQUESTED, service.handle_opt_out_requested),
        group_id="palaute-consent",
        settings=settings,
    )
    relay = OutboxRelay(engine, service.outbox, outbox, broker)
    runtime = ServiceRuntime(
        "consent", engine=engine, migrations=MIGRATIONS, broker=broker, loops=[relay.run]
    )
    return runtime, service
