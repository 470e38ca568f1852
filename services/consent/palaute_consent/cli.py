"""palaute-consent: run the consent service, or keep the opt-out register by hand."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import get_args

from sqlalchemy.ext.asyncio import AsyncConnection

from palaute_consent import audit
from palaute_consent.register import EntryKind, OptOutRegister
from palaute_consent.service import ConsentService, build
from palaute_consent.settings import ConsentSettings
from palaute_consent.tables import MIGRATIONS
from palaute_runtime.cli import add_health_command, check_health, fail, load_settings, serve
from palaute_runtime.database import create_engine
from palaute_runtime.migrations import migrate
from palaute_schemas import OptOutSource, parse_email, parse_phone


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="palaute-consent",
        description="The consent service: opt-out register, survey rules, channel choice.",
        epilog="Settings come from PALAUTE_* environment variables (see the README).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="consume ContactClosed events and decide on surveys")
    add_health_command(commands)
    optout = commands.add_parser("optout", help="keep the survey opt-out register")
    actions = optout.add_subparsers(dest="action", required=True)
    for name, text in (
        ("add", "forbid surveys to a customer, phone number or email"),
        ("remove", "lift an opt-out"),
    ):
        action = actions.add_parser(name, help=text)
        who = action.add_mutually_exclusive_group(required=True)
        who.add_argument("--customer-id")
        who.add_argument(
            "--phone", help="any common format; national numbers in the default region"
        )
        who.add_argument("--email")
        action.add_argument("--reason", required=True, help="why (required; kept in the audit log)")
        if name == "add":
            action.add_argument(
                "--source", default="privacy_officer", choices=get_args(OptOutSource)
            )
    actions.add_parser("list", help="print the register as JSON lines")
    trail = actions.add_parser(
        "audit", help="print the register's audit log as JSON lines (identifiers masked)"
    )
    one = trail.add_mutually_exclusive_group()
    one.add_argument("--customer-id", help="only the changes for this customer id")
    one.add_argument("--phone", help="only the changes for this phone number")
    one.add_argument("--email", help="only the changes for this email address")
    actions.add_parser(
        "verify", help="check the audit log's hash chain; names the first row that fails"
    )
    return parser


def _actor() -> str:
    """Who runs the CLI: the operating-system user, as the audit log records it."""
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):
        fail("cannot tell which operating-system user runs this; set USER or LOGNAME.")


def _identifier(args: argparse.Namespace, settings: ConsentSettings) -> tuple[EntryKind, str]:
    try:
        if args.phone is not None:
            return "phone", parse_phone(args.phone, settings.default_region)
        if args.email is not None:
            return "email", parse_email(args.email)
    except ValueError as exc:
        fail(f"{exc}.")
    if not args.customer_id.strip():
        fail("an empty customer id is not an identifier.")
    return "customer_id", args.customer_id.strip()


async def _with_register(
    settings: ConsentSettings, work: Callable[[ConsentService, AsyncConnection], Awaitable[None]]
) -> None:
    engine = create_engine(settings.database_url)
    try:
        await migrate(engine, MIGRATIONS)
        service = ConsentService(engine, settings, settings.clock())
        async with engine.begin() as connection:
            await work(service, connection)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    """Entry point of palaute-consent."""
    args = _parser().parse_args(argv)
    settings = load_settings(ConsentSettings)
    if args.command == "health":
        check_health(settings.consent_host, settings.consent_port)
        return
    if args.command == "run":
        runtime, _ = build(settings)
        serve(runtime)
        return

    async def act(service: ConsentService, connection: AsyncConnection) -> None:
        register = OptOutRegister(connection, settings.register_audit_key)
        if args.action == "list":
            for entry in await register.entries():
                sys.stdout.write(
                    json.dumps(
                        {
                            "id": entry.id,
                            "kind": entry.kind,
                            "value": entry.value,
                            "source": entry.source,
                            "reason": entry.reason,
                            "created_at": entry.created_at.isoformat(),
                        }
                    )
                    + "\n"
                )
        elif args.action == "audit":
            who = (
                _identifier(args, settings)
                if args.customer_id is not None or args.phone or args.email
                else (None, None)
            )
            for row in await register.audit_trail(*who):
                sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        elif args.action == "verify":
            verdict = await audit.verify(connection)
            if verdict.broken_at is not None:
                fail(
                    f"the audit log does not hold at row {verdict.broken_at}: {verdict.why} "
                    "(it, or a row before it, was changed, removed or inserted)."
                )
            sys.stdout.write(f"the audit log holds: {verdict.rows} change(s), chain intact\n")
        elif args.action == "add":
            kind, value = _identifier(args, settings)
            known = await register.forbids(**{kind: value})
            # The service relays the withdrawals from the shared outbox once this commits.
            if not args.reason.strip():
                fail("a reason is required (--reason), and kept in the audit log.")
            withdrawn = await service.register_opt_out(
                connection, kind, value, source=args.source, reason=args.reason, actor=_actor()
            )
            sys.stdout.write(
                ("already registered" if known else "added")
                + f": {kind}; withdrew {withdrawn} released survey(s)\n"
            )
        else:
            kind, value = _identifier(args, settings)
            if not args.reason.strip():
                fail("a reason is required (--reason), and kept in the audit log.")
            if not await register.remove(kind, value, reason=args.reason, actor=_actor()):
                fail(f"no opt-out is registered for that {kind.replace('_', ' ')}.")
            sys.stdout.write(f"removed: {kind}\n")

    asyncio.run(_with_register(settings, act))
