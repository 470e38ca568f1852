"""The dispatcher service's composition root: settings → engine → service → consumers →
web app and background loops. The only module that wires; nothing imports it but the
command line (and tests that run the service whole)."""

from __future__ import annotations

from palaute_dispatcher.bounces import BounceMailbox, ImapSettings
from palaute_dispatcher.elks import ElksSmsPartner
from palaute_dispatcher.partner import DataProcessor, HttpSmsPartner, SmtpEmailPartner
from palaute_dispatcher.processors import Processors
from palaute_dispatcher.replicas import Replicas
from palaute_dispatcher.service import DispatcherService
from palaute_dispatcher.settings import DispatcherSettings
from palaute_dispatcher.sms import report_sms_cost
from palaute_dispatcher.tables import MIGRATIONS, outbox
from palaute_dispatcher.twilio import TwilioSmsPartner
from palaute_dispatcher.web import routes
from palaute_runtime.database import create_engine
from palaute_runtime.health import Health
from palaute_runtime.messaging import Handler
from palaute_runtime.retention import periodic
from palaute_runtime.service import ServiceRuntime
from palaute_runtime.wiring import assemble
from palaute_schemas import (
    ACCESS_REQUESTED,
    ERASURE_REQUESTED,
    INVITATION_ANSWERED,
    SURVEY_REMINDER_DUE,
    SURVEY_REQUESTED,
    SURVEY_WITHDRAWN,
)


def build(settings: DispatcherSettings) -> tuple[ServiceRuntime, DispatcherService]:
    """Wire the dispatcher: database, partner adapters, consumer, delivery loop, relay."""
    for programme in settings.programmes.all:
        report_sms_cost(
            programme.organization_name,
            programme.questions,
            programme.name,
            languages=programme.languages,
            keep_diacritics=programme.sms_diacritics == "keep",
        )
    engine = create_engine(settings.database_url)
    clock = settings.clock()
    providers: dict[str, HttpSmsPartner | TwilioSmsPartner | ElksSmsPartner] = {
        name: _sms_partner(name, settings) for name in settings.sms_providers
    }
    twilio = providers.get("twilio")
    # The default programme's senders; a message of another programme names its own.
    email = SmtpEmailPartner(
        settings.partner_smtp_host,
        settings.partner_smtp_port,
        settings.email_sender,
        security=settings.partner_smtp_security,
        ca_file=settings.partner_smtp_ca_file,
        username=settings.partner_smtp_username,
        password=settings.partner_smtp_password,
        clock=clock,
    )
    health = Health("dispatcher")
    mailbox = (
        BounceMailbox(
            ImapSettings(
                settings.bounce_imap_host,
                settings.bounce_imap_port,
                settings.bounce_imap_security,
                settings.bounce_imap_username,
                settings.bounce_imap_password,
                settings.bounce_imap_mailbox,
                settings.bounce_imap_ca_file,
            )
        )
        if settings.bounce_imap_host
        else None
    )
    # Who is asked to delete on an erasure: the SMS providers with a deletion API, and the
    # bounce mailbox (its DSNs name the address); 46elks and the relay cannot be asked.
    asked: dict[str, DataProcessor] = {
        name: p for name, p in providers.items() if not isinstance(p, ElksSmsPartner)
    }
    if mailbox is not None:
        asked["bounce mailbox"] = mailbox
    not_asked = [*(["46elks"] if "46elks" in providers else []), "email relay"]
    service = DispatcherService(
        engine,
        settings,
        {"sms": providers, "email": email},
        health,
        processor=Processors(asked, not_asked),
        clock=clock,
        bounce_mailbox=mailbox,
        # Twilio calls a status callback once: what never came is asked for.
        report_source=twilio if isinstance(twilio, TwilioSmsPartner) else None,
    )
    # Each replica sends its share of the contracted rates, once it has counted them.
    replicas = Replicas(
        engine, clock, settings.replica_heartbeat_seconds, service.delivery.set_rate_share
    )

    async def deliver() -> None:
        await replicas.counted.wait()
        await service.run_delivery()

    runtime = assemble(
        "dispatcher",
        settings,
        engine=engine,
        migrations=MIGRATIONS,
        outbox=service.outbox,
        outbox_table=outbox,
        handlers=[
            Handler(SURVEY_REQUESTED, service.handle_survey_requests),
            Handler(SURVEY_WITHDRAWN, service.handle_withdrawals),
            Handler(SURVEY_REMINDER_DUE, service.handle_reminders_due),
            Handler(INVITATION_ANSWERED, service.handle_answered),
            Handler(ERASURE_REQUESTED, service.handle_erasure_requests),
            Handler(ACCESS_REQUESTED, service.handle_access_requests),
        ],
        health=health,
        address=(settings.dispatcher_host, settings.dispatcher_port),
        ops_port=settings.dispatcher_ops_port,
        routes=routes(service),
        loops=[
            replicas.run,
            deliver,
            *(
                [
                    periodic(
                        "slow delivery reports",
                        settings.sms_slow_check_seconds,
                        service.delivery.check_report_delays,
                    )
                ]
                if len(providers) > 1
                else []
            ),
            *([service.deletions.run] if service.deletions is not None else []),
            periodic("purge", settings.purge_interval_seconds, service.purge),
            periodic("waiting invitations", 30, service.delivery.measure_waiting),
            *(
                [periodic("bounces", settings.bounce_poll_seconds, service.bounces.read_mailbox)]
                if service.bounces is not None
                else []
            ),
            *(
                [
                    periodic(
                        "delivery reports",
                        settings.delivery_report_poll_seconds,
                        service.missing_reports.ask,
                    )
                ]
                if service.missing_reports is not None
                else []
            ),
        ],
        closers=[p.close for p in providers.values()],
    )
    return runtime, service


def _sms_partner(
    name: str, settings: DispatcherSettings
) -> HttpSmsPartner | TwilioSmsPartner | ElksSmsPartner:
    """One SMS provider's adapter, as configured."""
    timeout = settings.partner_sms_timeout_seconds
    if name == "46elks":
        return ElksSmsPartner(
            settings.elks_api_url,
            settings.elks_username,
            settings.elks_password,
            settings.sms_sender,
            delivery_url=settings.elks_delivery_url,
            webhook_secret=settings.elks_webhook_secret,
            timeout=timeout,
        )
    if name == "twilio":
        return TwilioSmsPartner(
            settings.twilio_api_url,
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.sms_sender,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            status_callback_url=settings.twilio_status_callback_url,
            timeout=timeout,
        )
    return HttpSmsPartner(
        settings.partner_sms_url, settings.partner_api_key, settings.sms_sender, timeout
    )
