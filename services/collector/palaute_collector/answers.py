"""What happens to an answer: from the survey page or an SMS reply, stored sealed until its
release into the figures (named ones also linked), a follow-up when the respondent asks for
one, STOP replies and unsubscribe links passed on to consent's register."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_collector.call_requests import wants_a_call
from palaute_collector.core import Core
from palaute_collector.figure_store import SEALED_BYTES, SEALED_LENGTH, FigureStore
from palaute_collector.figures import Answer
from palaute_collector.followups import due_date
from palaute_collector.invitation_store import InvitationStore
from palaute_collector.publishing import Publishing
from palaute_collector.scores import Score, Stop, parse_sms_reply
from palaute_runtime.database import as_utc
from palaute_runtime.metrics import ANSWERS_RECORDED
from palaute_runtime.sealed import seal, unseal
from palaute_runtime.unit_of_work import uow
from palaute_schemas import (
    FOLLOW_UP_REQUESTED,
    INVITATION_ANSWERED,
    OPT_OUT_REQUESTED,
    FollowUpRequested,
    InvitationAnswered,
    InvitationSent,
    Language,
    OptOutRequested,
)

log = structlog.get_logger("palaute.collector")

TokenState = Literal["open", "answered", "expired", "unknown"]
SmsOutcome = Literal["recorded", "opted_out", "unreadable", "held", "duplicate"]
# A partner's clock ahead of ours must not let a reply answer a survey sent after it came.
_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class OpenSurvey:
    """What the survey page needs to know about the invitation behind a token."""

    invitation_id: uuid.UUID
    language: Language
    state: TokenState
    contact_channel: str  # what the survey is about: the contact's channel and day
    contact_day: date
    anonymous: bool = False  # an anonymous survey offers no follow-up
    programme: str = "default"  # whose name it is asked in, and which questions


class Answers:
    """Records answers from the page and from SMS replies, once per invitation."""

    def __init__(self, core: Core, publishing: Publishing) -> None:
        self.core = core
        self.publishing = publishing

    async def survey_for_token(self, token_hash: str) -> OpenSurvey | None:
        """The invitation behind a token, and whether it can still be answered."""
        async with self.core.engine.connect() as connection:
            row = await InvitationStore(connection).by_token(token_hash)
        if row is None:
            return None
        state: TokenState = "open"
        if row.answered:
            state = "answered"
        elif as_utc(row.expires_at) <= self.core.clock.now():
            state = "expired"
        return OpenSurvey(
            row.id,
            row.language,
            state,
            row.contact_channel,
            row.contact_day,
            row.anonymous,
            row.programme,
        )

    async def answer(
        self,
        invitation_id: uuid.UUID,
        score: int | None,
        comment: str,
        csat: int | None = None,
        *,
        follow_up: bool = False,
    ) -> bool:
        """Store one answer (an NPS score, a CSAT score or both) to an open invitation, and
        the follow-up its respondent asked for; False when it was answered or expired."""
        if score is None and csat is None:
            raise ValueError("an answer has an NPS score, a CSAT score or both")
        async with uow(self.core.engine, self.core.outbox) as work:
            return await self.record(
                work.connection, invitation_id, score, comment, csat, follow_up=follow_up
            )

    async def record(
        self,
        connection: AsyncConnection,
        invitation_id: uuid.UUID,
        score: int | None,
        comment: str,
        csat: int | None = None,
        *,
        follow_up: bool = False,
    ) -> bool:
        """Record an answer in the caller's transaction; False when it was answered or
        expired."""
        # Claim and read in one statement: a second answer finds the invitation answered.
        store = InvitationStore(connection)
        invitation = await store.claim_answer(invitation_id, self.core.clock.now())
        if invitation is None:
            return False
        await self.publishing.count_in_funnel(
            connection,
            (invitation.contact_day, invitation.channel, invitation.programme),
            answered=1,
        )
        # The dispatcher sends no reminder for it; nothing of the answer goes with it.
        await self.core.outbox.add(
            connection, INVITATION_ANSWERED, InvitationAnswered(invitation_id=invitation.id)
        )
        answer = Answer(
            day=invitation.contact_day,
            contact_channel=invitation.contact_channel,
            survey_channel=invitation.channel,
            language=invitation.language,
            unit=invitation.unit,
            score=score,
            csat=csat,
            anonymous=invitation.anonymous,
            programme=invitation.programme,
            received=self.core.clock.now().date(),
        )
        await self._seal_for_release(connection, answer, comment)
        ANSWERS_RECORDED.labels(channel=invitation.channel).inc()
        if invitation.anonymous:
            log.info("response_recorded", survey_channel=invitation.channel, anonymous=True)
            return True
        due = None
        if follow_up and invitation.customer_id:
            due = await self._request_follow_up(connection, invitation, score, csat, comment)
        await store.add_response(
            {
                "id": uuid.uuid4(),
                "comment": comment,
                "invitation_id": invitation.id,
                "customer_id": invitation.customer_id,
                # The answer's own fields; the day it came is answered_at.
                **{name: value for name, value in asdict(answer).items() if name != "received"},
                "answered_at": self.core.clock.now(),
                "follow_up_due": due,
            }
        )
        log.info(
            "response_recorded",
            survey_channel=invitation.channel,
            anonymous=False,
            follow_up=follow_up,
        )
        return True

    async def _seal_for_release(
        self, connection: AsyncConnection, answer: Answer, comment: str
    ) -> None:
        """Every answer waits sealed for its release into the figures (figures.py). For an
        anonymous answer this row shares the transaction (and so `xmin`) of the
        invitation's "answered" mark: sealed, it tells nothing; released later, with
        others, in a transaction of its own."""
        await FigureStore(connection).count_received(answer.day)
        waiting = answer.sealable()
        if answer.anonymous:
            waiting["comment"] = comment
        # One size for every answer, named or anonymous, a comment or none, a score of 0 or
        # 10: a reader of the table, its dead rows, the WAL or a backup learns nothing from
        # a row's length (a match by length with the released comment is what it would be).
        await FigureStore(connection).seal(
            seal(self.core.settings.answer_seal_key, waiting, size=SEALED_BYTES)
        )

    async def _request_follow_up(
        self,
        connection: AsyncConnection,
        invitation: sa.Row[tuple[object, ...]],
        score: int | None,
        csat: int | None,
        comment: str,
    ) -> date:
        """The respondent asked to be contacted: one FollowUpRequested for the CRM, due in
        working days of the unit's country, and the unit's figures; returns the due date."""
        now = self.core.clock.now()
        settings = self.core.settings
        unit = str(invitation.unit)
        programme = settings.programmes.of(str(invitation.programme), unit)
        rules = settings.send_window_rules()
        country = programme.follow_up_country or rules.country_of(unit)
        # Working days count from the day it is where the follow-up is made, not in UTC.
        due = due_date(rules.day_in(country, now), programme.follow_up_working_days, country)
        follow_up_id = uuid.uuid4()
        await FigureStore(connection).add_follow_up(follow_up_id, unit, due, now)
        await self.core.outbox.add(
            connection,
            FOLLOW_UP_REQUESTED,
            FollowUpRequested(
                follow_up_id=follow_up_id,
                customer_id=str(invitation.customer_id),
                contact_id=invitation.contact_id,
                unit=unit,
                language=invitation.language,
                score=score,
                csat=csat,
                comment=comment,
                due_date=due,
            ),
        )
        await self.publishing.follow_up_figures_of(connection, {unit})
        return due

    async def unsubscribe(self, email: str) -> None:
        """The reader of an invitation used its unsubscribe link: ask consent to register the
        address (one-click, RFC 8058). Repeated clicks ask again; the register keeps one."""
        async with uow(self.core.engine, self.core.outbox) as work:
            await work.publish(
                OPT_OUT_REQUESTED,
                OptOutRequested(
                    source="email_unsubscribe",
                    email=email,
                    reason="unsubscribe link in a survey email",
                ),
            )
        log.info("email_unsubscribe_received")

    async def answer_sms(
        self,
        sender: str,
        text: str,
        *,
        message_id: str | None = None,
        received_at: datetime | None = None,
    ) -> SmsOutcome:
        """Handle one inbound SMS: a score for the survey it replies to, or a STOP.

        A score answers the newest invitation sent to the sender before the reply came
        (`received_at`, the partner's time; never later than ours) and still open then. With
        none known it is held for a while: its invitation may still be on its way to the
        collector; a reply that came before any survey answers nothing. The partner's
        `message_id` makes a webhook delivered twice count once.
        """
        now = self.core.clock.now()
        received = min(received_at or now, now + _CLOCK_SKEW)
        reply = parse_sms_reply(text)
        if isinstance(reply, Stop):
            async with uow(self.core.engine, self.core.outbox) as work:
                if not await self._first_sight(work.connection, message_id, received):
                    return "duplicate"
                await work.publish(
                    OPT_OUT_REQUESTED,
                    OptOutRequested(
                        source="sms_stop", phone=sender, reason="STOP reply to a survey SMS"
                    ),
                )
            log.info("sms_stop_received")
            return "opted_out"
        if not isinstance(reply, Score):
            log.info("sms_reply_unreadable")
            return "unreadable"
        async with uow(self.core.engine, self.core.outbox) as work:
            if not await self._first_sight(work.connection, message_id, received):
                return "duplicate"
            outcome = await self._answer_or_hold(work.connection, sender, reply, received, now)
        log.info("sms_reply_handled", outcome=outcome)
        return outcome

    async def _answer_or_hold(
        self,
        connection: AsyncConnection,
        sender: str,
        reply: Score,
        received: datetime,
        now: datetime,
    ) -> SmsOutcome:
        """Answer the survey the reply is for, or hold the reply (sealed) for a while."""
        refs = self.core.settings.pseudonyms(sender)
        store = InvitationStore(connection)
        found = await store.open_for_reply(refs, received, now)
        if found is not None:
            invitation_id, programme = found
            score, csat = self._reply_answers(programme, reply.value)
            if score is None and csat is None:
                return "unreadable"  # a 7 to a 1-5 question: nothing recorded, still open
            if await self.record(
                connection,
                invitation_id,
                score,
                reply.comment,
                csat,
                follow_up=wants_a_call(reply.comment),
            ):
                return "recorded"
        # Replies past their hold are dropped by the purge (and never applied).
        # Sealed to one size, its exact time inside: the row shows the number's pseudonym and
        # the hour after it came (for the purge), nothing of what it says or when exactly.
        await store.hold_reply(
            refs[0],
            received.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1),
            seal(
                self.core.settings.answer_seal_key,
                {
                    "score": reply.value,
                    "comment": reply.comment,
                    "received_at": received.isoformat(),
                },
                size=SEALED_BYTES,
            ),
        )
        return "held"

    async def _first_sight(
        self, connection: AsyncConnection, message_id: str | None, received: datetime
    ) -> bool:
        """Remember the partner's id of an inbound SMS; False when it was seen before.

        The row shares the answer's transaction, so it keeps nothing of the message: the id
        as a keyed hash (a reader of this database cannot look it up at the partner) and the
        day it came (what the purge needs), never its time."""
        if message_id is None:
            return True
        day = received.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return await InvitationStore(connection).first_sight(
            self.core.settings.pseudonym(f"inbound-sms:{message_id}"), day
        )

    async def apply_held_replies(
        self, connection: AsyncConnection, batch: Sequence[InvitationSent]
    ) -> None:
        """Answer new SMS invitations with held replies that came after they were sent (the
        collector was behind): the newest such reply per number. A reply held from before
        the invitation was sent is not for it."""
        by_ref = {sent.recipient_ref: sent for sent in batch if sent.recipient_ref is not None}
        if not by_ref:
            return
        store = InvitationStore(connection)
        key = self.core.settings.answer_seal_key
        held = []  # (row id, number's pseudonym, exact time it came, what it said)
        for row in await store.held_replies(list(by_ref), self.core.hold_cutoff()):
            opened = unseal(key, row.sealed, longest=SEALED_LENGTH)
            if opened is None:
                log.error("held_reply_unreadable")
                continue
            # The row's own time is the hour after it came; the exact one is sealed.
            came = opened.get("received_at")
            received = datetime.fromisoformat(came) if came else as_utc(row.received_at)
            held.append((row.id, row.recipient_ref, received, opened))
        held.sort(key=lambda reply: reply[2])
        latest = {  # the newest reply per number that came after its invitation was sent
            ref: (received, opened)
            for _, ref, received, opened in held
            if by_ref[ref].occurred_at <= received < by_ref[ref].expires_at
        }
        if not latest:
            return
        used = [  # the chosen ones, and older replies to the same invitation they supersede
            row_id
            for row_id, ref, received, _ in held
            if ref in latest and received >= by_ref[ref].occurred_at
        ]
        await store.drop_held(used)
        for ref, (_, opened) in latest.items():
            score, csat = self._reply_answers(by_ref[ref].programme, int(opened["score"]))
            if score is not None or csat is not None:
                await self.record(
                    connection, by_ref[ref].invitation_id, score, str(opened["comment"]), csat
                )

    def _reply_answers(self, programme: str, value: int) -> tuple[int | None, int | None]:
        """What an SMS reply's number answers: the SMS asked the programme's first question,
        NPS (0-10) or, for a programme that asks CSAT only, CSAT (1-5; any other number
        answers nothing)."""
        if self.core.settings.programmes.of(programme, "").asks_nps:
            return value, None
        return None, value if 1 <= value <= 5 else None
