"""What happens to an invitation and to an answer; the collector's composition root."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Literal

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from palaute_collector.figures import (
    COUNT_FIELDS,
    Answer,
    Cell,
    Counts,
    period_end,
    release,
)
from palaute_collector.followups import due_date, wants_a_call
from palaute_collector.scores import Score, Stop, parse_sms_reply
from palaute_collector.settings import CollectorSettings
from palaute_collector.tables import (
    MIGRATIONS,
    anonymous_comments,
    erased_people,
    figure_cells,
    follow_up_figures,
    follow_ups,
    funnel_cells,
    held_replies,
    inbound_messages,
    inbox,
    invitation_tokens,
    invitations,
    outbox,
    responses,
    sealed_answers,
)
from palaute_runtime.clock import Clock
from palaute_runtime.database import (
    as_utc,
    create_engine,
    insert_ignoring_conflicts,
    upsert,
)
from palaute_runtime.health import Health
from palaute_runtime.messaging import Handler, Inbox, Outbox, OutboxRelay, consume, create_broker
from palaute_runtime.privacy import table_rows
from palaute_runtime.retention import periodic, purge_inbox, report
from palaute_runtime.sealed import seal, unseal
from palaute_runtime.service import ServiceRuntime
from palaute_schemas import (
    ACCESS_REPORTED,
    ACCESS_REQUESTED,
    DELIVERY_STATUS,
    ERASURE_COMPLETED,
    ERASURE_REQUESTED,
    FIGURES_PUBLISHED,
    FOLLOW_UP_CLOSED,
    FOLLOW_UP_FIGURES,
    FOLLOW_UP_REQUESTED,
    FUNNEL_PUBLISHED,
    INVITATION_ANSWERED,
    INVITATION_SENT,
    OPT_OUT_REQUESTED,
    AccessReported,
    AccessRequested,
    DeliveryStatusChanged,
    ErasureCompleted,
    ErasureRequested,
    FiguresPublished,
    FollowUpClosed,
    FollowUpFigures,
    FollowUpRequested,
    FunnelPublished,
    InvitationAnswered,
    InvitationSent,
    Language,
    OptOutRequested,
    recipient_ref,
)

log = structlog.get_logger("palaute.collector")

# InvitationSent fields the collector keeps as they are.
_COPIED_FROM_INVITATION = {
    "channel",
    "language",
    "contact_channel",
    "unit",
    "contact_day",
    "anonymous",
    "recipient_ref",
    "expires_at",
    "contact_id",
}

TokenState = Literal["open", "answered", "expired", "unknown"]
SmsOutcome = Literal["recorded", "opted_out", "unreadable", "held", "duplicate"]
# A partner's clock ahead of ours must not let a reply answer a survey sent after it came.
_CLOCK_SKEW = timedelta(minutes=5)
# How long the partner's message ids are remembered (its webhook retries within hours).
_REMEMBER_INBOUND = timedelta(days=7)
# Replicas on one PostgreSQL database release answers into the figures one at a time.
_FIGURES_LOCK = 0x616E_6F6E_666F_6C64
_shuffle = secrets.SystemRandom().shuffle


@dataclass(frozen=True)
class OpenSurvey:
    """What the survey page needs to know about the invitation behind a token."""

    invitation_id: uuid.UUID
    language: Language
    state: TokenState
    contact_channel: str  # what the survey is about: the contact's channel and day
    contact_day: date
    anonymous: bool = False  # an anonymous survey offers no follow-up


class CollectorService:
    """Records invitations and answers, keeps the figures, queues what is published."""

    def __init__(
        self, engine: AsyncEngine, settings: CollectorSettings, clock: Clock | None = None
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock or settings.clock()
        self.outbox = Outbox(outbox)
        self._inbox = Inbox(inbox, "collector.invitation-sent")
        self._follow_ups_inbox = Inbox(inbox, "collector.follow-up-closed")
        self._delivery_inbox = Inbox(inbox, "collector.delivery-status")
        self._erasure_inbox = Inbox(inbox, "collector.erasure-requested")
        self._access_inbox = Inbox(inbox, "collector.access-requested")
        self._figures_lock = asyncio.Lock()

    def _pseudonyms(self, customer_id: str | None, ref: str | None) -> list[str]:
        """How an erased person is remembered: keyed pseudonyms, never the identifiers."""
        named = [recipient_ref(self.settings.recipient_pepper, f"customer:{customer_id}")]
        return (named if customer_id else []) + ([ref] if ref else [])

    async def _not_erased(
        self, connection: AsyncConnection, batch: Sequence[InvitationSent]
    ) -> list[InvitationSent]:
        """The invitations whose person was not erased while they were on their way."""
        wanted = {
            p: sent
            for sent in batch
            for p in self._pseudonyms(sent.customer_id, sent.recipient_ref)
        }
        if not wanted:
            return list(batch)
        erased = set(
            await connection.scalars(
                sa.select(erased_people.c.pseudonym).where(erased_people.c.pseudonym.in_(wanted))
            )
        )
        dropped = {id(wanted[p]) for p in erased}
        if dropped:
            log.info("invitations_of_erased_people_dropped", count=len(dropped))
        return [sent for sent in batch if id(sent) not in dropped]

    async def handle_invitations_sent(self, batch: Sequence[InvitationSent]) -> None:
        """Remember invitations so that their tokens or SMS replies can be answered."""
        async with self.engine.begin() as connection:
            fresh = await self._inbox.new_messages(connection, batch)
            fresh = await self._not_erased(connection, fresh)
            if fresh:
                await connection.execute(
                    invitations.insert(),
                    [
                        {
                            "id": sent.invitation_id,
                            "customer_id": None if sent.anonymous else sent.customer_id,
                            "sent_at": sent.occurred_at,
                            **sent.model_dump(include=_COPIED_FROM_INVITATION),
                        }
                        for sent in fresh
                    ],
                )
                tokens = [
                    {"token_hash": token_hash, "invitation_id": sent.invitation_id}
                    for sent in fresh
                    for token_hash in sent.token_hashes
                ]
                if tokens:
                    await connection.execute(invitation_tokens.insert(), tokens)
                await self._apply_held_replies(connection, fresh)
                sent = Counter((one.contact_day, one.channel) for one in fresh)
                for (day, channel), count in sent.items():
                    await self._funnel(connection, day, channel, sent=count)
        self.outbox.committed()
        log.info("invitations_recorded", invitations=len(batch), new=len(fresh))

    async def handle_delivery_statuses(self, batch: Sequence[DeliveryStatusChanged]) -> None:
        """The partner's receipts, as the dispatcher published them: counted in the funnel."""
        async with self.engine.begin() as connection:
            fresh = await self._delivery_inbox.new_messages(connection, batch)
            outcomes = Counter(
                (one.contact_day, one.channel, one.status == "delivered") for one in fresh
            )
            for (day, channel, delivered), count in outcomes.items():
                if delivered:
                    await self._funnel(connection, day, channel, delivered=count)
                else:
                    await self._funnel(connection, day, channel, undelivered=count)
        log.info("delivery_statuses_counted", statuses=len(batch), new=len(fresh))

    async def mark_opened(self, invitation_id: uuid.UUID) -> None:
        """The survey page was shown for an invitation: counted once in the funnel."""
        async with self.engine.begin() as connection:
            row = (
                await connection.execute(
                    invitations.update()
                    .where(invitations.c.id == invitation_id, invitations.c.opened.is_(False))
                    .values(opened=True)
                    .returning(invitations.c.contact_day, invitations.c.channel)
                )
            ).first()
            if row is not None:
                await self._funnel(connection, row.contact_day, row.channel, opened=1)

    async def _funnel(
        self, connection: AsyncConnection, day: date, channel: str, **counts: int
    ) -> None:
        """Add to one funnel cell's counts and mark it for publishing."""
        cells = funnel_cells.c
        statement = upsert(connection, funnel_cells).values(
            day=day, channel=channel, changed=True, **counts
        )
        await connection.execute(
            statement.on_conflict_do_update(
                index_elements=[cells.day, cells.channel],
                set_={
                    "changed": True,
                    **{name: getattr(cells, name) + value for name, value in counts.items()},
                },
            )
        )

    async def publish_funnel(self) -> int:
        """Publish every funnel cell that changed since it was last published; the counts
        derived from answers only from the minimum group size on. Returns how many."""
        minimum = self.settings.min_group_size
        async with self.engine.begin() as connection:
            changed = (
                await connection.execute(
                    funnel_cells.update()
                    .where(funnel_cells.c.changed.is_(True))
                    .values(changed=False)
                    .returning(*funnel_cells.c)
                )
            ).all()
            await self.outbox.add_all(
                connection,
                FUNNEL_PUBLISHED,
                [
                    FunnelPublished(
                        day=cell.day,
                        channel=cell.channel,
                        sent=cell.sent,
                        delivered=cell.delivered,
                        undelivered=cell.undelivered,
                        opened=cell.opened,
                        answered=cell.answered if cell.answered >= minimum else None,
                        response_rate=(
                            round(100.0 * min(cell.answered, cell.sent) / cell.sent, 1)
                            if cell.answered >= minimum and cell.sent
                            else None
                        ),
                    )
                    for cell in changed
                ],
            )
        if changed:
            self.outbox.committed()
        return len(changed)

    def _ref_of(self, request: ErasureRequested | AccessRequested) -> str | None:
        """The pseudonym the collector knows an SMS number by."""
        return (
            recipient_ref(self.settings.recipient_pepper, request.phone) if request.phone else None
        )

    async def _invitations_of(
        self, connection: AsyncConnection, request: ErasureRequested | AccessRequested
    ) -> list[uuid.UUID]:
        """The invitations to the person: by customer id (named surveys) or SMS number."""
        conditions = []
        if request.customer_id:
            conditions.append(invitations.c.customer_id == request.customer_id)
        ref = self._ref_of(request)
        if ref:
            conditions.append(invitations.c.recipient_ref == ref)
        if not conditions:
            return []
        return list(
            await connection.scalars(sa.select(invitations.c.id).where(sa.or_(*conditions)))
        )

    def _responses_of(
        self, request: ErasureRequested | AccessRequested, ids: list[uuid.UUID]
    ) -> sa.ColumnElement[bool]:
        conditions: list[sa.ColumnElement[bool]] = [responses.c.invitation_id.in_(ids)]
        if request.customer_id:
            conditions.append(responses.c.customer_id == request.customer_id)
        return sa.or_(*conditions)

    async def handle_erasure_requests(self, batch: Sequence[ErasureRequested]) -> None:
        """Delete the person's invitations and tokens, named answers with their comments, and
        held SMS replies. The figures stay: they hold no person (anonymous answers never had a
        row to find)."""
        async with self.engine.begin() as connection:
            fresh = await self._erasure_inbox.new_messages(connection, batch)
            for request in fresh:
                remembered = [
                    {"pseudonym": p, "erased_at": self.clock.now()}
                    for p in self._pseudonyms(request.customer_id, self._ref_of(request))
                ]
                if remembered:
                    await connection.execute(
                        insert_ignoring_conflicts(connection, erased_people), remembered
                    )
                ids = await self._invitations_of(connection, request)
                erased = {
                    "responses": (
                        await connection.execute(
                            responses.delete().where(self._responses_of(request, ids))
                        )
                    ).rowcount,
                    "tokens": (
                        await connection.execute(
                            invitation_tokens.delete().where(
                                invitation_tokens.c.invitation_id.in_(ids)
                            )
                        )
                    ).rowcount,
                    "invitations": (
                        await connection.execute(
                            invitations.delete().where(invitations.c.id.in_(ids))
                        )
                    ).rowcount,
                    "held_replies": (
                        await connection.execute(
                            held_replies.delete().where(
                                held_replies.c.recipient_ref == self._ref_of(request)
                            )
                        )
                    ).rowcount,
                }
                await self.outbox.add(
                    connection,
                    ERASURE_COMPLETED,
                    ErasureCompleted(
                        request_id=request.request_id,
                        service="collector",
                        erased={name: int(count or 0) for name, count in erased.items()},
                    ),
                )
        self.outbox.committed()
        log.info("erasure_requests_done", requests=len(fresh))

    async def handle_access_requests(self, batch: Sequence[AccessRequested]) -> None:
        """Report the person's invitations, named answers (scores and comments) and held
        SMS replies (opened)."""
        async with self.engine.begin() as connection:
            fresh = await self._access_inbox.new_messages(connection, batch)
            for request in fresh:
                ids = await self._invitations_of(connection, request)
                held = await connection.execute(
                    sa.select(held_replies).where(
                        held_replies.c.recipient_ref == self._ref_of(request)
                    )
                )
                report = {
                    "invitations": table_rows(
                        await connection.execute(
                            sa.select(invitations).where(invitations.c.id.in_(ids))
                        )
                    ),
                    "responses": table_rows(
                        await connection.execute(
                            sa.select(responses).where(self._responses_of(request, ids))
                        )
                    ),
                    "held_replies": [
                        {
                            "received_at": as_utc(row.received_at).isoformat(),
                            **(unseal(self.settings.answer_seal_key, row.sealed) or {}),
                        }
                        for row in held
                    ],
                }
                await self.outbox.add(
                    connection,
                    ACCESS_REPORTED,
                    AccessReported(request_id=request.request_id, service="collector", held=report),
                )
        self.outbox.committed()
        log.info("access_requests_done", requests=len(fresh))

    async def purge(self) -> dict[str, int]:
        """Forget what is no longer needed: invitations and their tokens
        PALAUTE_KEEP_INVITATIONS_DAYS after their survey closed; a named answer's link to
        its invitation and customer, and its comment, after PALAUTE_KEEP_RESPONSE_LINKS_MONTHS;
        held SMS replies past their hold; the partner's message ids after a week; consumed
        message ids. Logs the counts."""
        now = self.clock.now()
        closed_before = now - timedelta(days=self.settings.keep_invitations_days)
        linked_before = now - timedelta(days=30 * self.settings.keep_response_links_months)
        async with self.engine.begin() as connection:
            old = sa.select(invitations.c.id).where(invitations.c.expires_at < closed_before)
            tokens = await connection.execute(
                invitation_tokens.delete().where(invitation_tokens.c.invitation_id.in_(old))
            )
            gone = await connection.execute(
                invitations.delete().where(invitations.c.expires_at < closed_before)
            )
            unlinked = await connection.execute(
                responses.update()
                .where(responses.c.answered_at < linked_before)
                .values(invitation_id=None, customer_id=None, answered_at=None, comment="")
            )
            held = await connection.execute(
                held_replies.delete().where(held_replies.c.received_at < self._hold_cutoff())
            )
            forgotten = await connection.execute(
                erased_people.delete().where(erased_people.c.erased_at < closed_before)
            )
            seen = await connection.execute(
                inbound_messages.delete().where(
                    inbound_messages.c.received_at < now - _REMEMBER_INBOUND
                )
            )
            counts = {
                "invitations": int(gone.rowcount or 0),
                "tokens": int(tokens.rowcount or 0),
                "response_links": int(unlinked.rowcount or 0),
                "held_replies": int(held.rowcount or 0),
                "inbound_ids": int(seen.rowcount or 0),
                "erased_people": int(forgotten.rowcount or 0),
                "inbox": await purge_inbox(connection, inbox, self.clock.now()),
            }
        report("collector", counts)
        return counts

    async def survey_for_token(self, token_hash: str) -> OpenSurvey | None:
        """The invitation behind a token, and whether it can still be answered."""
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(
                    sa.select(invitations)
                    .join(invitation_tokens, invitation_tokens.c.invitation_id == invitations.c.id)
                    .where(invitation_tokens.c.token_hash == token_hash)
                )
            ).first()
        if row is None:
            return None
        state: TokenState = "open"
        if row.answered:
            state = "answered"
        elif as_utc(row.expires_at) <= self.clock.now():
            state = "expired"
        return OpenSurvey(
            row.id, row.language, state, row.contact_channel, row.contact_day, row.anonymous
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
        async with self.engine.begin() as connection:
            recorded = await self._record_answer(
                connection, invitation_id, score, comment, csat, follow_up=follow_up
            )
        if recorded:
            self.outbox.committed()
        return recorded

    async def _record_answer(
        self,
        connection: AsyncConnection,
        invitation_id: uuid.UUID,
        score: int | None,
        comment: str,
        csat: int | None = None,
        *,
        follow_up: bool = False,
    ) -> bool:
        # Claim and read in one statement: a second answer finds the invitation answered.
        invitation = (
            await connection.execute(
                invitations.update()
                .where(
                    invitations.c.id == invitation_id,
                    invitations.c.answered.is_(False),
                    invitations.c.expires_at > self.clock.now(),
                )
                .values(answered=True)
                .returning(*invitations.c)
            )
        ).first()
        if invitation is None:
            return False
        await self._funnel(connection, invitation.contact_day, invitation.channel, answered=1)
        # The dispatcher sends no reminder for it; nothing of the answer goes with it.
        await self.outbox.add(
            connection, INVITATION_ANSWERED, InvitationAnswered(invitation_id=invitation.id)
        )
        # Every answer waits sealed for its release into the figures (figures.py). For an
        # anonymous answer this row shares the transaction (and so `xmin`) of the
        # invitation's "answered" mark: sealed, it tells nothing; released later, with
        # others, in a transaction of its own.
        answer = Answer(
            day=invitation.contact_day,
            contact_channel=invitation.contact_channel,
            survey_channel=invitation.channel,
            language=invitation.language,
            unit=invitation.unit,
            score=score,
            csat=csat,
            anonymous=invitation.anonymous,
        )
        waiting = answer.sealable()
        if invitation.anonymous:
            waiting["comment"] = comment
        await connection.execute(
            sealed_answers.insert().values(
                id=uuid.uuid4(), sealed=seal(self.settings.answer_seal_key, waiting)
            )
        )
        if invitation.anonymous:
            log.info("response_recorded", survey_channel=invitation.channel, anonymous=True)
            return True
        await connection.execute(
            responses.insert().values(
                id=uuid.uuid4(),
                comment=comment,
                invitation_id=invitation.id,
                customer_id=invitation.customer_id,
                **asdict(answer),
                answered_at=self.clock.now(),
            )
        )
        if follow_up and invitation.customer_id:
            await self._request_follow_up(connection, invitation, score, csat, comment)
        log.info(
            "response_recorded",
            survey_channel=invitation.channel,
            anonymous=False,
            follow_up=follow_up,
        )
        return True

    async def _request_follow_up(
        self,
        connection: AsyncConnection,
        invitation: sa.Row[tuple[object, ...]],
        score: int | None,
        csat: int | None,
        comment: str,
    ) -> None:
        """The respondent asked to be contacted: one FollowUpRequested for the CRM, due in
        working days of the unit's country, and the unit's figures."""
        now = self.clock.now()
        unit = str(invitation.unit)
        due = due_date(
            now.date(), self.settings.follow_up_working_days, self.settings.country_of(unit)
        )
        follow_up_id = uuid.uuid4()
        await connection.execute(
            follow_ups.insert().values(id=follow_up_id, unit=unit, due_date=due, requested_at=now)
        )
        await self.outbox.add(
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
        await self._publish_follow_up_figures(connection, {unit}, now.date())

    async def handle_follow_ups_closed(self, batch: Sequence[FollowUpClosed]) -> None:
        """The CRM handled follow-ups: they are no longer open."""
        async with self.engine.begin() as connection:
            fresh = await self._follow_ups_inbox.new_messages(connection, batch)
            units: set[str] = set()
            for closed in fresh:
                unit = await connection.scalar(
                    follow_ups.update()
                    .where(follow_ups.c.id == closed.follow_up_id, follow_ups.c.closed_at.is_(None))
                    .values(closed_at=closed.closed_at)
                    .returning(follow_ups.c.unit)
                )
                if unit is not None:
                    units.add(unit)
            await self._publish_follow_up_figures(connection, units, self.clock.now().date())
        self.outbox.committed()
        log.info("follow_ups_closed", closed=len(fresh), units=len(units))

    async def publish_follow_up_figures(self, today: date | None = None) -> int:
        """Publish the figures of every unit whose open or overdue count changed (a
        follow-up turns overdue with the date); returns how many units were published."""
        async with self.engine.begin() as connection:
            units = set(await connection.scalars(sa.select(follow_up_figures.c.unit)))
            units |= set(
                await connection.scalars(
                    sa.select(follow_ups.c.unit).where(follow_ups.c.closed_at.is_(None)).distinct()
                )
            )
            published = await self._publish_follow_up_figures(
                connection, units, today or self.clock.now().date()
            )
        if published:
            self.outbox.committed()
        return published

    async def _publish_follow_up_figures(
        self, connection: AsyncConnection, units: set[str], today: date
    ) -> int:
        published = 0
        for unit in sorted(units):
            open_now = int(
                await connection.scalar(
                    sa.select(sa.func.count()).where(
                        follow_ups.c.unit == unit, follow_ups.c.closed_at.is_(None)
                    )
                )
                or 0
            )
            overdue = int(
                await connection.scalar(
                    sa.select(sa.func.count()).where(
                        follow_ups.c.unit == unit,
                        follow_ups.c.closed_at.is_(None),
                        follow_ups.c.due_date < today,
                    )
                )
                or 0
            )
            last = (
                await connection.execute(
                    sa.select(follow_up_figures).where(follow_up_figures.c.unit == unit)
                )
            ).first()
            if last is not None and (last.open, last.overdue) == (open_now, overdue):
                continue
            statement = upsert(connection, follow_up_figures).values(
                unit=unit, open=open_now, overdue=overdue
            )
            await connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[follow_up_figures.c.unit],
                    set_={"open": open_now, "overdue": overdue},
                )
            )
            await self.outbox.add(
                connection,
                FOLLOW_UP_FIGURES,
                FollowUpFigures(unit=unit, open=open_now, overdue=overdue),
            )
            published += 1
        return published

    async def publish_figures(self, today: date | None = None) -> int:
        """Release what may be released of the waiting answers into the figures, mark the
        periods whose surveys have all closed final, and publish every cell that changed.
        All in one transaction of its own, apart from any answer's. Returns how many cell
        revisions were published."""
        today = today or self.clock.now().date()
        min_group = self.settings.min_group_size
        async with self._figures_lock, self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_FIGURES_LOCK)))
            final = await self._final_days(connection, today)
            waiting = []
            for row in (await connection.execute(sa.select(sealed_answers))).all():
                opened = unseal(self.settings.answer_seal_key, row.sealed)
                if opened is None:  # kept: a key mix-up must not lose answers
                    log.error("sealed_answer_unreadable")
                    continue
                waiting.append((row.id, Answer.unsealed(opened), str(opened.get("comment", ""))))
            of_open_days = [one for one in waiting if not final(one[1].day)]
            of_final_days = [one for one in waiting if final(one[1].day)]
            by_day = release([answer for _, answer, _ in of_open_days], min_group, "day")
            by_month = release([answer for _, answer, _ in of_final_days], min_group, "month")
            released = [of_open_days[n] for n in by_day.released] + [
                of_final_days[n] for n in by_month.released
            ]
            changed: dict[Cell, Counts] = by_day.counts
            for cell, counts in by_month.counts.items():
                changed.setdefault(cell, Counts()).add(counts)
            published = 0
            for cell in sorted(changed):
                published += await self._add_to_cell(connection, cell, changed[cell])
            published += await self._finalize(connection, final)
            # A month whose days are all final takes no more answers: what it could not
            # release is never published (each such cell had fewer than the minimum).
            taken = set(by_month.released)
            never = [
                one
                for n, one in enumerate(of_final_days)
                if n not in taken and final(period_end("month", one[1].day))
            ]
            gone = released + never
            if gone:
                await connection.execute(
                    sealed_answers.delete().where(sealed_answers.c.id.in_([i for i, _, _ in gone]))
                )
            comments = [{"id": uuid.uuid4(), "comment": text} for _, a, text in gone if text]
            _shuffle(comments)
            if comments:
                await connection.execute(anonymous_comments.insert(), comments)
        if published:
            self.outbox.committed()
        if gone:
            log.info(
                "figures_released",
                released=len(released),
                never_published=len(never),
                waiting=len(waiting) - len(gone),
                revisions=published,
            )
        return published

    async def _final_days(self, connection: AsyncConnection, today: date) -> Callable[[date], bool]:
        """Whether a contact day is final: none of its invitations open, and old enough that
        no invitation of it can still come."""
        open_days = set(
            await connection.scalars(
                sa.select(invitations.c.contact_day)
                .where(invitations.c.expires_at > self.clock.now())
                .distinct()
            )
        )
        horizon = today - timedelta(days=self.settings.figures_final_after_days)
        return lambda day: day <= horizon and day not in open_days

    async def _add_to_cell(self, connection: AsyncConnection, cell: Cell, counts: Counts) -> int:
        """Add released counts to a cell and publish its new revision."""
        added = counts.as_dict()
        key = {
            "grain": cell.grain,
            "period_start": cell.period_start,
            "dimension": cell.dimension,
            "value": cell.value,
        }
        columns = figure_cells.c
        statement = upsert(connection, figure_cells).values(**key, **added, revision=1)
        row = (
            await connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[
                        columns.grain,
                        columns.period_start,
                        columns.dimension,
                        columns.value,
                    ],
                    set_={
                        **{name: getattr(columns, name) + value for name, value in added.items()},
                        "revision": columns.revision + 1,
                    },
                ).returning(*figure_cells.c)
            )
        ).one()
        await self.outbox.add(connection, FIGURES_PUBLISHED, _figures_record(row))
        return 1

    async def _finalize(self, connection: AsyncConnection, final: Callable[[date], bool]) -> int:
        """Mark final, with a revision of their own, the cells of periods all of whose days
        are final."""
        columns = figure_cells.c
        periods = (
            await connection.execute(
                sa.select(columns.grain, columns.period_start)
                .where(columns.final.is_(False))
                .distinct()
            )
        ).all()
        published = 0
        for grain, start in periods:
            days = (period_end(grain, start) - start).days + 1
            if not all(final(start + timedelta(days=n)) for n in range(days)):
                continue
            rows = (
                await connection.execute(
                    figure_cells.update()
                    .where(columns.grain == grain, columns.period_start == start)
                    .values(final=True, revision=columns.revision + 1)
                    .returning(*figure_cells.c)
                )
            ).all()
            for row in rows:
                await self.outbox.add(connection, FIGURES_PUBLISHED, _figures_record(row))
            published += len(rows)
        return published

    async def unsubscribe(self, email: str) -> None:
        """The reader of an invitation used its unsubscribe link: ask consent to register the
        address (one-click, RFC 8058). Repeated clicks ask again; the register keeps one."""
        async with self.engine.begin() as connection:
            await self.outbox.add(
                connection,
                OPT_OUT_REQUESTED,
                OptOutRequested(
                    source="email_unsubscribe",
                    email=email,
                    reason="unsubscribe link in a survey email",
                ),
            )
        self.outbox.committed()
        log.info("email_unsubscribe_received")

    async def _first_sight(
        self, connection: AsyncConnection, message_id: str | None, received: datetime
    ) -> bool:
        """Remember the partner's id of an inbound SMS; False when it was seen before."""
        if message_id is None:
            return True
        inserted = await connection.execute(
            insert_ignoring_conflicts(connection, inbound_messages).values(
                partner_message_id=message_id, received_at=received
            )
        )
        return bool(inserted.rowcount)

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
        now = self.clock.now()
        received = min(received_at or now, now + _CLOCK_SKEW)
        reply = parse_sms_reply(text)
        if isinstance(reply, Stop):
            async with self.engine.begin() as connection:
                if not await self._first_sight(connection, message_id, received):
                    return "duplicate"
                await self.outbox.add(
                    connection,
                    OPT_OUT_REQUESTED,
                    OptOutRequested(
                        source="sms_stop", phone=sender, reason="STOP reply to a survey SMS"
                    ),
                )
            self.outbox.committed()
            log.info("sms_stop_received")
            return "opted_out"
        if not isinstance(reply, Score):
            log.info("sms_reply_unreadable")
            return "unreadable"
        ref = recipient_ref(self.settings.recipient_pepper, sender)
        async with self.engine.begin() as connection:
            if not await self._first_sight(connection, message_id, received):
                return "duplicate"
            invitation_id = await connection.scalar(
                sa.select(invitations.c.id)
                .where(
                    invitations.c.recipient_ref == ref,
                    invitations.c.answered.is_(False),
                    invitations.c.sent_at <= received,
                    invitations.c.expires_at > max(received, now),
                )
                .order_by(invitations.c.sent_at.desc())
                .limit(1)
            )
            if invitation_id is not None and await self._record_answer(
                connection,
                invitation_id,
                reply.value,
                reply.comment,
                follow_up=wants_a_call(reply.comment),
            ):
                outcome: SmsOutcome = "recorded"
            else:
                # Replies past their hold are dropped by the purge (and never applied).
                await connection.execute(
                    held_replies.insert().values(
                        recipient_ref=ref,
                        received_at=received,
                        sealed=seal(
                            self.settings.answer_seal_key,
                            {"score": reply.value, "comment": reply.comment},
                        ),
                    )
                )
                outcome = "held"
        self.outbox.committed()
        log.info("sms_reply_handled", outcome=outcome)
        return outcome

    def _hold_cutoff(self) -> datetime:
        return self.clock.now() - timedelta(minutes=self.settings.reply_hold_minutes)

    async def _apply_held_replies(
        self, connection: AsyncConnection, batch: Sequence[InvitationSent]
    ) -> None:
        """Answer new SMS invitations with held replies that came after they were sent (the
        collector was behind): the newest such reply per number. A reply held from before
        the invitation was sent is not for it."""
        by_ref = {sent.recipient_ref: sent for sent in batch if sent.recipient_ref is not None}
        if not by_ref:
            return
        held = (
            await connection.execute(
                sa.select(held_replies)
                .where(
                    held_replies.c.recipient_ref.in_(by_ref),
                    held_replies.c.received_at >= self._hold_cutoff(),
                )
                .order_by(held_replies.c.received_at)
            )
        ).all()
        latest = {  # the newest reply per number that came after its invitation was sent
            row.recipient_ref: row
            for row in held
            if by_ref[row.recipient_ref].occurred_at
            <= as_utc(row.received_at)
            < by_ref[row.recipient_ref].expires_at
        }
        if not latest:
            return
        used = [  # the chosen ones, and older replies to the same invitation they supersede
            row.id
            for row in held
            if row.recipient_ref in latest
            and as_utc(row.received_at) >= by_ref[row.recipient_ref].occurred_at
        ]
        await connection.execute(held_replies.delete().where(held_replies.c.id.in_(used)))
        for ref, reply in latest.items():
            opened = unseal(self.settings.answer_seal_key, reply.sealed)
            if opened is None:
                log.error("held_reply_unreadable")
                continue
            await self._record_answer(
                connection,
                by_ref[ref].invitation_id,
                int(opened["score"]),
                str(opened["comment"]),
            )


def _figures_record(row: sa.Row[tuple[object, ...]]) -> FiguresPublished:
    """The published record of one figure cell's row."""
    cell = Cell(row.grain, row.period_start, row.dimension, row.value)
    counts = Counts(**{name: int(getattr(row, name)) for name in COUNT_FIELDS})
    return FiguresPublished(
        grain=cell.grain,
        period=cell.period,
        period_start=cell.period_start,
        dimension=cell.dimension,
        value=cell.value,
        revision=row.revision,
        final=row.final,
        nps=counts.nps,
        csat=counts.csat,
        **counts.as_dict(),
    )


def build(settings: CollectorSettings) -> tuple[ServiceRuntime, CollectorService]:
    """Wire the collector: database, consumer, survey page and webhook, outbox relay."""
    from palaute_collector.web import routes  # the web layer imports this module

    engine = create_engine(settings.database_url)
    service = CollectorService(engine, settings)
    broker = create_broker(settings, client_id="palaute-collector")
    health = Health("collector")
    consume(
        broker,
        Handler(INVITATION_SENT, service.handle_invitations_sent),
        Handler(FOLLOW_UP_CLOSED, service.handle_follow_ups_closed),
        Handler(DELIVERY_STATUS, service.handle_delivery_statuses),
        Handler(ERASURE_REQUESTED, service.handle_erasure_requests),
        Handler(ACCESS_REQUESTED, service.handle_access_requests),
        group_id="palaute-collector",
        settings=settings,
        health=health,
    )
    relay = OutboxRelay(engine, service.outbox, outbox, settings, "palaute-collector")
    runtime = ServiceRuntime(
        "collector",
        engine=engine,
        migrations=MIGRATIONS,
        broker=broker,
        host=settings.collector_host,
        port=settings.collector_port,
        routes=routes(service),
        health=health,
        loops=[
            relay.run,
            # Overdue follow-ups change with the date: looked at every ten minutes.
            periodic("follow_up_figures", 600.0, service.publish_follow_up_figures),
            periodic("funnel", settings.funnel_publish_seconds, service.publish_funnel),
            periodic("figures", settings.figures_publish_seconds, service.publish_figures),
            periodic("purge", settings.purge_interval_seconds, service.purge),
        ],
    )
    return runtime, service
