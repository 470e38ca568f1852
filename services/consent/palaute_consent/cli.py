"""palaute-consent: run the consent service, or keep the opt-out register by hand."""

from __future__ import annotations

import argparse
import getpass
import io
import json
import os
import pwd
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, get_args

from palaute_consent.roles import ACCOUNT_ROLES, TOKEN_ROLES
from palaute_runtime.cli import add_health_command, check_health, fail, load_settings, serve
from palaute_schemas import OptOutSource

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from palaute_consent.register import EntryKind
    from palaute_consent.settings import ConsentSettings
    from palaute_runtime.clock import Clock
    from palaute_schemas import AuditAnchored


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="palaute-consent",
        description="The consent service: opt-out register, survey rules, channel choice.",
        epilog="Settings come from PALAUTE_* environment variables (docs/operating.md#settings).",
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
    verify = actions.add_parser(
        "verify",
        help="check the audit log's keyed hash chain, and that it still holds the head "
        "anchored on Kafka (newest rows not deleted, chain not recomputed); names the first "
        "row that fails",
    )
    verify.add_argument(
        "--without-anchors",
        action="store_true",
        help="check the chain alone, without reading the anchors from Kafka",
    )
    verify.add_argument(
        "--anchors-lost",
        action="store_true",
        help="the anchors topic was lost (say why in the incident log): check against "
        "consent's own copies of the anchors instead of failing",
    )
    people = commands.add_parser(
        "accounts", help="who may sign in to the register's page (officer or auditor)"
    )
    people_actions = people.add_subparsers(dest="action", required=True)
    add = people_actions.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ACCOUNT_ROLES)
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    password = people_actions.add_parser("password", help="set a new password (ends sessions)")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true")
    disable = people_actions.add_parser("disable", help="disable an account (ends sessions)")
    disable.add_argument("username")
    people_actions.add_parser("list", help="print the accounts as JSON lines")
    machines = commands.add_parser("tokens", help="API tokens for machines, scoped to a role")
    token_actions = machines.add_subparsers(dest="action", required=True)
    create = token_actions.add_parser("create", help="create a token and print it (only once)")
    create.add_argument("name")
    create.add_argument(
        "--role",
        required=True,
        choices=TOKEN_ROLES,
        help="officer or auditor; self_service: the organisation's own app, which may only "
        "read, set and lift one named customer's survey ban",
    )
    revoke = token_actions.add_parser("revoke", help="revoke a token")
    revoke.add_argument("name")
    token_actions.add_parser("list", help="print the tokens (names and roles) as JSON lines")
    return parser


def _password(args: argparse.Namespace) -> str:
    """The new password: one line of standard input, or asked twice at the terminal."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        fail("the two passwords differ.")
    return first


async def _people(args: argparse.Namespace, connection: AsyncConnection, now: datetime) -> None:
    """The accounts and tokens commands."""
    from palaute_consent import officers

    try:
        if args.command == "accounts":
            if args.action == "add":
                await officers.add_account(
                    connection, args.username, _password(args), args.role, now=now
                )
                sys.stdout.write(f"account {args.username} created ({args.role})\n")
            elif args.action == "password":
                if not await officers.set_password(connection, args.username, _password(args)):
                    fail(f"no account is named {args.username}.")
                sys.stdout.write(f"password of {args.username} changed; its sessions ended\n")
            elif args.action == "disable":
                if not await officers.disable_account(connection, args.username):
                    fail(f"no account is named {args.username}.")
                sys.stdout.write(f"account {args.username} disabled; its sessions ended\n")
            else:
                for row in await officers.accounts(connection):
                    sys.stdout.write(json.dumps(row) + "\n")
        elif args.action == "create":
            token = await officers.create_token(connection, args.name, args.role, now=now)
            sys.stdout.write(token + "\n")
            sys.stderr.write("keep it now: only its hash is stored\n")
        elif args.action == "revoke":
            if not await officers.revoke_token(connection, args.name, now=now):
                fail(f"no valid token is named {args.name}.")
            sys.stdout.write(f"token {args.name} revoked\n")
        else:
            for row in await officers.tokens(connection):
                sys.stdout.write(json.dumps(row) + "\n")
    except ValueError as exc:
        fail(f"{exc}.")


def _actor(settings: ConsentSettings) -> str:
    """Who runs the CLI, as the audit log records it: the operating-system account of the
    process's real user id (never $USER or $LOGNAME, which anyone can set). An account
    PALAUTE_CLI_REFUSED_ACCOUNTS lists (production: root) names nobody and is refused."""
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = f"uid{uid}"  # an account without a passwd entry (a container's)
    if name in settings.refused_cli_accounts:
        fail(
            f"the operating-system account {name} is shared and names nobody in the audit "
            "log: run this under your own account (PALAUTE_CLI_REFUSED_ACCOUNTS)."
        )
    return f"os:{name}"


def _identifier(args: argparse.Namespace, settings: ConsentSettings) -> tuple[EntryKind, str]:
    from palaute_schemas import parse_email, parse_phone

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
    settings: ConsentSettings, work: Callable[[AsyncConnection], Awaitable[None]]
) -> None:
    from palaute_consent.tables import MIGRATIONS
    from palaute_runtime.database import create_engine
    from palaute_runtime.migrations import migrate

    engine = create_engine(settings.database_url)
    try:
        await migrate(engine, MIGRATIONS)
        async with engine.begin() as connection:
            await work(connection)
    finally:
        await engine.dispose()


async def _optout(
    args: argparse.Namespace,
    settings: ConsentSettings,
    clock: Clock,
    connection: AsyncConnection,
    out: io.StringIO,
) -> None:
    """One `optout` action in the caller's transaction; what it shows goes to `out`, printed
    once the transaction (and so the audit row of a read) has committed."""
    from palaute_consent import audit
    from palaute_consent.register import OptOutRegister

    register = OptOutRegister(
        connection, settings.register_audit_key, clock, chain=settings.chain_keys
    )
    if args.action == "list":
        entries = await register.entries()
        await register.record_listing(len(entries), what="optout list", actor=_actor(settings))
        for entry in entries:
            out.write(
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
        if who[0] is not None and who[1] is not None:  # one person's trail: a read of them
            await register.record_read(who[0], who[1], what="optout audit", actor=_actor(settings))
        for row in await register.audit_trail(*who):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif args.action == "verify":
        on_kafka = [] if args.without_anchors else await _anchors(settings)
        # Anchors signed by another chain (another deployment's, a test's) count for nothing.
        anchors = [a for a in on_kafka if audit.signed_by(a, settings.chain_keys)]
        kept = await audit.kept_anchors(connection)
        if kept and not anchors and not args.without_anchors and not args.anchors_lost:
            fail(
                f"the chain was anchored {len(kept)} time(s), the last at "
                f"{kept[-1].occurred_at.isoformat()}, yet Kafka holds no anchor: the anchors "
                "topic was lost or emptied (or a newer chain replaced the database); if that "
                "is known, --anchors-lost checks against consent's own copies."
            )
        verdict = await audit.verify(
            connection, settings.chain_keys, [*anchors, *(kept if args.anchors_lost else [])]
        )
        if verdict.broken_at is not None:
            fail(
                f"the audit log does not hold at row {verdict.broken_at}: {verdict.why} "
                "(it, or a row before it, was changed, removed or inserted)."
            )
        differs = await register.differences_said()
        if differs is not None:
            fail(f"{differs}.")
        checked = (
            "not checked against anchors (--without-anchors)"
            if args.without_anchors
            else f"checked against consent's own copies of {len(kept)} anchor(s) (--anchors-lost)"
            if args.anchors_lost and not anchors
            else f"checked against the newest of {verdict.anchors_checked} anchor(s)"
            if verdict.anchors_checked
            else "no anchor found on Kafka yet (consent anchors the head every "
            f"{settings.audit_anchor_seconds:g} s)"
        )
        out.write(
            f"the audit log holds: {verdict.rows} change(s), chain intact, {checked}; "
            "the register is what its changes make of it\n"
        )
    elif args.action == "add":
        kind, value = _identifier(args, settings)
        known = await register.forbids(**{kind: value})
        # The service relays the withdrawals from the shared outbox once this commits.
        if not args.reason.strip():
            fail("a reason is required (--reason), and kept in the audit log.")
        from palaute_consent.core import Core
        from palaute_consent.opt_outs import OptOuts

        withdrawn = await OptOuts(Core(connection.engine, settings, clock)).register_opt_out(
            connection,
            kind,
            value,
            source=args.source,
            reason=args.reason,
            actor=_actor(settings),
        )
        out.write(
            ("already registered" if known else "added")
            + f": {kind}; withdrew {withdrawn} released survey(s)\n"
        )
    else:
        kind, value = _identifier(args, settings)
        if not args.reason.strip():
            fail("a reason is required (--reason), and kept in the audit log.")
        if not await register.remove(kind, value, reason=args.reason, actor=_actor(settings)):
            fail(f"no opt-out is registered for that {kind.replace('_', ' ')}.")
        out.write(f"removed: {kind}\n")


async def _anchors(settings: ConsentSettings) -> list[AuditAnchored]:
    """Every anchor of the audit chain on Kafka; one sentence and exit 1 when the broker
    cannot be read."""
    import asyncio

    from palaute_runtime.kafka_security import security_options
    from palaute_runtime.topic_reader import read_records
    from palaute_schemas import AUDIT_ANCHORED, AuditAnchored

    async def read() -> list[AuditAnchored]:
        found = []
        async for record in read_records(
            settings.kafka_bootstrap,
            [AUDIT_ANCHORED.name],
            until_end=True,
            client=security_options(settings),
        ):
            try:
                found.append(AuditAnchored.model_validate_json(record.value or b""))
            except ValueError:
                continue  # not an anchor: ignored, as a forged one is
        return found

    try:
        return await asyncio.wait_for(read(), timeout=30)
    except Exception as exc:
        fail(
            f"cannot read the audit anchors from Kafka at {settings.kafka_bootstrap} "
            f"({type(exc).__name__}); --without-anchors checks the chain alone."
        )


def main(argv: list[str] | None = None) -> None:
    """Entry point of palaute-consent."""
    args = _parser().parse_args(argv)
    import asyncio

    from palaute_consent.settings import ConsentSettings

    settings = load_settings(ConsentSettings)
    if args.command == "health":
        check_health(settings.ops_host, settings.consent_ops_port)
        return
    if args.command == "run":
        from palaute_consent.bootstrap import build

        runtime, _ = build(settings)
        serve(runtime, settings=settings)
        return

    clock = settings.clock()
    shown = io.StringIO()

    async def act(connection: AsyncConnection) -> None:
        if args.command in ("accounts", "tokens"):
            await _people(args, connection, clock.now())
        else:
            await _optout(args, settings, clock, connection, shown)

    asyncio.run(_with_register(settings, act))
    sys.stdout.write(shown.getvalue())
