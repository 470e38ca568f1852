"""palaute-collector: run the collector service, ask a running one whether it is ready, or
publish every figure again after Kafka lost its topics."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from palaute_runtime.cli import service_main

if TYPE_CHECKING:
    from palaute_collector.settings import CollectorSettings
    from palaute_runtime.service import Startable


def _settings() -> type[CollectorSettings]:
    from palaute_collector.settings import CollectorSettings

    return CollectorSettings


def _build(settings: CollectorSettings) -> Startable:
    from palaute_collector.bootstrap import build

    return build(settings)[0]


def _more_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser(
        "republish",
        help="publish every figure, funnel and follow-up cell again (after Kafka lost them)",
        description="Put every figure cell, funnel cell and unit's follow-up figures, as the "
        "collector's database holds them, on the collector's outbox: the running collector "
        "publishes them onto survey.figures.v1, survey.funnel.v1 and the follow-up topic. "
        "Recreate lost topics first (palaute-create-topics). Safe to run twice: the topics "
        "are compacted by cell.",
    )


def _other(args: argparse.Namespace, settings: CollectorSettings) -> None:
    import asyncio

    from palaute_collector.core import Core
    from palaute_collector.publishing import Publishing
    from palaute_collector.tables import MIGRATIONS
    from palaute_runtime.database import create_engine
    from palaute_runtime.migrations import migrate

    async def work() -> dict[str, int]:
        engine = create_engine(settings.database_url)
        try:
            await migrate(engine, MIGRATIONS)
            return await Publishing(Core(engine, settings, settings.clock())).republish()
        finally:
            await engine.dispose()

    counts = asyncio.run(work())
    sys.stdout.write(
        f"queued {counts['figures']} figure cell(s), {counts['funnel']} funnel cell(s) and "
        f"{counts['follow_ups']} unit(s) of follow-up figures; the running collector "
        "publishes them\n"
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of palaute-collector."""
    service_main(
        argv,
        prog="palaute-collector",
        description="The collector: survey page, SMS replies, responses and figures.",
        run_help="serve the survey page and publish the figures",
        settings_type=_settings,
        health_address=lambda s: (s.ops_host, s.collector_ops_port),
        build=_build,
        more_commands=_more_commands,
        other=_other,
    )
