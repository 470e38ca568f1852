"""The dispatcher's own tables."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from palaute_runtime.database import add_inbox_and_outbox

metadata = sa.MetaData()

# One row per SurveyRequested; written as pending before the partner is called.
invitations = sa.Table(
    "invitations",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),  # also the partner idempotency key
    sa.Column("request_event_id", sa.Uuid, nullable=False, unique=True),
    sa.Column("contact_id", sa.String(100), nullable=True, index=True),  # to withdraw it by
    sa.Column("channel", sa.String(10), nullable=False),
    sa.Column("address", sa.String(320), nullable=False),
    sa.Column("language", sa.String(35), nullable=False),  # a BCP 47 tag
    sa.Column("contact_channel", sa.String(20), nullable=False),
    sa.Column("unit", sa.String(100), nullable=False),
    sa.Column("contact_day", sa.Date, nullable=False),
    sa.Column("anonymous", sa.Boolean, nullable=False),
    sa.Column("customer_id", sa.String(100), nullable=True),
    # The survey programme: its name, sender and rules (the programme file).
    sa.Column("programme", sa.String(40), nullable=False, server_default="default"),
    # pending | sent | failed (refused for good) | expired (not sent in time) | withdrawn |
    # cancelled (a reminder whose invitation was answered before it went)
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    # Hashes of every token issued for this invitation (a token is random: one issued before
    # a key rotation or the upgrade to random tokens stays listed, and whichever the partner
    # delivered works).
    sa.Column("token_hashes", sa.JSON, nullable=False),
    # The live token, sealed, while the message waits for the partner (a retry sends the
    # same link); dropped once the partner took it or it will never go.
    sa.Column("token_sealed", sa.Text, nullable=True),
    sa.Column("partner_message_id", sa.String(200), nullable=True, index=True),
    # Which way it went: the SMS provider (or `smtp`) that took a sent one; for a pending
    # one, the provider that may have it (its last hand-over's answer was lost), which its
    # retry asks first: it goes nowhere else (never two SMS).
    sa.Column("provider", sa.String(10), nullable=True),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    # Not sent by then (an outage that long), it never is: the survey would close too soon.
    sa.Column("send_by", sa.DateTime(timezone=True), nullable=False),
    # What the partner's receipt said of a sent one: delivered | undelivered | expired, set
    # once (a late or replayed receipt never changes it).
    sa.Column("delivery", sa.String(12), nullable=True),
    sa.Column("delivery_reason", sa.String(200), nullable=True),
    sa.Column("delivery_reported_at", sa.DateTime(timezone=True), nullable=True),
    # A reminder is a row of its own (its own partner message and idempotency key) that
    # names the invitation it reminds of; at most one per invitation.
    sa.Column("reminder_of", sa.Uuid, nullable=True, unique=True, index=True),
    # The collector said it was answered (nothing of the answer): no reminder.
    sa.Column("answered", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_invitations_due", "status", "next_attempt_at"),
)

# Contacts whose survey consent withdrew; kept so that a request arriving after its
# withdrawal (the two travel on different topics) is withdrawn on arrival.
withdrawals = sa.Table(
    "withdrawals",
    metadata,
    sa.Column("contact_id", sa.String(100), primary_key=True),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=False),
)

# The partner's deletion on instruction, worked off after commit (never inside a
# transaction): the addresses it may hold for an erased person, kept until it confirms.
partner_deletions = sa.Table(
    "partner_deletions",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    # The erasure it finishes (its ErasureCompleted waits for the partner's answer); none for
    # a message the partner took while its person was being erased.
    sa.Column("request_id", sa.Uuid, nullable=True),
    sa.Column("addresses", sa.JSON, nullable=False),
    sa.Column("erased", sa.JSON, nullable=False),  # our own counts, for ErasureCompleted
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    # Due then; a worker that takes it moves this on by its claim, so a worker killed
    # mid-call leaves it to be taken again.
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("last_error", sa.String(200), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# A provider's delivery report for a sid we have not stored yet: it may call before we have
# read its answer to the send, and it does not call again (Twilio). Applied when the round
# that sent it is recorded; purged a day after it came, unclaimed.
early_receipts = sa.Table(
    "early_receipts",
    metadata,
    sa.Column("partner_message_id", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

# The dispatcher processes now running, each seen every PALAUTE_REPLICA_HEARTBEAT_SECONDS:
# each sends its share of every contracted rate (one that stops beating gives it back).
dispatcher_replicas = sa.Table(
    "dispatcher_replicas",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
)

inbox, outbox = add_inbox_and_outbox(metadata)

MIGRATIONS = Path(__file__).parent / "migrations"
