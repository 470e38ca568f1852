"""palaute-collector: run the collector service, or ask a running one whether it is ready."""

from __future__ import annotations

from palaute_collector.service import build
from palaute_collector.settings import CollectorSettings
from palaute_runtime.cli import service_main


def main(argv: list[str] | None = None) -> None:
    """Entry point of palaute-collector."""
    service_main(
        argv,
        prog="palaute-collector",
        description="The collector: survey page, SMS replies, responses and figures.",
        run_help="serve the survey page and publish the figures",
        settings_type=CollectorSettings,
        address=lambda s: (s.collector_host, s.collector_port),
        build=lambda s: build(s)[0],
    )
