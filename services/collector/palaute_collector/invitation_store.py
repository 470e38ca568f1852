"""The repository of what the collector keeps about people: invitations and their token
hashes, named answers, SMS replies held for an invitation still on its way, the partner's
inbound message ids, and the pseudonyms of erased people. Every statement on those tables,
inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_collector.scores import category
from palaute_collector.tables import (
    erased_people,
    held_replies,
    inbound_messages,
    invitation_tokens,
    invitations,
    responses,
)
from palaute_runtime.database import Row, insert_ignoring_conflicts, rowcount
from palaute_runtime.privacy import table_rows

# The NPS bands' scores, as scores.category draws them (detractors 0-6, passives 7-8,
# promoters 9-10).
BANDS: dict[str, list[int]] = {
    band: [score for score in range(11) if category(score) == band]
    for band in ("detractor", "passive", "promoter")
}


@dataclass(frozen=True)
class CommentFilter:
    """Which comments the staff's reader asks for."""

    unit: str = ""
    programme: str = ""
    band: str = ""  # a key of BANDS, or "" for any
    first: date | None = None
    last: date | None = None

    @property
    def narrowed(self) -> bool:
        """Whether anything narrows it (anonymous comments carry no unit, time or score)."""
        return bool(self.unit or self.programme or self.band or self.first or self.last)


class InvitationStore:
    """Invitations, tokens, named answers and SMS replies in one transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    # ---- invitations ---------------------------------------------------------------------

    async def add(
        self, rows: Sequence[Mapping[str, Any]], tokens: Sequence[Mapping[str, Any]]
    ) -> None:
        """New invitations and their token hashes."""
        if rows:
            await self.connection.execute(invitations.insert(), list(rows))
        if tokens:
            await self.connection.execute(invitation_tokens.insert(), list(tokens))

    async def add_tokens(self, tokens: Mapping[uuid.UUID, Sequence[str]]) -> int:
        """More tokens for invitations already here (a reminder's link; invitation id ->
        token hashes); invitations no longer here (erased, purged) get none. How many."""
        known = set(
            await self.connection.scalars(
                sa.select(invitations.c.id).where(invitations.c.id.in_(list(tokens)))
            )
        )
        rows = [
            {"token_hash": digest, "invitation_id": key}
            for key, digests in tokens.items()
            if key in known
            for digest in digests
        ]
        if rows:
            await self.connection.execute(
                insert_ignoring_conflicts(self.connection, invitation_tokens), rows
            )
        return len(rows)

    async def by_token(self, token_hash: str) -> Row | None:
        """The invitation behind a token's hash."""
        return (
            await self.connection.execute(
                sa.select(invitations)
                .join(invitation_tokens, invitation_tokens.c.invitation_id == invitations.c.id)
                .where(invitation_tokens.c.token_hash == token_hash)
            )
        ).first()

    async def opened(self, invitation_id: uuid.UUID) -> Row | None:
        """Mark an invitation's page opened: its funnel cell (contact day, channel,
        programme) the first time, else None."""
        return (
            await self.connection.execute(
                invitations.update()
                .where(invitations.c.id == invitation_id, invitations.c.opened.is_(False))
                .values(opened=True)
                .returning(
                    invitations.c.contact_day, invitations.c.channel, invitations.c.programme
                )
            )
        ).first()

    async def claim_answer(self, invitation_id: uuid.UUID, now: datetime) -> Row | None:
        """Mark an open invitation answered and return it; None when it was answered or
        has expired (claim and read in one statement: a second answer finds it answered)."""
        return (
            await self.connection.execute(
                invitations.update()
                .where(
                    invitations.c.id == invitation_id,
                    invitations.c.answered.is_(False),
                    invitations.c.expires_at > now,
                )
                .values(answered=True)
                .returning(*invitations.c)
            )
        ).first()

    async def open_for_reply(
        self, refs: Sequence[str], received: datetime, now: datetime
    ) -> tuple[uuid.UUID, str] | None:
        """The newest unanswered invitation sent to an SMS number (its pseudonyms) before a
        reply came and open then and now: its id and programme."""
        found = (
            await self.connection.execute(
                sa.select(invitations.c.id, invitations.c.programme)
                .where(
                    invitations.c.recipient_ref.in_(refs),
                    invitations.c.answered.is_(False),
                    invitations.c.sent_at <= received,
                    invitations.c.expires_at > max(received, now),
                )
                .order_by(invitations.c.sent_at.desc())
                .limit(1)
            )
        ).first()
        return None if found is None else (found.id, found.programme)

    async def open_contact_days(self, now: datetime) -> set[Any]:
        """The contact days some invitation of which is still open."""
        return set(
            await self.connection.scalars(
                sa.select(invitations.c.contact_day)
                .where(invitations.c.expires_at > now)
                .distinct()
            )
        )

    # ---- named answers -------------------------------------------------------------------

    async def add_response(self, values: Mapping[str, Any]) -> None:
        await self.connection.execute(responses.insert().values(**values))

    async def named_comments(self, wanted: CommentFilter, limit: int) -> list[Row]:
        """Named answers with a comment, newest contact day first, as `wanted` narrows them."""
        columns = responses.c
        query = sa.select(responses).where(columns.comment != "", columns.anonymous.is_(False))
        if wanted.unit:
            query = query.where(columns.unit == wanted.unit)
        if wanted.programme:
            query = query.where(columns.programme == wanted.programme)
        if wanted.first is not None:
            query = query.where(columns.day >= wanted.first)
        if wanted.last is not None:
            query = query.where(columns.day <= wanted.last)
        if wanted.band:
            query = query.where(columns.score.in_(BANDS[wanted.band]))
        query = query.order_by(columns.day.desc(), columns.answered_at.desc()).limit(limit)
        return list((await self.connection.execute(query)).all())

    # ---- SMS replies ---------------------------------------------------------------------

    async def first_sight(self, message_id: str, received: datetime) -> bool:
        """Remember the partner's id of an inbound SMS; False when it was seen before."""
        inserted = await self.connection.execute(
            insert_ignoring_conflicts(self.connection, inbound_messages).values(
                partner_message_id=message_id, received_at=received
            )
        )
        return bool(inserted.rowcount)

    async def hold_reply(self, ref: str, received: datetime, sealed: str) -> None:
        await self.connection.execute(
            held_replies.insert().values(recipient_ref=ref, received_at=received, sealed=sealed)
        )

    async def held_replies(self, refs: Collection[str], since: datetime) -> list[Row]:
        """Replies held for these numbers since `since`, oldest first."""
        return list(
            (
                await self.connection.execute(
                    sa.select(held_replies)
                    .where(
                        held_replies.c.recipient_ref.in_(refs), held_replies.c.received_at >= since
                    )
                    .order_by(held_replies.c.received_at)
                )
            ).all()
        )

    async def drop_held(self, ids: Collection[int]) -> None:
        if ids:
            await self.connection.execute(held_replies.delete().where(held_replies.c.id.in_(ids)))

    # ---- erased people -------------------------------------------------------------------

    async def erased_among(self, pseudonyms: Collection[str]) -> set[str]:
        """Which of these pseudonyms belong to people erased lately."""
        return set(
            await self.connection.scalars(
                sa.select(erased_people.c.pseudonym).where(
                    erased_people.c.pseudonym.in_(pseudonyms)
                )
            )
        )

    # ---- the person's rights and retention -----------------------------------------------

    async def _invitations_of(
        self, customer_id: str | None, refs: Sequence[str]
    ) -> list[uuid.UUID]:
        """The invitations to a person: by customer id (named surveys) or SMS number (its
        pseudonyms under every pepper still listed)."""
        conditions = []
        if customer_id:
            conditions.append(invitations.c.customer_id == customer_id)
        if refs:
            conditions.append(invitations.c.recipient_ref.in_(refs))
        if not conditions:
            return []
        return list(
            await self.connection.scalars(sa.select(invitations.c.id).where(sa.or_(*conditions)))
        )

    @staticmethod
    def _responses_of(customer_id: str | None, ids: list[uuid.UUID]) -> sa.ColumnElement[bool]:
        conditions: list[sa.ColumnElement[bool]] = [responses.c.invitation_id.in_(ids)]
        if customer_id:
            conditions.append(responses.c.customer_id == customer_id)
        return sa.or_(*conditions)

    async def erase(
        self,
        customer_id: str | None,
        refs: Sequence[str],
        pseudonyms: Sequence[str],
        now: datetime,
    ) -> dict[str, int]:
        """Erase one person (remembered by pseudonyms only, so that a late invitation to
        them is dropped); rows per table."""
        if pseudonyms:
            await self.connection.execute(
                insert_ignoring_conflicts(self.connection, erased_people),
                [{"pseudonym": p, "erased_at": now} for p in pseudonyms],
            )
        ids = await self._invitations_of(customer_id, refs)
        statements = {
            "responses": responses.delete().where(self._responses_of(customer_id, ids)),
            "tokens": invitation_tokens.delete().where(invitation_tokens.c.invitation_id.in_(ids)),
            "invitations": invitations.delete().where(invitations.c.id.in_(ids)),
            "held_replies": held_replies.delete().where(held_replies.c.recipient_ref.in_(refs)),
        }
        return {
            name: rowcount(await self.connection.execute(statement))
            for name, statement in statements.items()
        }

    async def of_person(
        self, customer_id: str | None, refs: Sequence[str]
    ) -> tuple[dict[str, list[dict[str, Any]]], list[Row]]:
        """The person's invitations and named answers (as rows of JSON values), and their
        held SMS replies (sealed)."""
        ids = await self._invitations_of(customer_id, refs)
        held = (
            await self.connection.execute(
                sa.select(held_replies).where(held_replies.c.recipient_ref.in_(refs))
            )
        ).all()
        tables = {
            "invitations": table_rows(
                await self.connection.execute(
                    sa.select(invitations).where(invitations.c.id.in_(ids))
                )
            ),
            "responses": table_rows(
                await self.connection.execute(
                    sa.select(responses).where(self._responses_of(customer_id, ids))
                )
            ),
        }
        return tables, list(held)

    async def purge(
        self,
        *,
        closed_before: datetime,
        linked_before: datetime,
        held_before: datetime,
        inbound_before: datetime,
    ) -> dict[str, int]:
        """Forget invitations (and their tokens) closed before `closed_before`, the
        pseudonyms of people erased as long ago, named answers' links and comments from
        before `linked_before`, held replies and inbound ids past their time."""
        old = sa.select(invitations.c.id).where(invitations.c.expires_at < closed_before)
        statements = {
            # Tokens first: they are found through the invitations the next step deletes.
            "tokens": invitation_tokens.delete().where(invitation_tokens.c.invitation_id.in_(old)),
            "invitations": invitations.delete().where(invitations.c.expires_at < closed_before),
            "response_links": responses.update()
            .where(responses.c.answered_at < linked_before)
            .values(invitation_id=None, customer_id=None, answered_at=None, comment=""),
            "held_replies": held_replies.delete().where(held_replies.c.received_at < held_before),
            "inbound_ids": inbound_messages.delete().where(
                inbound_messages.c.received_at < inbound_before
            ),
            "erased_people": erased_people.delete().where(
                erased_people.c.erased_at < closed_before
            ),
        }
        return {
            name: rowcount(await self.connection.execute(statement))
            for name, statement in statements.items()
        }
