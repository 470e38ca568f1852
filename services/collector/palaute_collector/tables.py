"""The collector's own tables."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from palaute_runtime.database import add_inbox_and_outbox
from palaute_runtime.throttle import add_throttle_table

metadata = sa.MetaData()

invitations = sa.Table(
    "invitations",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("channel", sa.String(10), nullable=False),
    sa.Column("language", sa.String(35), nullable=False),  # a BCP 47 tag
    sa.Column("contact_channel", sa.String(20), nullable=False),
    sa.Column("unit", sa.String(100), nullable=False),
    sa.Column("contact_day", sa.Date, nullable=False),
    sa.Column("anonymous", sa.Boolean, nullable=False),
    sa.Column("customer_id", sa.String(100), nullable=True),
    sa.Column("recipient_ref", sa.String(64), nullable=True, index=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("answered", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("contact_id", sa.String(100), nullable=True),  # named surveys only
    sa.Column("opened", sa.Boolean, nullable=False, server_default=sa.false()),  # page shown
    # The survey programme (its name, questions and rules; the programme file).
    sa.Column("programme", sa.String(40), nullable=False, server_default="default"),
)

invitation_tokens = sa.Table(
    "invitation_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("invitation_id", sa.Uuid, sa.ForeignKey("invitations.id"), nullable=False),
)

# One row per answer of a named (not anonymous) survey. An anonymous answer never gets a row:
# it waits sealed, then is folded into the counts (below).
responses = sa.Table(
    "responses",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("score", sa.Integer, nullable=True),  # NPS 0-10, when given
    sa.Column("csat", sa.Integer, nullable=True),  # CSAT 1-5, when given (page only)
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    sa.Column("survey_channel", sa.String(10), nullable=False),
    sa.Column("language", sa.String(35), nullable=False),  # a BCP 47 tag
    sa.Column("contact_channel", sa.String(20), nullable=False),
    sa.Column("unit", sa.String(100), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("anonymous", sa.Boolean, nullable=False),
    sa.Column("invitation_id", sa.Uuid, nullable=True),
    sa.Column("customer_id", sa.String(100), nullable=True),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("programme", sa.String(40), nullable=False, server_default="default"),
    # When the respondent asked for a follow-up: its due date.
    sa.Column("follow_up_due", sa.Date, nullable=True),
)

# Every answer waiting to join the figures (see figures.py), sealed (AES-256-GCM,
# PALAUTE_ANSWER_SEAL_KEY): where it falls (day, channels, language, unit), its scores, and
# for an anonymous answer its comment, padded to one size (figure_store.SEALED_BYTES). An
# anonymous answer is written in the transaction that marks its invitation answered, so this
# row (and its dead copy, its WAL record, a backup) must tell a reader nothing: not even by
# its length. It
# is released with others, in a transaction of its own, once every cell it counts in grows
# by at least the minimum group size, and deleted.
sealed_answers = sa.Table(
    "sealed_answers",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),  # random: no order
    sa.Column("sealed", sa.Text, nullable=False),
)

# The comments of anonymous answers: the text alone, written in shuffled batches.
anonymous_comments = sa.Table(
    "anonymous_comments",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("comment", sa.Text, nullable=False),
)

# Follow-ups a named respondent asked for: no person here (the CRM has the request), only
# what the open and overdue figures per unit need.
follow_ups = sa.Table(
    "follow_ups",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("unit", sa.String(100), nullable=False, index=True),
    sa.Column("due_date", sa.Date, nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
)

# The follow-up figures last published per unit (a change is published, nothing else).
follow_up_figures = sa.Table(
    "follow_up_figures",
    metadata,
    sa.Column("unit", sa.String(100), primary_key=True),
    sa.Column("open", sa.Integer, nullable=False),
    sa.Column("overdue", sa.Integer, nullable=False),
)

# A scored SMS reply with no open invitation sent to its number before it: the collector may
# not have recorded that invitation yet. Applied when one arrives that was sent before the
# reply, dropped after the hold time. Score, comment and the exact time it came are sealed to
# one size (PALAUTE_ANSWER_SEAL_KEY); received_at is the hour after it came, for the purge.
held_replies = sa.Table(
    "held_replies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("recipient_ref", sa.String(64), nullable=False, index=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sealed", sa.Text, nullable=False),
)

# Every inbound SMS acted on, so that a webhook delivered twice counts once: a keyed hash
# of the partner's id and the day it came (midnight UTC; kept for the purge), nothing more.
inbound_messages = sa.Table(
    "inbound_messages",
    metadata,
    sa.Column("partner_message_id", sa.String(200), primary_key=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

# The funnel of one contact day, survey channel and programme; `changed` until published.
funnel_cells = sa.Table(
    "funnel_cells",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("channel", sa.String(10), primary_key=True),
    sa.Column("programme", sa.String(40), primary_key=True, server_default="default"),
    sa.Column("sent", sa.Integer, nullable=False, server_default="0"),
    sa.Column("delivered", sa.Integer, nullable=False, server_default="0"),
    sa.Column("undelivered", sa.Integer, nullable=False, server_default="0"),
    sa.Column("opened", sa.Integer, nullable=False, server_default="0"),
    sa.Column("answered", sa.Integer, nullable=False, server_default="0"),
    # Eligible contacts its programme's sample left out (consent's not_sampled).
    sa.Column("not_sampled", sa.Integer, nullable=False, server_default="0"),
    sa.Column("changed", sa.Boolean, nullable=False, server_default=sa.true()),
)

# The figures as published: released answers only, one row per cell (figures.py).
figure_cells = sa.Table(
    "figure_cells",
    metadata,
    sa.Column("grain", sa.String(5), primary_key=True),
    sa.Column("period_start", sa.Date, primary_key=True),
    sa.Column("dimension", sa.String(20), primary_key=True),
    sa.Column("value", sa.String(100), primary_key=True),
    sa.Column("responses", sa.Integer, nullable=False),
    sa.Column("promoters", sa.Integer, nullable=False),
    sa.Column("passives", sa.Integer, nullable=False),
    sa.Column("detractors", sa.Integer, nullable=False),
    sa.Column("nps_responses", sa.Integer, nullable=False),
    sa.Column("csat_responses", sa.Integer, nullable=False),
    sa.Column("satisfied", sa.Integer, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("final", sa.Boolean, nullable=False, server_default=sa.false()),
    # Total cells only: the answers of the period the collector has (released, waiting or
    # never published), as last published; None before it was counted.
    sa.Column("received", sa.Integer, nullable=True),
)

# Answers the collector has per contact day, counted as each comes (for the coverage each
# period's total cell publishes). A count, nothing of any answer.
answers_received = sa.Table(
    "answers_received",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("received", sa.Integer, nullable=False),
)

# People erased lately, as keyed pseudonyms only (customer id or SMS number): an invitation
# to them still on its way from the dispatcher is not recorded. Purged with the invitations.
erased_people = sa.Table(
    "erased_people",
    metadata,
    sa.Column("pseudonym", sa.String(64), primary_key=True),
    sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

inbox, outbox = add_inbox_and_outbox(metadata)
# Failures the throttles count, shared by every replica (palaute_runtime.throttle).
throttle_misses = add_throttle_table(metadata)

MIGRATIONS = Path(__file__).parent / "migrations"
