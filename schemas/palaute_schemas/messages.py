"""The messages on Palaute's topics, as versioned pydantic models."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from palaute_schemas.identifiers import EmailAddress, Language, PhoneNumber

ContactChannel = Literal["phone", "email", "chat", "branch", "web_form", "social_media"]
Channel = Literal["sms", "email"]
SuppressionReason = Literal[
    "opted_out",  # the register forbids it (checked when planned and again at release)
    "frequency_cap",  # surveyed within the cap period, on any channel
    "no_channel",  # neither a mobile number nor an email address to survey
    "invalid_phone",  # the phone number is unusable and there is no usable email
    "invalid_email",  # the email address is unusable and there is no usable mobile
    "stale",  # the contact would be older than the maximum age at its first release time
    "no_send_window",  # the send window never opens (settings leave no sending time)
    "duplicate_contact",  # this contact id was decided before
    "not_sampled",  # eligible, but outside its programme's sample (decided from the contact id)
    "undeliverable_address",  # email only, and its address bounced (hard, or soft N in a row)
]


def _programme() -> Any:
    """The programme a survey belongs to (the programme file; "default" for the units it
    does not name)."""
    return Field(
        default="default",
        min_length=1,
        max_length=40,
        description="the survey programme of the contact's unit",
    )


WithdrawalReason = Literal["opted_out"]
# Why an invitation was never delivered: its survey would close (or it waited longer than
# allowed) before the partner took it, the partner refused it for good, or its text broke
# the content policy.
FailureReason = Literal["expired", "rejected", "content_policy"]
# What the partner's delivery receipt said of a message it took.
DeliveryStatus = Literal["delivered", "undelivered", "expired"]
OptOutSource = Literal[
    "privacy_officer",
    "customer_profile",
    "customer_service",
    "sms_stop",
    "email_unsubscribe",
    "self_service",  # the customer, in the organisation's own app (its self-service token)
]


def _now() -> datetime:
    # The envelope says when the message was made, in real time: the schemas import nothing
    # of the services (no clock to pass in), and no rule of ours reads occurred_at.
    return datetime.now(UTC)  # noqa: TID251


class Message(BaseModel):
    """Common envelope: a stable id set once by the producer and a timezone-aware time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    occurred_at: AwareDatetime = Field(default_factory=_now)


class ContactClosed(Message):
    """Published by the CRM when a customer-service contact is closed."""

    contact_id: str = Field(min_length=1, max_length=100)
    customer_id: str = Field(min_length=1, max_length=100)
    contact_channel: ContactChannel
    language: Language
    unit: str = Field(min_length=1, max_length=100, description="service unit or team")
    closed_at: AwareDatetime
    # As the CRM holds them: consent validates them, and an unusable one is an outcome
    # (surveyed by the other, or suppressed with the reason), not a broken message.
    phone: str | None = Field(
        default=None,
        max_length=64,
        description="phone number; national numbers are read in "
        "the default region; consent normalizes it to E.164",
    )
    email: str | None = Field(default=None, max_length=320, description="email address")
    anonymous: bool = Field(default=False, description="answers to this survey are anonymous")


class SurveyRequested(Message):
    """Consent's decision that one invitation may be sent, to one address on one channel."""

    contact_id: str
    customer_id: str | None = Field(description="absent when the survey is anonymous")
    channel: Channel
    address: str = Field(description="E.164 phone number for sms, normalized email for email")
    language: Language
    contact_channel: ContactChannel
    unit: str
    contact_day: date
    anonymous: bool
    programme: str = _programme()


class SurveySuppressed(Message):
    """Consent's decision not to survey a contact. Carries no personal data. A contact left
    out of its programme's sample (`not_sampled`) names the programme, the channel it would
    have been surveyed on and its day, for the funnel."""

    contact_id: str
    reason: SuppressionReason
    programme: str | None = Field(default=None, max_length=40)
    channel: Channel | None = None
    contact_day: date | None = None


class SurveyWithdrawn(Message):
    """Consent takes back a released survey: an opt-out reached it before it was sent."""

    contact_id: str
    reason: WithdrawalReason


class SurveyReminderDue(Message):
    """Consent: a released survey's one reminder may go now, inside the recipient's send
    window, which closes at `send_by`. The dispatcher sends it only for an invitation that
    was sent, is not answered and was not withdrawn."""

    contact_id: str
    send_by: AwareDatetime = Field(description="the send window closes: not sent by then, never")


class InvitationAnswered(Message):
    """The collector: an invitation was answered (nothing of the answer), so it gets no
    reminder."""

    invitation_id: uuid.UUID


class InvitationSent(Message):
    """The partner accepted one invitation. No address; no customer id when anonymous."""

    invitation_id: uuid.UUID
    channel: Channel
    language: Language
    contact_channel: ContactChannel
    unit: str
    contact_day: date
    anonymous: bool
    customer_id: str | None
    token_hashes: list[str] = Field(description="sha256 of the survey token(s); email only")
    recipient_ref: str | None = Field(description="keyed pseudonym of the SMS number")
    expires_at: AwareDatetime
    contact_id: str | None = Field(
        default=None, description="the CRM contact (for a follow-up); never when anonymous"
    )
    programme: str = _programme()


class ReminderSent(Message):
    """The partner accepted a reminder of an email invitation: its link carries a token of
    its own (tokens are random), announced for the invitation it reminds of. No address."""

    invitation_id: uuid.UUID = Field(description="the invitation reminded of")
    token_hashes: list[str] = Field(description="sha256 of the reminder's survey token")


class InvitationFailed(Message):
    """An invitation the partner will never get: given up, with the reason. No address."""

    invitation_id: uuid.UUID
    contact_id: str | None
    channel: Channel
    language: Language
    contact_channel: ContactChannel
    unit: str
    contact_day: date
    reason: FailureReason
    attempts: int = Field(ge=0, description="partner calls made for it")
    error: str = Field(default="", max_length=500, description="the last error, no personal data")
    programme: str = _programme()


class DeliveryStatusChanged(Message):
    """The partner reported what became of a message it took: delivered, undelivered (with
    its reason) or expired. Once per invitation; no address."""

    invitation_id: uuid.UUID
    channel: Channel
    language: Language
    contact_channel: ContactChannel
    unit: str
    contact_day: date
    status: DeliveryStatus
    reason: str = Field(default="", max_length=200, description="the partner's reason")
    reported_at: AwareDatetime
    programme: str = _programme()


BounceKind = Literal["hard", "soft"]


class EmailBounced(Message):
    """The dispatcher, for consent: the mail system said an invitation's email cannot be
    delivered (an RFC 3464 delivery status notification that failed it): for good (`hard`,
    a 5.x.x status) or for now (`soft`, 4.x.x). No address: consent knows the contact's."""

    invitation_id: uuid.UUID
    contact_id: str = Field(min_length=1, max_length=100)
    kind: BounceKind
    status: str = Field(pattern=r"^[245]\.\d{1,3}\.\d{1,3}$", description="the DSN's status code")
    reason: str = Field(default="", max_length=200, description="the DSN's diagnostic, cut")
    bounced_at: AwareDatetime


class FollowUpRequested(Message):
    """The collector, for the CRM: a named respondent asked to be contacted about their
    feedback. The one message that carries a comment out; never for an anonymous survey."""

    follow_up_id: uuid.UUID
    customer_id: str
    contact_id: str | None
    unit: str
    language: Language
    score: int | None = Field(ge=0, le=10, description="NPS, when given")
    csat: int | None = Field(default=None, ge=1, le=5, description="CSAT, when given")
    comment: str = Field(default="", max_length=2000)
    due_date: date = Field(description="working days ahead in the unit's country")


class FollowUpClosed(Message):
    """The CRM: a follow-up was handled."""

    follow_up_id: uuid.UUID
    closed_at: AwareDatetime


class FollowUpFigures(Message):
    """Open and overdue follow-ups of one unit, for BI (keep the newest per unit)."""

    unit: str
    open: int = Field(ge=0)
    overdue: int = Field(ge=0, description="open past their due date")


class FunnelPublished(Message):
    """How far one contact day's invitations on one survey channel in one programme got:
    left out of the sample, sent, delivered or undelivered (the partner's receipts; an email
    relayed counts as sent only), opened (the survey page shown), answered, and the response
    rate (% of sent). The answer-derived figures are null under the minimum group size."""

    day: date
    channel: Channel
    programme: str = _programme()
    not_sampled: int = Field(default=0, ge=0, description="eligible contacts not sampled")
    sent: int = Field(ge=0)
    delivered: int = Field(ge=0)
    undelivered: int = Field(ge=0, description="undelivered or expired, per the receipts")
    opened: int = Field(ge=0, description="survey pages shown (email links)")
    answered: int | None = Field(ge=0, description="null under the minimum group size")
    response_rate: float | None = Field(ge=0, le=100, description="% of sent; null as above")

    @property
    def cell_key(self) -> str:
        """The compaction key of this funnel cell."""
        return f"{self.day.isoformat()}|{self.channel}|{self.programme}"


class OptOutRequested(Message):
    """A request to stop surveys, from a STOP reply, an unsubscribe link or a person."""

    source: OptOutSource
    customer_id: str | None = None
    phone: PhoneNumber | None = None
    email: EmailAddress | None = None
    reason: str = Field(
        min_length=1, max_length=500, pattern=r"\S", description="why (kept in the audit log)"
    )


Grain = Literal["day", "week", "month"]
Dimension = Literal["total", "contact_channel", "survey_channel", "language", "unit", "programme"]


class FiguresPublished(Message):
    """One revision of one cell of the survey figures: a day, ISO week or month, broken
    down by one dimension (or the total), keyed `grain|period|dimension|value`.

    Figures count *released* answers: the collector adds answers to the figures in groups
    where every cell they touch (in every breakdown and grain) grows by 0 or by at least the
    minimum group size, so no published number, difference of revisions or of breakdowns
    tells anything about fewer answers. `revision` only grows per key: keep the newest.
    `responses` counts answers with any score; NPS is over those with an NPS score
    (`nps_responses`), CSAT over those with a CSAT score (`csat_responses`, % satisfied =
    4-5). `final` marks a period whose surveys have all closed: no further day or week
    revision comes; a month may still add answers held back from its days.
    """

    grain: Grain
    period: str = Field(min_length=7, max_length=10, description="2026-11-23, 2026-W48 or 2026-11")
    period_start: date = Field(description="the first day of the period")
    dimension: Dimension
    value: str = Field(max_length=100, description="the breakdown's value; empty for total")
    revision: int = Field(ge=1, description="grows by one with each record of this cell")
    final: bool = False
    responses: int = Field(ge=0)
    promoters: int = Field(ge=0)
    passives: int = Field(ge=0)
    detractors: int = Field(ge=0)
    nps_responses: int = Field(ge=0)
    nps: float | None = Field(ge=-100, le=100, description="None without NPS answers")
    csat_responses: int = Field(ge=0)
    satisfied: int = Field(ge=0, description="CSAT answers of 4 or 5")
    csat: float | None = Field(ge=0, le=100, description="% satisfied; None without CSAT")
    received: int | None = Field(
        default=None,
        ge=0,
        description=(
            "total cells only: the answers of the period the collector has (in the figures,"
            " waiting for their group or never published), so that `responses` of `received`"
            " says how much the figures leave out; None on breakdowns, below the minimum group"
            " size, or before it was counted"
        ),
    )

    @property
    def cell_key(self) -> str:
        """The compaction key of this cell."""
        return f"{self.grain}|{self.period}|{self.dimension}|{self.value}"


PrivacyService = Literal["consent", "dispatcher", "collector"]


class PersonIdentifiers(Message):
    """A person as the privacy officer named them: any of customer id, phone and email."""

    request_id: uuid.UUID
    customer_id: str | None = Field(default=None, min_length=1, max_length=100)
    phone: PhoneNumber | None = None
    email: EmailAddress | None = None

    @model_validator(mode="after")
    def _someone(self) -> PersonIdentifiers:
        if self.customer_id is None and self.phone is None and self.email is None:
            raise ValueError("a customer id, a phone number or an email names the person")
        return self


class ErasureRequested(PersonIdentifiers):
    """The privacy officer filed an erasure request (GDPR art. 17): every service deletes or
    unlinks what it holds about the person. On its topic for a day only."""


class ErasureCompleted(Message):
    """One service erased what it held about the person of an erasure request: how many rows
    per table (no identifier), and for the dispatcher whether the partner confirmed its
    deletion (true), refused it for good (false, with the partner's reason) or was not asked
    (none: no address to delete, or a partner without a deletion API), and the story per
    processor."""

    request_id: uuid.UUID
    service: PrivacyService
    erased: dict[str, int]
    partner_deleted: bool | None = None
    partner_reason: str | None = Field(default=None, max_length=200)
    processors: dict[str, str] = Field(
        default_factory=dict,
        description="the dispatcher: each processor (SMS provider, email relay, bounce "
        "mailbox) and what the erasure did there: deleted, refused (why), or not asked (and "
        "what the operator does instead)",
    )


class AccessRequested(PersonIdentifiers):
    """The privacy officer filed an access request (GDPR art. 15): every service reports
    what it holds about the person. On its topic for a day only."""


class AccessReported(Message):
    """What one service holds about the person of an access request, table by table. It
    carries personal data: on its topic for a day only; consent keeps the assembled document
    until it is downloaded, at most PALAUTE_KEEP_ACCESS_REPORTS_DAYS."""

    request_id: uuid.UUID
    service: PrivacyService
    held: dict[str, list[dict[str, str | int | float | bool | None]]]


class AuditAnchored(Message):
    """Consent: the head of the register's audit chain, published on a schedule so that a
    copy lives outside consent's database. `optout verify` checks the chain against every
    anchor: a chain that lost its newest rows, or was recomputed, no longer holds an anchored
    row with its anchored hash. Carries no personal data."""

    head_id: int = Field(ge=0, description="id of the newest audit row (0: the chain is empty)")
    head_hash: str = Field(max_length=64, description="that row's chained hash")
    rows: int = Field(ge=0, description="how many rows the chain had")
    key_id: str = Field(max_length=16, description="id of the chain key that signed it")
    signature: str = Field(max_length=64, description="HMAC-SHA256 of the fields above")
