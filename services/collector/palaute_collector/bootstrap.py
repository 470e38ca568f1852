"""The collector's composition root: settings → engine → service → consumers → web app
and background loops. The only module that wires; nothing imports it but the command line
(and tests that run the service whole)."""

from __future__ import annotations

from palaute_collector.service import CollectorService
from palaute_collector.settings import CollectorSettings
from palaute_collector.tables import MIGRATIONS, outbox
from palaute_collector.web import routes
from palaute_runtime.database import create_engine
from palaute_runtime.health import Health
from palaute_runtime.messaging import Handler
from palaute_runtime.retention import periodic
from palaute_runtime.service import ServiceRuntime
from palaute_runtime.wiring import assemble
from palaute_schemas import (
    ACCESS_REQUESTED,
    DELIVERY_STATUS,
    ERASURE_REQUESTED,
    FOLLOW_UP_CLOSED,
    INVITATION_SENT,
    REMINDER_SENT,
    SURVEY_SUPPRESSED,
)


def build(settings: CollectorSettings) -> tuple[ServiceRuntime, CollectorService]:
    """Wire the collector: database, consumers, survey page and webhook, outbox relay,
    the figures, funnel, follow-up and purge loops."""
    engine = create_engine(settings.database_url)
    service = CollectorService(engine, settings)
    runtime = assemble(
        "collector",
        settings,
        engine=engine,
        migrations=MIGRATIONS,
        outbox=service.outbox,
        outbox_table=outbox,
        handlers=[
            Handler(INVITATION_SENT, service.handle_invitations_sent),
            Handler(REMINDER_SENT, service.handle_reminders_sent),
            Handler(FOLLOW_UP_CLOSED, service.handle_follow_ups_closed),
            Handler(DELIVERY_STATUS, service.handle_delivery_statuses),
            Handler(SURVEY_SUPPRESSED, service.handle_suppressions),
            Handler(ERASURE_REQUESTED, service.handle_erasure_requests),
            Handler(ACCESS_REQUESTED, service.handle_access_requests),
        ],
        health=Health("collector"),
        address=(settings.collector_host, settings.collector_port),
        ops_port=settings.collector_ops_port,
        routes=routes(service),
        loops=[
            # Overdue follow-ups change with the date: looked at every ten minutes.
            periodic("follow_up_figures", 600.0, service.publish_follow_up_figures),
            periodic("funnel", settings.funnel_publish_seconds, service.publish_funnel),
            periodic("figures", settings.figures_publish_seconds, service.publish_figures),
            periodic("purge", settings.purge_interval_seconds, service.purge),
        ],
    )
    return runtime, service
