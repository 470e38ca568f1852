"""The consent service's own tables."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from palaute_runtime.database import add_inbox_and_outbox
from palaute_runtime.throttle import add_throttle_table

metadata = sa.MetaData()

opt_outs = sa.Table(
    "opt_outs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),  # customer_id | phone | email
    sa.Column("value", sa.String(320), nullable=False),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("kind", "value", name="uq_opt_outs_kind_value"),
)

# Append-only and chained: every change of the register, who made it and why; the
# identifier only as a keyed hash (to match) and masked (to read). See palaute_consent.audit.
register_audit = sa.Table(
    "register_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),  # add | remove
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("value_hash", sa.String(64), nullable=False, index=True),
    sa.Column("value_masked", sa.String(100), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("row_hash", sa.String(64), nullable=False),
    # The id of the chain key (PALAUTE_AUDIT_CHAIN_KEY) its hash was made with; none on rows
    # written before the chain was keyed.
    sa.Column("key_id", sa.String(16), nullable=True),
)

# The newest scheduled check of the audit chain (one row, id 1): when, how many rows, and the
# first row that did not hold (the officer's overview shows it).
# A copy of every anchor published on consent.audit-anchors.v1: `optout verify` knows the
# chain was anchored before, and refuses a Kafka that has lost the anchors (unless told).
audit_anchors = sa.Table(
    "audit_anchors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("head_id", sa.Integer, nullable=False),
    sa.Column("head_hash", sa.String(64), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("signature", sa.String(64), nullable=False),
)

# What BI reads, as BI reads it: the newest record of every figure cell and funnel cell,
# taken from survey.figures.v1 and survey.funnel.v1 (the results page shows these and
# nothing else; the collector's tables are its own).
published_figures = sa.Table(
    "published_figures",
    metadata,
    sa.Column("key", sa.String(160), primary_key=True),
    sa.Column("grain", sa.String(5), nullable=False),
    sa.Column("dimension", sa.String(20), nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("record", sa.Text, nullable=False),
    sa.Index("published_figures_by_view", "grain", "dimension", "period_start"),
)
published_funnel = sa.Table(
    "published_funnel",
    metadata,
    sa.Column("key", sa.String(80), primary_key=True),
    sa.Column("day", sa.Date, nullable=False, index=True),
    sa.Column("record", sa.Text, nullable=False),
)

audit_checks = sa.Table(
    "audit_checks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("broken_at", sa.Integer, nullable=True),
    sa.Column("why", sa.String(500), nullable=False, server_default=""),
)

# One decision per CRM contact: a contact published twice is surveyed once.
decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("contact_id", sa.String(100), primary_key=True),
    # planned | sms | email | <suppression reason>
    sa.Column("outcome", sa.String(40), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    # Whose contact (the officer's page shows why a customer was or was not surveyed).
    sa.Column("customer_id", sa.String(100), nullable=True, index=True),
)

# A survey decided on but not yet released: what the release needs, until its time comes.
# Deleted at release, so the addresses stay here no longer than the wait.
plans = sa.Table(
    "plans",
    metadata,
    sa.Column("contact_id", sa.String(100), primary_key=True),
    sa.Column("customer_id", sa.String(100), nullable=False),
    sa.Column("phone", sa.String(20), nullable=True),  # E.164, when usable
    sa.Column("email", sa.String(320), nullable=True),  # normalized, when usable
    sa.Column("channel", sa.String(10), nullable=False),
    sa.Column("address", sa.String(320), nullable=False),
    sa.Column("anonymous", sa.Boolean, nullable=False),
    sa.Column("language", sa.String(35), nullable=False),  # a BCP 47 tag
    sa.Column("contact_channel", sa.String(20), nullable=False),
    sa.Column("unit", sa.String(100), nullable=False),
    sa.Column("contact_day", sa.Date, nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("release_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

# Surveys released, remembered for the frequency cap, to withdraw them on an opt-out and to
# remind; forgotten after the longest of those periods.
released = sa.Table(
    "released",
    metadata,
    sa.Column("contact_id", sa.String(100), primary_key=True),
    sa.Column("customer_id", sa.String(100), nullable=False, index=True),
    sa.Column("phone", sa.String(20), nullable=True, index=True),
    sa.Column("email", sa.String(320), nullable=True, index=True),
    sa.Column("released_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("channel", sa.String(10), nullable=True),
    # Whose survey it was: an email recipient's reminder keeps the unit country's hours.
    sa.Column("unit", sa.String(100), nullable=True),
    # When its one reminder is due (inside the send window); cleared once it is asked for,
    # on an opt-out, or never set when reminders are off.
    sa.Column("remind_at", sa.DateTime(timezone=True), nullable=True, index=True),
)

# Email addresses the mail system bounced (RFC 3464 DSNs the dispatcher read), as a keyed
# hash of the address only (the register's identifier key): a hard bounce, or soft ones in
# a row, keep the address from being mailed until `suppressed_until`.
bounced_addresses = sa.Table(
    "bounced_addresses",
    metadata,
    sa.Column("address_hash", sa.String(64), primary_key=True),
    sa.Column("hard", sa.Boolean, nullable=False),
    sa.Column("soft_in_row", sa.Integer, nullable=False, server_default="0"),
    sa.Column("status", sa.String(12), nullable=False),  # the last DSN's, e.g. 5.1.1
    sa.Column("reason", sa.String(200), nullable=False, server_default=""),
    sa.Column("last_bounced_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("suppressed_until", sa.DateTime(timezone=True), nullable=True, index=True),
)

# People who may sign in to the register's page, with a role: officer (read and write) or
# auditor (read only). Disabled, never deleted: the audit log names them.
officer_accounts = sa.Table(
    "officer_accounts",
    metadata,
    sa.Column("username", sa.String(100), primary_key=True),
    sa.Column("password_hash", sa.String(200), nullable=False),  # argon2id
    sa.Column("role", sa.String(10), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
)

# API tokens for machines, scoped to a role; only the SHA-256 of the token is kept.
officer_tokens = sa.Table(
    "officer_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("role", sa.String(10), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

# Signed-in sessions (the cookie holds the id, signed; only its SHA-256 is kept here) and
# the CSRF token of their forms. Purged once expired.
officer_sessions = sa.Table(
    "officer_sessions",
    metadata,
    sa.Column("session_hash", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(100), nullable=False, index=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

# Erasure and access requests the officer filed: the person only masked, each service's
# answer (erasure: counts; access: whether its part came) in `services`.
privacy_requests = sa.Table(
    "privacy_requests",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("kind", sa.String(10), nullable=False),  # erasure | access
    sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("person", sa.String(400), nullable=False),  # masked identifiers
    sa.Column("services", sa.JSON, nullable=False),  # service -> its answer, or null
)

# The parts of an access request's document, until downloaded or purged.
access_parts = sa.Table(
    "access_parts",
    metadata,
    sa.Column("request_id", sa.Uuid, primary_key=True),
    sa.Column("service", sa.String(20), primary_key=True),
    sa.Column("document", sa.JSON, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)

inbox, outbox = add_inbox_and_outbox(metadata)
# Failures the throttles count, shared by every replica (palaute_runtime.throttle).
throttle_misses = add_throttle_table(metadata)

MIGRATIONS = Path(__file__).parent / "migrations"
