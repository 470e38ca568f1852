"""Prometheus metrics of every Palaute service; each carries the service's name as a label.

They live in the process's default registry and are served at `/metrics` (palaute_runtime.ops).
The README's Production section says what each one means.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_CONSUMED = Counter(
    "palaute_messages_consumed",
    "Kafka records taken by a consumer, valid or not.",
    ["service", "topic"],
)
DEAD_LETTERS = Counter(
    "palaute_dead_letters",
    "Records sent to a dead-letter topic, by the reason code they carry.",
    ["service", "topic", "reason"],
)
DECISIONS = Counter(
    "palaute_decisions",
    "Consent's decisions: planned, requested or suppressed, with the reason code.",
    ["outcome", "reason"],
)
INVITATIONS = Counter(
    "palaute_invitations",
    "Invitations reaching a status in the dispatcher (sent, failed, withdrawn, ...).",
    ["channel", "status"],
)
PARTNER_SECONDS = Histogram(
    "palaute_partner_request_seconds",
    "Time the partner took to answer one send, by channel.",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PARTNER_ERRORS = Counter(
    "palaute_partner_errors",
    "Sends the partner did not accept, by channel and kind (transient, permanent).",
    ["channel", "kind"],
)
PARTNER_CIRCUIT_OPEN = Gauge(
    "palaute_partner_circuit_open",
    "1 while a partner's (an SMS provider's, the relay's) circuit breaker is open or probing.",
    ["lane"],
)
OLDEST_WAITING = Gauge(
    "palaute_invitation_oldest_waiting_seconds",
    "Age of the oldest invitation due or retrying and not yet handed over, by channel (0: "
    "none); one waiting for its recipient's send window is not counted.",
    ["channel"],
)
ANSWERS_RECORDED = Counter(
    "palaute_answers_recorded",
    "Answers the collector recorded, by survey channel.",
    ["channel"],
)
FIGURE_CELLS_PUBLISHED = Counter(
    "palaute_figure_cells_published",
    "Figure cell revisions the collector published (small groups wait: none for them).",
)
AUDIT_CHAIN_HOLDS = Gauge(
    "palaute_audit_chain_holds",
    "1 while consent's scheduled check finds the register's audit chain intact and the "
    "register what its changes make of it; 0 when it does not.",
)
SMS_PROVIDER_WEIGHT = Gauge(
    "palaute_sms_provider_weight",
    "The share of SMS (of 100) each provider is given now (PALAUTE_SMS_PROVIDER).",
    ["provider"],
)
SMS_PROVIDER_WEIGHT_CHANGES = Counter(
    "palaute_sms_provider_weight_changes",
    "Changes of a provider's weight: lowered (errors, slow_reports) or raised (quiet).",
    ["provider", "reason"],
)
RATE_SHARE = Gauge(
    "palaute_dispatcher_rate_share",
    "The share of every contracted rate this dispatcher sends (1 / replicas running).",
)
OUTBOX_DEPTH = Gauge(
    "palaute_outbox_depth",
    "Rows in the service's outbox not yet published (read at each scrape).",
    ["service"],
)
CONSUMER_LAG = Gauge(
    "palaute_consumer_lag",
    "Records on the broker not yet taken by this consumer, per topic partition.",
    ["service", "topic", "partition"],
)
PAGE_RESPONSES = Counter(
    "palaute_http_responses",
    "HTTP responses of the service's public surface, by route and status.",
    ["service", "route", "status"],
)
SERVICE_DEGRADED = Gauge(
    "palaute_service_degraded",
    "1 while a part of the service (database, broker, ...) keeps it from working.",
    ["service", "part"],
)
