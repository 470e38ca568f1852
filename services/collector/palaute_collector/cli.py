"""palaute-collector: run the collector service, or ask a running one whether it is ready."""

from __future__ import annotations

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
    )
