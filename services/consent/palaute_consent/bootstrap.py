"""The consent service's composition root: settings → engine → service → consumers →
web app and background loops. The only module that wires; nothing imports it but the
command line (and tests that run the service whole)."""

from __future__ import annotations

from palaute_consent.service import ConsentService
from palaute_consent.settings import ConsentSettings
from palaute_consent.tables import MIGRATIONS, outbox
from palaute_consent.web import routes
from palaute_runtime.database import create_engine
from palaute_runtime.health import Health
from palaute_runtime.messaging import Handler
from palaute_runtime.retention import periodic
from palaute_runtime.service import ServiceRuntime
from palaute_runtime.wiring import assemble
from palaute_schemas import (
    ACCESS_REPORTED,
    CONTACT_CLOSED,
    EMAIL_BOUNCED,
    ERASURE_COMPLETED,
    FIGURES_PUBLISHED,
    FUNNEL_PUBLISHED,
    OPT_OUT_REQUESTED,
)


def build(settings: ConsentSettings) -> tuple[ServiceRuntime, ConsentService]:
    """Wire the consent service: database, consumers, outbox relay, release loop, the
    officer's pages and API."""
    engine = create_engine(settings.database_url)
    service = ConsentService(engine, settings, settings.clock())
    runtime = assemble(
        "consent",
        settings,
        engine=engine,
        migrations=MIGRATIONS,
        outbox=service.outbox,
        outbox_table=outbox,
        handlers=[
            Handler(CONTACT_CLOSED, service.handle_contacts_closed),
            Handler(OPT_OUT_REQUESTED, service.handle_opt_out_requests),
            Handler(ERASURE_COMPLETED, service.handle_erasures_completed),
            Handler(ACCESS_REPORTED, service.handle_access_reports),
            Handler(EMAIL_BOUNCED, service.handle_bounces),
            Handler(FIGURES_PUBLISHED, service.handle_figures),
            Handler(FUNNEL_PUBLISHED, service.handle_funnel),
        ],
        health=Health("consent"),
        address=(settings.consent_host, settings.consent_port),
        ops_port=settings.consent_ops_port,
        routes=routes(service),
        loops=[
            service.run_release,
            periodic("purge", settings.purge_interval_seconds, service.purge),
            periodic(
                "audit_anchor", settings.audit_anchor_seconds, service.anchor_and_check_audit_chain
            ),
        ],
    )
    return runtime, service
