"""The privacy officer's workspace as a service: sign-in and sessions, API tokens, looking an
identifier up, changing the register, the audit log, and erasure and access requests. The web
layer (officer_pages.py, officer_api.py) calls only this; the SQL is in the repositories
(register.py, plans.py, officers.py, privacy.py, audit.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from palaute_consent import audit, officers, privacy
from palaute_consent.core import Core
from palaute_consent.officers import Principal, Session
from palaute_consent.opt_outs import OptOuts
from palaute_consent.plans import Plans
from palaute_consent.register import EntryKind, OptOut
from palaute_consent.requests import PrivacyRequests
from palaute_consent.tables import throttle_misses
from palaute_runtime.keys import Keyring
from palaute_runtime.throttle import SharedThrottle

log = structlog.get_logger("palaute.consent.officer")


OVERVIEW_DAYS = 30  # the officer's overview looks this far back


@dataclass(frozen=True)
class Found:
    """What the register and the decisions say of one identifier."""

    kind: EntryKind
    identifier: str  # as normalised
    entry: dict[str, str] | None
    decisions: list[dict[str, str]]

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "identifier": self.identifier,
            "listed": self.entry is not None,
            "entry": self.entry,
            "decisions": self.decisions,
        }


class Workspace:
    """What the officer's pages and API may do, each call one transaction."""

    def __init__(self, core: Core, opt_outs: OptOuts, requests: PrivacyRequests) -> None:
        self.core = core
        self.opt_outs = opt_outs
        self.privacy_requests = requests
        settings = core.settings
        # Failed sign-ins within 15 minutes, on every replica: per account, and (more, since
        # colleagues share an office address) per client address.
        attempts = settings.officer_sign_in_attempts
        self.sign_ins, self.sign_ins_from = (
            SharedThrottle(
                core.engine,
                throttle_misses,
                scope,
                limit,
                window_seconds=15 * 60,
                key=Keyring.parse(settings.officer_session_key).current,
                clock=core.clock,
            )
            for scope, limit in (("sign_ins", attempts), ("sign_ins_from", 4 * attempts))
        )

    # ---- who is asking -------------------------------------------------------------------

    async def account(self, username: str) -> Principal | None:
        """An enabled account by name (the single sign-on proxy vouches for it)."""
        async with self.core.engine.connect() as connection:
            return await officers.account(connection, username)

    async def session(self, session_id: str) -> Session | None:
        async with self.core.engine.connect() as connection:
            return await officers.session(connection, session_id, now=self.core.clock.now())

    async def token_principal(self, token: str) -> Principal | None:
        async with self.core.engine.connect() as connection:
            return await officers.token_principal(connection, token)

    async def sign_in(
        self, username: str, password: str, lifetime: timedelta
    ) -> tuple[Principal, str] | None:
        """The principal and a new session's id, or None for a wrong name or password."""
        async with self.core.engine.begin() as connection:
            principal = await officers.sign_in(connection, username, password)
            if principal is None:
                return None
            session_id, _ = await officers.open_session(
                connection, principal, lifetime, now=self.core.clock.now()
            )
        return principal, session_id

    async def sign_out(self, session_id: str) -> None:
        async with self.core.engine.begin() as connection:
            await officers.close_session(connection, session_id)

    # ---- the register --------------------------------------------------------------------

    async def look_up(
        self,
        kind: EntryKind,
        identifier: str,
        *,
        reader: Principal | None = None,
        channel: str = "lookup",
    ) -> Found:
        """The register's entry for one identifier and, for a customer id, the decisions.
        A lookup by a `reader` is a read of personal data: audited in the same transaction,
        with the channel it came through as the source."""
        async with self.core.engine.begin() as connection:
            register = self.core.register(connection)
            listed = await register.find(kind, identifier)
            made = await Plans(connection).decisions_of(identifier) if kind == "customer_id" else []
            if reader is not None:
                await register.record_read(kind, identifier, what=channel, actor=reader.actor)
        return Found(kind, identifier, _entry(listed), made)

    async def account_for_comments(
        self, reader: Principal, described: str, *, named: int, anonymous: int, customer: bool
    ) -> None:
        """A read of comments (named answers are personal data): an audit row in the chain,
        as the officer's reads are, saying what was asked for and how much was shown."""
        async with self.core.engine.begin() as connection:
            await self.core.register(connection).record_read(
                "comments",
                described,
                what="comments",
                actor=reader.actor,
                detail=f"{described}: {named} named{' with customers' if customer else ''},"
                f" {anonymous} anonymous"[:400],
            )
        log.info("comments_read", actor=reader.actor, named=named, anonymous=anonymous)

    async def add(self, principal: Principal, kind: EntryKind, identifier: str, reason: str) -> int:
        """Add an opt-out (audited); how many released surveys were withdrawn."""
        withdrawn = await self.opt_outs.add_opt_out(
            kind, identifier, source="privacy_officer", reason=reason, actor=principal.actor
        )
        log.info("register_changed", action="add", kind=kind, actor=principal.actor)
        return withdrawn

    async def remove(
        self, principal: Principal, kind: EntryKind, identifier: str, reason: str
    ) -> bool:
        """Lift an opt-out (audited); False when there was none."""
        removed = await self.opt_outs.remove_opt_out(
            kind, identifier, reason=reason, actor=principal.actor
        )
        log.info("register_changed", action="remove", kind=kind, actor=principal.actor)
        return removed

    # ---- the customer's own ban, from the organisation's app (self-service) -------------

    async def set_ban(self, app: Principal, customer_id: str) -> int:
        """The customer bans surveys in the app (audited, source self_service); how many
        released surveys were withdrawn."""
        withdrawn = await self.opt_outs.add_opt_out(
            "customer_id",
            customer_id,
            source="self_service",
            reason=f"set by the customer in {app.actor}",
            actor=app.actor,
        )
        log.info("register_changed", action="add", kind="customer_id", actor=app.actor)
        return withdrawn

    async def lift_ban(self, app: Principal, customer_id: str) -> bool:
        """The customer lifts their ban in the app: their own choice, recorded as such."""
        removed = await self.opt_outs.remove_opt_out(
            "customer_id",
            customer_id,
            reason=f"lifted by the customer in {app.actor}: the customer's own choice",
            actor=app.actor,
            source="self_service",
        )
        log.info("register_changed", action="remove", kind="customer_id", actor=app.actor)
        return removed

    async def audit_trail(
        self, kind: EntryKind | None = None, identifier: str | None = None
    ) -> tuple[list[dict[str, str]], audit.Verdict]:
        """The register's changes (identifiers masked; one identifier's, if named) and the
        chain check."""
        async with self.core.engine.connect() as connection:
            rows = await self.core.register(connection).audit_trail(kind, identifier)
            verdict = await audit.verify(connection, self.core.settings.chain_keys)
        return rows, verdict

    async def overview(self) -> dict[str, Any]:
        """What needs the officer's attention, at a glance: entries by source, changes and
        suppressions of the last 30 days, open requests with their deadline and the
        services not answered yet, and the chain's newest scheduled check."""
        since = self.core.clock.now() - timedelta(days=OVERVIEW_DAYS)
        async with self.core.engine.connect() as connection:
            return {
                "by_source": await self.core.register(connection).by_source(),
                "changes": await audit.changes_since(connection, since),
                "suppressions": await Plans(connection).suppressions_since(since),
                "open_requests": await privacy.open_requests(connection),
                "chain": await audit.last_check(connection),
                "today": self.core.clock.now().date().isoformat(),
            }

    # ---- erasure and access --------------------------------------------------------------

    async def file(
        self,
        principal: Principal,
        kind: privacy.RequestKind,
        person: privacy.Person,
        reason: str,
    ) -> uuid.UUID:
        return await self.privacy_requests.file_privacy_request(
            kind, person, reason=reason, actor=principal.actor
        )

    async def requests(self) -> list[dict[str, Any]]:
        async with self.core.engine.connect() as connection:
            return await privacy.requests(connection)

    async def request(self, request_id: uuid.UUID) -> dict[str, Any] | None:
        async with self.core.engine.connect() as connection:
            return await privacy.request(connection, request_id)

    async def access_document(
        self, principal: Principal, request_id: uuid.UUID
    ) -> dict[str, Any] | None:
        """An access request's document: a read of personal data, audited with its reader."""
        async with self.core.engine.begin() as connection:
            document = await privacy.access_document(connection, request_id)
            if document is not None:
                await self.core.register(connection).record_read(
                    "request", str(request_id), what="access document", actor=principal.actor
                )
        if document is not None:
            log.info("access_document_downloaded", actor=principal.actor)
        return document


def _entry(listed: OptOut | None) -> dict[str, str] | None:
    """A register entry as the workspace shows it: who set it, why, since when."""
    if listed is None:
        return None
    return {
        "source": listed.source,
        "reason": listed.reason,
        "since": listed.created_at.isoformat(timespec="seconds"),
    }
