"""The suppression list of email addresses the mail system bounced.

The dispatcher reads the DSNs and says which contact's email bounced, hard or soft
(EmailBounced: no address). Consent finds the address in the survey it released and keeps
a keyed hash of it (the register's identifier key; rotated keys still match): a hard bounce
suppresses the address for PALAUTE_BOUNCE_SUPPRESSION_DAYS, and so do
PALAUTE_SOFT_BOUNCES_TO_SUPPRESS soft bounces in a row (none more than that period after
the one before). A contact whose only channel is such an address is suppressed with the
reason `undeliverable_address`; one with a mobile number gets its SMS. An erasure removes
the person's entry; an expired entry is forgotten by the purge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_consent.core import Core
from palaute_consent.tables import bounced_addresses, inbox, released
from palaute_runtime.database import as_utc, rowcount, upsert
from palaute_runtime.keys import Keyring
from palaute_runtime.outbox import Inbox
from palaute_runtime.privacy import table_rows
from palaute_runtime.unit_of_work import uow
from palaute_schemas import EmailBounced

log = structlog.get_logger("palaute.consent.bounces")


class BouncedAddresses:
    """The suppression list inside the caller's transaction."""

    def __init__(self, connection: AsyncConnection, identifier_keys: Keyring) -> None:
        self.connection = connection
        self.keys = identifier_keys

    def _forms(self, email: str) -> list[str]:
        """The address's keyed hash under every listed key, current first."""
        return self.keys.hmacs(f"email:{email}")

    async def suppressed(self, emails: Iterable[str | None], now: datetime) -> set[str]:
        """Which of these addresses may not be mailed now: one query."""
        by_form = {form: email for email in set(emails) if email for form in self._forms(email)}
        if not by_form:
            return set()
        found = await self.connection.scalars(
            sa.select(bounced_addresses.c.address_hash).where(
                bounced_addresses.c.address_hash.in_(by_form),
                bounced_addresses.c.suppressed_until > now,
            )
        )
        return {by_form[form] for form in found}

    async def record(
        self,
        email: str,
        bounce: EmailBounced,
        *,
        suppress_for: timedelta,
        soft_to_suppress: int,
    ) -> bool:
        """Count one bounce of this address; returns whether it is suppressed now."""
        forms = self._forms(email)
        now = as_utc(bounce.bounced_at)
        row = (
            await self.connection.execute(
                sa.select(bounced_addresses).where(bounced_addresses.c.address_hash.in_(forms))
            )
        ).first()
        soft_in_row = 0
        if bounce.kind == "soft":
            recent = row is not None and now - as_utc(row.last_bounced_at) <= suppress_for
            soft_in_row = (row.soft_in_row if recent and row is not None else 0) + 1
        suppress = bounce.kind == "hard" or soft_in_row >= soft_to_suppress
        kept_until = row.suppressed_until if row is not None else None
        values: dict[str, Any] = {
            "address_hash": forms[0],
            "hard": bounce.kind == "hard",
            "soft_in_row": soft_in_row,
            "status": bounce.status,
            "reason": bounce.reason[:200],
            "last_bounced_at": now,
            "suppressed_until": now + suppress_for if suppress else kept_until,
        }
        if row is not None and row.address_hash != forms[0]:  # kept under an older key
            await self.connection.execute(
                bounced_addresses.delete().where(bounced_addresses.c.address_hash.in_(forms[1:]))
            )
        # An upsert: two replicas recording a bounce of one address at once never collide
        # (the later one's count wins; a soft bounce may count one short, never fail).
        changes = {name: value for name, value in values.items() if name != "address_hash"}
        await self.connection.execute(
            upsert(self.connection, bounced_addresses)
            .values(**values)
            .on_conflict_do_update(index_elements=["address_hash"], set_=changes)
        )
        return suppress or (kept_until is not None and as_utc(kept_until) > now)

    def _any_of(self, emails: Iterable[str]) -> sa.ColumnElement[bool]:
        forms = [form for email in set(emails) for form in self._forms(email)]
        return bounced_addresses.c.address_hash.in_(forms)

    async def held(self, emails: Iterable[str]) -> list[dict[str, Any]]:
        """The person's entries (by any of their addresses), for an access request."""
        return table_rows(
            await self.connection.execute(sa.select(bounced_addresses).where(self._any_of(emails)))
        )

    async def erase(self, emails: Iterable[str]) -> int:
        """Forget the person's entries (an erasure); returns how many rows went."""
        result = await self.connection.execute(
            bounced_addresses.delete().where(self._any_of(emails))
        )
        return rowcount(result)

    async def purge(self, now: datetime, keep: timedelta) -> int:
        """Forget entries no longer suppressing and too old to count towards a row."""
        suppressing = sa.and_(
            bounced_addresses.c.suppressed_until.is_not(None),
            bounced_addresses.c.suppressed_until > now,
        )
        result = await self.connection.execute(
            bounced_addresses.delete().where(
                sa.not_(suppressing), bounced_addresses.c.last_bounced_at < now - keep
            )
        )
        return rowcount(result)


class Bounces:
    """Consumes EmailBounced."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._inbox = Inbox(inbox, "consent.email-bounced", core.clock)

    def addresses(self, connection: AsyncConnection) -> BouncedAddresses:
        """The suppression list in the caller's transaction."""
        return BouncedAddresses(connection, Keyring.parse(self.core.settings.register_audit_key))

    async def handle_bounces(self, bounces: Sequence[EmailBounced]) -> None:
        """Put each bounced address on the list (by the survey released to its contact)."""
        settings = self.core.settings
        suppressed = unknown = 0
        async with uow(self.core.engine, self.core.outbox, self._inbox, bounces) as work:
            connection = work.connection
            contacts = {b.contact_id for b in work.fresh}
            emails = dict(
                (
                    await connection.execute(
                        sa.select(released.c.contact_id, released.c.email).where(
                            released.c.contact_id.in_(contacts), released.c.email.is_not(None)
                        )
                    )
                ).all()
            )
            listed = self.addresses(connection)
            for bounce in work.fresh:
                email = emails.get(bounce.contact_id)
                if email is None:  # forgotten, erased, or never ours
                    unknown += 1
                    continue
                suppressed += await listed.record(
                    email,
                    bounce,
                    suppress_for=timedelta(days=settings.bounce_suppression_days),
                    soft_to_suppress=settings.soft_bounces_to_suppress,
                )
        if bounces:
            log.info(
                "email_bounces_recorded",
                bounces=len(bounces),
                suppressing=suppressed,
                contact_unknown=unknown,
            )
