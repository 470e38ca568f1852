"""palaute-dispatcher: run the dispatcher, ask a running one whether it is ready, or put
invitations that were given up back in the queue."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from palaute_runtime.cli import fail, service_main

if TYPE_CHECKING:
    from palaute_dispatcher.settings import DispatcherSettings
    from palaute_runtime.service import Startable


def _settings() -> type[DispatcherSettings]:
    from palaute_dispatcher.settings import DispatcherSettings

    return DispatcherSettings


def _build(settings: DispatcherSettings) -> Startable:
    from palaute_dispatcher.bootstrap import build

    return build(settings)[0]


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date or time") from exc
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a time zone, e.g. 2026-11-23T00:00+02:00")
    return moment


def _more_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    again = commands.add_parser(
        "requeue",
        help="send again the invitations given up (failed or expired) in a time range",
        description="Put invitations that were given up back in the queue: those requested "
        "in [--since, --until). An invitation whose survey has closed, or whose survey was "
        "withdrawn, stays as it is.",
    )
    again.add_argument("--since", type=_instant, required=True, help="ISO time, with zone")
    again.add_argument("--until", type=_instant, required=True, help="ISO time, with zone")
    again.add_argument(
        "--status",
        choices=("failed", "expired", "both"),
        default="both",
        help="which given-up invitations (both)",
    )
    again.add_argument("--dry-run", action="store_true", help="count, change nothing")


def _other(args: argparse.Namespace, settings: DispatcherSettings) -> None:
    import asyncio

    from palaute_dispatcher.requeue import requeue
    from palaute_dispatcher.tables import MIGRATIONS
    from palaute_runtime.database import create_engine
    from palaute_runtime.migrations import migrate

    if args.since >= args.until:
        fail("--since must come before --until.")
    statuses = ("failed", "expired") if args.status == "both" else (args.status,)

    async def work() -> tuple[int, int]:
        engine = create_engine(settings.database_url)
        try:
            await migrate(engine, MIGRATIONS)
            return await requeue(
                engine, settings, args.since, args.until, statuses, dry_run=args.dry_run
            )
        finally:
            await engine.dispose()

    requeued, closed = asyncio.run(work())
    verb = "would requeue" if args.dry_run else "requeued"
    sys.stdout.write(
        f"{verb} {requeued} invitation(s); {closed} left as they are (survey closed)\n"
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of palaute-dispatcher."""
    service_main(
        argv,
        prog="palaute-dispatcher",
        description="The dispatcher: turns SurveyRequested into one delivered invitation.",
        run_help="consume SurveyRequested and deliver invitations",
        settings_type=_settings,
        health_address=lambda s: (s.ops_host, s.dispatcher_ops_port),
        build=_build,
        more_commands=_more_commands,
        other=_other,
    )
